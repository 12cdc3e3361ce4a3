# ruff: noqa: E501 - one CSS rule a line reads best, however long
"""The report's stylesheet: inline, no web fonts, light and dark (``prefers-color-scheme``)."""

CSS = """
:root {
  color-scheme: light dark;
  --bg: #ffffff; --fg: #1d2330; --muted: #5d6778; --line: #d9dee7; --panel: #f6f8fb;
  --stripe: #f3f5f9; --edge: #8b95a7;
  --success: #2e9d5b; --failed: #d64545; --retrying: #f08c8c; --skipped: #9aa3b2;
  --cancelled: #e3962b; --running: #3d7fd9; --pending: #c6ccd6; --cached: #2aa3a3;
  --on-status: #ffffff;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #14171d; --fg: #e3e7ee; --muted: #9aa4b5; --line: #2d333e; --panel: #1b1f27;
    --stripe: #181c23; --edge: #6f7a8c;
    --success: #3fb872; --failed: #f06262; --retrying: #9e4b4b; --skipped: #6c7482;
    --cancelled: #e7a344; --running: #5b9bf0; --pending: #3a414d; --cached: #38b9b9;
    --on-status: #0f1115;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 20px 24px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 28px 0 8px; }
code, pre, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.run + .run { border-top: 3px solid var(--line); margin-top: 40px; padding-top: 8px; }
.meta { color: var(--muted); margin: 0 0 12px; }
.badge { display: inline-block; padding: 1px 10px; border-radius: 999px; font-size: 13px;
  font-weight: 600; color: var(--on-status); background: var(--pending); vertical-align: 3px; }
.badge.s-success { background: var(--success); } .badge.s-failed { background: var(--failed); }
.badge.s-cancelled { background: var(--cancelled); } .badge.s-unfinished { background: var(--running); }
.totals { display: flex; flex-wrap: wrap; gap: 10px; margin: 12px 0; padding: 0; list-style: none; }
.totals li { background: var(--panel); border: 1px solid var(--line); border-radius: 8px;
  padding: 6px 14px; min-width: 104px; }
.totals b { display: block; font-size: 20px; }
.totals .k { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.warn { border-left: 4px solid var(--cancelled); background: var(--panel); padding: 8px 12px; margin: 8px 0; }
.scroll.center { text-align: center; }
.scroll { overflow: auto; max-height: 72vh; border: 1px solid var(--line); border-radius: 8px;
  background: var(--bg); }
.legend { display: flex; flex-wrap: wrap; gap: 14px; color: var(--muted); font-size: 12px; margin: 6px 0; }
.legend i { display: inline-block; width: 12px; height: 12px; border-radius: 3px; margin-right: 5px;
  vertical-align: -2px; background: var(--pending); }
.legend .dash { height: 0; border-top: 2px dashed var(--muted); border-radius: 0; background: none; }
svg text { fill: var(--fg); font-size: 12px; }
svg .node rect { fill: var(--pending); stroke: var(--line); stroke-width: 1; }
svg .node text { text-anchor: middle; fill: var(--on-status); font-weight: 600; }
svg .node.s-pending text, svg .node.s-skipped text { fill: var(--fg); }
svg .node.s-success rect, i.s-success { fill: var(--success); background: var(--success); }
svg .node.s-failed rect, i.s-failed { fill: var(--failed); background: var(--failed); }
svg .node.s-skipped rect, i.s-skipped { fill: var(--skipped); background: var(--skipped); }
svg .node.s-cancelled rect, i.s-cancelled { fill: var(--cancelled); background: var(--cancelled); }
svg .node.s-running rect, i.s-running { fill: var(--running); background: var(--running); }
i.s-retrying { background: var(--retrying); } i.s-cached { background: var(--cached); }
svg .node.cached.s-success rect { fill: var(--cached); }
svg .node.s-failed rect { stroke: var(--fg); stroke-width: 2; }
svg .edges path { fill: none; stroke: var(--edge); stroke-width: 1.3; }
svg .arrowhead { fill: var(--edge); }
svg .band { fill: var(--muted); font-style: italic; }
svg .stripe { fill: transparent; } svg .row:nth-child(odd) .stripe { fill: var(--stripe); }
svg .row:hover .stripe { fill: var(--line); }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .tick { fill: var(--muted); font-size: 11px; text-anchor: middle; }
svg .name { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
svg .note { fill: var(--muted); font-size: 11.5px; }
svg .bar.a-success { fill: var(--success); } svg .bar.a-failed { fill: var(--failed); }
svg .bar.a-retrying { fill: var(--retrying); } svg .bar.a-cancelled { fill: var(--cancelled); }
svg .bar.a-running { fill: var(--running); opacity: .55; }
svg .delay { stroke: var(--muted); stroke-width: 1.5; stroke-dasharray: 3 3; }
svg .marker { font-size: 14px; text-anchor: middle; }
svg .m-cached { fill: var(--cached); } svg .m-skipped { fill: var(--skipped); }
svg .m-cancelled { fill: var(--cancelled); } svg .m-failed { fill: var(--failed); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { position: sticky; top: 0; background: var(--panel); font-size: 12px; color: var(--muted);
  text-transform: uppercase; letter-spacing: .04em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.s-failed td:first-child { box-shadow: inset 4px 0 var(--failed); }
.status { font-weight: 600; white-space: nowrap; }
.status::before { content: ""; display: inline-block; width: 9px; height: 9px; border-radius: 50%;
  margin-right: 6px; background: var(--pending); }
.status.s-success::before { background: var(--success); } .status.s-failed::before { background: var(--failed); }
.status.s-skipped::before { background: var(--skipped); } .status.s-cancelled::before { background: var(--cancelled); }
.status.s-running::before { background: var(--running); }
.error { color: var(--failed); font-weight: 600; overflow-wrap: anywhere; }
.detail { color: var(--muted); overflow-wrap: anywhere; }
details { margin-top: 4px; } summary { cursor: pointer; color: var(--muted); }
pre { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px;
  overflow: auto; max-height: 340px; font-size: 12px; margin: 6px 0; white-space: pre; }
footer { color: var(--muted); font-size: 12px; margin-top: 36px; }
"""

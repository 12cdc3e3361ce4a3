"""``flowkit graph``: the DAG as Mermaid or DOT text, or an SVG/PNG image by Graphviz."""

from __future__ import annotations

from pathlib import Path

import click

from flowkit._render import IMAGE_FORMATS, render_image
from flowkit.cli._output import echo, write_output
from flowkit.cli._target import load_target


@click.command()
@click.argument("target")
@click.option("--format", "fmt", type=click.Choice(("mermaid", "dot", *IMAGE_FORMATS)),
              default="mermaid", show_default=True, help="Mermaid or Graphviz DOT text, or an "
              "SVG/PNG image (images need Graphviz's `dot` on PATH).")  # fmt: skip
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of stdout.")  # fmt: skip
def graph(target: str, fmt: str, output: Path | None) -> None:
    """Print (or write) the DAG: text, or an image drawn by Graphviz."""
    pipeline = load_target(target)
    text = pipeline.to_mermaid() if fmt == "mermaid" else pipeline.to_dot()
    drawing = render_image(text, fmt) if fmt in IMAGE_FORMATS else text
    if output is None:
        echo(drawing, nl=False)
    else:
        write_output(output, drawing, "--output")

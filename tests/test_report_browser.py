"""The HTML run report opened in a real headless Chromium (Debian's ``chromium``, driven by
playwright): nothing leaves the page, no console error, every stage is visible in the DAG
and the timeline, the failed stage shows its error, a 1,000-stage report scrolls; and a
screenshot is kept under a temporary directory (printed, for CI to keep as an artifact)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pipelines import flowkit
from test_report import wide_log

if os.environ.get("FLOWKIT_REQUIRE_TOOLS") == "1":  # CI: this test must run, not skip
    import playwright.sync_api as playwright_api
else:
    playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("no Chromium: apt-get install -y chromium (.ci/run does)")
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


class Visit:
    """One page load of ``path``, recording every request and console message."""

    def __init__(self, browser: Any, path: Path, scheme: str = "light") -> None:
        self.requests: list[str] = []
        self.console: list[str] = []
        self.page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))

        def record(route: Any) -> None:
            self.requests.append(route.request.url)
            if route.request.url == path.resolve().as_uri():
                route.continue_()
            else:
                route.abort()

        self.page.route("**/*", record)
        self.page.goto(path.resolve().as_uri())

    def visible(self, selector: str) -> list[str]:
        """The ``data-stage`` names of the elements under ``selector`` that are visible."""
        found = self.page.locator(f"{selector} [data-stage]")
        return [
            str(found.nth(i).get_attribute("data-stage"))
            for i in range(found.count())
            if found.nth(i).is_visible()
        ]


@pytest.fixture(scope="module")
def nightly_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("nightly")
    log, report = folder / "nightly.jsonl", folder / "nightly.html"
    ran = flowkit("run", ROOT / "examples" / "nightly.py:pipeline", "-i", "strict=true",
                  "--log-file", log)  # fmt: skip
    assert ran.returncode == 1, ran.stderr
    done = flowkit("inspect", log, "--html", report)
    assert done.returncode == 0, done.stderr
    return report


STAGES = ["days", "sales", "totals", "alert", "charts", "bar_chart", "line_chart", "summary",
          "publish", "archive"]  # fmt: skip


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_report_in_chromium(
    browser: Any, nightly_report: Path, scheme: str, capsys: pytest.CaptureFixture[str]
) -> None:
    visit = Visit(browser, nightly_report, scheme)

    assert visit.requests == [nightly_report.resolve().as_uri()]  # nothing else was asked for
    assert visit.console == []
    assert sorted(visit.visible("svg.dag")) == sorted(STAGES)
    assert sorted(visit.visible("svg.timeline")) == sorted(STAGES)
    failed = visit.page.locator('table.stages tr[data-stage="publish"]')
    assert failed.locator(".error").inner_text() == (
        "PermissionError: mail server refused the report: sender not allowed"
    )
    assert failed.locator(".error").is_visible()
    node = visit.page.locator('svg.dag [data-stage="publish"] rect')
    colour = node.evaluate("element => getComputedStyle(element).fill")
    pending = visit.page.locator('svg.dag [data-stage="days"] rect')
    assert colour != pending.evaluate("element => getComputedStyle(element).fill")
    background = visit.page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == ("rgb(255, 255, 255)" if scheme == "light" else "rgb(20, 23, 29)")
    shots = Path(tempfile.mkdtemp(prefix="flowkit-report-"))
    shot = shots / f"nightly-{scheme}.png"
    visit.page.screenshot(path=str(shot), full_page=True)
    with capsys.disabled():  # shown even when pytest captures output: CI keeps the file
        print(f"\nscreenshot of the HTML run report (CI artifact): {shot}")
    assert shot.stat().st_size > 10_000
    visit.page.close()


def test_a_1000_stage_report_loads_fast_and_scrolls(browser: Any, tmp_path: Path) -> None:
    log, report = tmp_path / "wide.jsonl", tmp_path / "wide.html"
    log.write_text("".join(line + "\n" for line in wide_log(1000)))
    assert flowkit("inspect", log, "--html", report).returncode == 0

    start = time.perf_counter()
    visit = Visit(browser, report)
    loaded = time.perf_counter() - start
    timeline = visit.page.locator("svg.timeline").locator("xpath=..")
    timeline.evaluate("box => box.scrollTo(0, box.scrollHeight)")
    last = visit.page.locator('svg.timeline [data-stage="s0999"]')

    print(f"\n1,000-stage report: {report.stat().st_size / 1e6:.2f} MB, loaded in {loaded:.2f} s")
    assert visit.console == []
    assert loaded < 10  # a frozen page would time out; measured here: well under a second
    assert timeline.evaluate("box => box.scrollHeight > box.clientHeight")  # it scrolls
    assert last.is_visible()
    assert visit.page.locator("svg.dag [data-stage]").count() == 1000
    visit.page.close()

"""Fixtures of the browser tests: Chromium, the JupyterLab and Voila servers, pages that leave a
screenshot and their console log behind when a test fails, and the latency report.

Without Chromium (or the playwright package) every test here is skipped with a reason that says to
run ``make test-browser``; with ``COURSE_BROWSER_REQUIRED=1`` (set by ``.ci/run`` in CI) they fail
instead, so CI can never pass by skipping them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pytest
from harness import (
    Server,
    demo_args,
    lab_args,
    launch_chromium,
    missing_browser_reason,
    open_notebook,
    run_all_cells,
    server_env,
    summarize,
)

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
REPORTS = ROOT / "build" / "test-reports" / "browser"
LATENCY = pytest.StashKey[list]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[LATENCY] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    rows = config.stash.get(LATENCY, [])
    if not rows:
        return
    terminalreporter.section("slider -> image latency in Chromium (ms)")
    for row in rows:
        terminalreporter.write_line(
            f"{row['page']:10s} {row['where']:14s} {row['widget']:26s} {row['how']:8s} n={row['n']:3d}  "
            f"median {row['median_ms']:6.1f}  p95 {row['p95_ms']:6.1f}  max {row['max_ms']:6.1f}  "
            f"(image changed in {row['image_changed']}/{row['n']})"
        )
    terminalreporter.write_line(f"written to {REPORTS / 'latency.json'}; screenshots in {REPORTS / 'screenshots'}")


# ------------------------------------------------------------------------------------------------
# Browser and servers
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="course-browser-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def reports() -> Path:
    (REPORTS / "screenshots").mkdir(parents=True, exist_ok=True)
    return REPORTS


@pytest.fixture(scope="session")
def browser(workdir: Path) -> Iterator:
    """Debian's Chromium, headless, with a fresh profile (a Playwright BrowserContext)."""
    reason = missing_browser_reason()
    if reason:
        if os.environ.get("COURSE_BROWSER_REQUIRED"):
            pytest.fail(f"the browser tests are required here but cannot run: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = launch_chromium(playwright, workdir / "chromium-profile")
        context.set_default_timeout(60_000)
        yield context
        context.close()


@pytest.fixture(scope="session")
def lab(browser, workdir: Path) -> Iterator[Server]:
    """JupyterLab on 127.0.0.1 over copies of the solution notebooks (JupyterLab may autosave them)."""
    root = workdir / "lab-root"
    root.mkdir()
    for notebook in sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")):
        shutil.copy(notebook, root / notebook.name)
    server = Server(
        lab_args() + [f"--ServerApp.root_dir={root}"], workdir / "jupyterlab.log", server_env(workdir), cwd=root
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def voila(browser, workdir: Path) -> Iterator[Server]:
    """``make demo``'s Voila server on the lecture dashboard (fast mode: tiny models)."""
    server = Server(demo_args(), workdir / "voila.log", server_env(workdir), cwd=ROOT)
    yield server
    server.stop()


# ------------------------------------------------------------------------------------------------
# Pages
# ------------------------------------------------------------------------------------------------
def new_page(context):
    """A page whose console messages and uncaught errors are kept in ``page.console_log``."""
    page = context.new_page()
    page.console_log = []
    page.on("console", lambda m: page.console_log.append(f"[{m.type}] {m.text}"))
    page.on("pageerror", lambda e: page.console_log.append(f"[pageerror] {e}"))
    return page


@pytest.fixture
def watch(request: pytest.FixtureRequest, reports: Path) -> Iterator:
    """``watch(page)``: if the test fails, save the page's screenshot, console log and HTML."""
    pages: list = []
    yield pages.append
    report = getattr(request.node, "report_call", None)
    if report is None or not report.failed:
        return
    folder = reports / "failures" / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    for i, page in enumerate(pages):
        try:
            page.screenshot(path=str(folder / f"screenshot-{i}.png"), full_page=True)
            (folder / f"page-{i}.html").write_text(page.content(), encoding="utf-8")
        except Exception as err:  # noqa: BLE001 - a crashed page still leaves its console log
            (folder / f"screenshot-{i}.error.txt").write_text(str(err), encoding="utf-8")
        (folder / f"console-{i}.log").write_text("\n".join(page.console_log) + "\n", encoding="utf-8")
    report.sections.append(("browser artifacts", f"screenshots, console logs and HTML in {folder}"))


class LabLessons:
    """Each solution notebook opened in JupyterLab and run once (Run > Run All Cells), then kept open."""

    def __init__(self, context, server: Server) -> None:
        self.context, self.server, self.pages = context, server, {}

    def open(self, lesson: str, watch, timeout_ms: float = 900_000):
        if lesson not in self.pages:
            page = new_page(self.context)
            watch(page)
            open_notebook(page, self.server, f"{lesson}.ipynb")
            page.ran = run_all_cells(page, timeout_ms)
            self.pages[lesson] = page
        else:
            watch(self.pages[lesson])
        return self.pages[lesson]


@pytest.fixture(scope="session")
def lab_lessons(browser, lab: Server) -> LabLessons:
    return LabLessons(browser, lab)


@pytest.fixture(scope="session")
def dashboard(browser, voila: Server):
    """The Voila dashboard, loaded once (Voila runs the dashboard notebook in a new kernel)."""
    page = new_page(browser)
    page.goto(voila.page_url("/"), timeout=300_000)
    return page


@pytest.fixture
def latency(request: pytest.FixtureRequest, reports: Path):
    """``latency(page, where, widget, moves)``: add a widget's moves to the report (latency.json)."""
    rows = request.config.stash[LATENCY]

    def add(page: str, where: str, widget: str, moves: list) -> None:
        for how in ("keyboard", "drag"):
            chosen = [m for m in moves if m.how == how]
            if chosen:
                rows.append(
                    {
                        "page": page,
                        "where": where,
                        "widget": widget,
                        "how": how,
                        **summarize([m.latency_ms for m in chosen]),
                        "image_changed": sum(m.image_changed for m in chosen),
                        "latencies_ms": [round(m.latency_ms, 1) for m in chosen],
                    }
                )
        (reports / "latency.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")

    return add

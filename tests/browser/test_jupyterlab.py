"""Every solution notebook, run top to bottom in JupyterLab in Chromium, as a student runs it; and
every course widget the notebooks display, moved by keyboard and by drag, with its latency measured.

New lessons (``solutions/NN_topic.py``) and new widgets in them are picked up without edits.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import exercise_widget, page_problems, widget_kinds_in

from course_tools.build import lesson_sources

ROOT = Path(__file__).resolve().parents[2]
LESSONS = {path.stem: path.read_text(encoding="utf-8") for path in lesson_sources(ROOT)}


def _widgets() -> list[tuple[str, str, int]]:
    found = []
    for lesson, source in LESSONS.items():
        kinds = widget_kinds_in(source)
        found += [(lesson, kind, kinds[:i].count(kind)) for i, kind in enumerate(kinds)]
    return found


@pytest.mark.parametrize("lesson", list(LESSONS))
def test_notebook_runs_clean_in_jupyterlab(lab_lessons, lesson, watch):
    page = lab_lessons.open(lesson, watch)
    ran, total = page.ran
    problems = page_problems(page)
    assert not problems, f"{lesson} in JupyterLab:\n\n" + "\n\n".join(problems)
    assert ran == total, f"only {ran} of {total} code cells ran: Run All stopped early"
    expected = widget_kinds_in(LESSONS[lesson])
    shown = page.locator(".course-widget").count()
    assert shown == len(expected), f"the notebook displays {len(expected)} course widgets, the page shows {shown}"


@pytest.mark.parametrize("lesson, kind, nth", _widgets(), ids=lambda v: str(v))
def test_widget_follows_its_slider_in_jupyterlab(lab_lessons, lesson, kind, nth, watch, latency, reports):
    page = lab_lessons.open(lesson, watch)
    ran, total = page.ran
    assert ran == total, f"{lesson} stopped after {ran} of {total} code cells in JupyterLab: see its run test"
    root = page.locator(f".course-widget-{kind}").nth(nth)
    moves = exercise_widget(page, root, reports / "screenshots" / f"jupyterlab-{lesson}-{kind}-{nth}.png")
    latency("JupyterLab", lesson, f"{kind} #{nth}", moves)

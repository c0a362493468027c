"""The lecture dashboard (``make demo``) served by Voila: it renders its widgets without errors,
and each one follows its slider, by keyboard and by drag, with its latency measured."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import exercise_widget, page_problems, widget_kinds_in

ROOT = Path(__file__).resolve().parents[2]
KINDS = widget_kinds_in((ROOT / "dashboard" / "lecture.py").read_text(encoding="utf-8"))


def test_dashboard_shows_its_widgets_without_errors(dashboard, watch, reports):
    watch(dashboard)
    widgets = dashboard.locator(".course-widget")
    widgets.nth(len(KINDS) - 1).wait_for(timeout=300_000)  # the kernel loads the models and draws the frames
    dashboard.locator("img.course-widget-image").nth(len(KINDS) - 1).wait_for()
    problems = page_problems(dashboard)
    assert not problems, "the dashboard:\n\n" + "\n\n".join(problems)
    shown = [
        c.split("course-widget-")[1].split()[0]
        for c in (widgets.nth(i).get_attribute("class") for i in range(widgets.count()))
    ]
    assert shown == KINDS, f"the dashboard should show {KINDS}, it shows {shown}"
    viewport = dashboard.viewport_size  # Voila scrolls inside the page: show it all at once for the record
    dashboard.set_viewport_size({"width": viewport["width"], "height": 3200})
    dashboard.screenshot(path=str(reports / "screenshots" / "dashboard.png"))
    dashboard.set_viewport_size(viewport)


@pytest.mark.parametrize("kind, nth", [(k, KINDS[:i].count(k)) for i, k in enumerate(KINDS)], ids=lambda v: str(v))
def test_dashboard_widget_follows_its_slider(dashboard, kind, nth, watch, latency, reports):
    watch(dashboard)
    root = dashboard.locator(f".course-widget-{kind}").nth(nth)
    root.wait_for(timeout=300_000)
    moves = exercise_widget(dashboard, root, reports / "screenshots" / f"voila-{kind}-{nth}.png")
    latency("Voila", "dashboard", f"{kind} #{nth}", moves)

"""The browser tests' own arithmetic and discovery (no browser needed)."""

from harness import summarize, widget_kinds_in


def test_summary_uses_the_median_and_the_nearest_rank_95th_percentile():
    assert summarize([float(v) for v in range(1, 21)]) == {"n": 20, "median_ms": 10.5, "p95_ms": 19.0, "max_ms": 20.0}
    assert summarize([7.0]) == {"n": 1, "median_ms": 7.0, "p95_ms": 7.0, "max_ms": 7.0}


def test_widgets_are_found_by_their_view_classes_in_a_lesson_source():
    source = (
        "p = widgets.LatentPerturbation(decode, codes)\n"
        "widgets.Interpolation(decode, codes)\nwidgets.Snapshot(1, x)\nwidgets.ModeCollapseExplorer(s, d, e)\n"
    )
    assert widget_kinds_in(source) == ["latent-perturbation", "interpolation", "mode-collapse-explorer"]

"""A lesson's measured numbers: in its prose (:func:`say`), and collected by ``make run`` / ``make bench``.

A sentence that quotes a measured number is written in a code cell and shown with :func:`say`, so
the number is the one this run measured, on this machine and seed, and the text can never disagree
with the figure beside it. The last cell of each lesson calls :func:`record`. In a notebook it
prints a small table; when ``COURSE_RESULTS_DIR`` is set (the runner sets it) it also writes
``<lesson>.json`` there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping

from .device import fast_mode, get_device

__all__ = ["record", "say"]


def say(text: str) -> None:
    """Show a paragraph of the lesson whose numbers come from this run: Markdown in a notebook, text elsewhere.

    >>> say(f"The baseline captures **{coverage.modes_captured} of {coverage.n_modes}** modes.")
    """
    text = "\n".join(line.strip() for line in text.strip().splitlines())
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover - IPython ships with the course
        print(text)
        return
    if get_ipython() is None:
        print(text)
    else:
        display(Markdown(text))


def record(lesson: str, metrics: Mapping[str, float], summary: str) -> dict:
    """Print ``summary`` and ``metrics``; save them for the runner. Returns what was saved."""
    entry = {
        "lesson": lesson,
        "summary": summary,
        "metrics": {k: float(v) for k, v in metrics.items()},
        "fast_mode": fast_mode(),
        "device": str(get_device()),
    }
    width = max(map(len, entry["metrics"]), default=0)
    print(f"{lesson}: {summary}")
    for key, value in entry["metrics"].items():
        print(f"  {key:<{width}}  {value:.4g}")
    folder = os.environ.get("COURSE_RESULTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / f"{lesson}.json").write_text(json.dumps(entry, indent=1))
    return entry

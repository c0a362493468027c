"""A lesson's headline numbers, shown in the notebook and collected by ``make run`` / ``make bench``.

The last cell of each lesson calls :func:`record`. In a notebook it prints a small table; when
``COURSE_RESULTS_DIR`` is set (the runner sets it) it also writes ``<lesson>.json`` there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping

from .device import fast_mode, get_device

__all__ = ["record"]


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

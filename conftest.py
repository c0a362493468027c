"""The test session's environment, and the solution notebooks as tests (``make test``).

Set before any kernel starts, so that every executed notebook inherits it: fast mode, data and
checkpoints in temporary folders, results recorded to a folder of the session.

``pytest --nbval-lax solutions`` runs each solution notebook top to bottom in one kernel (nbval): a
cell that raises fails, and a cell tagged ``nbval-check-output`` (every check cell, with its
"all N tests pass" verdict) must print what the solution notebook stores. After a notebook's last
cell one more test, :class:`LessonRecord`, reads what that single execution left: the results the
lesson recorded, its figures, and no warning on stderr.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

_SESSION_TMP = Path(tempfile.mkdtemp(prefix="course-tests-"))
RESULTS = _SESSION_TMP / "results"
os.environ["COURSE_FAST"] = "1"
os.environ["COURSE_CHECKPOINT_DIR"] = str(_SESSION_TMP / "checkpoints")
os.environ["COURSE_DATA_DIR"] = str(_SESSION_TMP / "data")
os.environ["COURSE_RESULTS_DIR"] = str(RESULTS)
os.environ["MPLBACKEND"] = "Agg"
for var in ("COURSE_DEVICE", "COURSE_SEED", "COURSE_MIRRORS_MNIST", "COURSE_MIRRORS_FASHION_MNIST"):
    os.environ.pop(var, None)

# The metric names the bench promises for the demonstrations (every GAN-family lesson shows what it
# teaches, on three seeds): each lesson records at least these, in fast mode as in the lecture.
REQUIRED_METRICS = {
    "04_gan": [
        "ring_gan_modes",
        "ring_gan_hq",
        "grid_gan_modes",
        "grid_gan_hq",
        "ring_remedy_modes",
        "ring_remedy_hq",
        "grid_remedy_modes",
        "grid_remedy_hq",
    ],
    "05_wgan": [
        "ring_wgan_gp_modes",
        "ring_wgan_gp_hq",
        "grid_wgan_gp_modes",
        "grid_wgan_gp_hq",
        "ring_wgan_clip_modes",
        "grid_wgan_clip_modes",
    ],
    "06_cyclegan": ["acc_x_to_y", "acc_y_to_x", "acc_x_to_y_untranslated", "acc_y_to_x_untranslated"],
}
MIN_FIGURES = 5


class LessonRecord(pytest.Item):
    """What one nbval execution of a solution notebook left behind, checked after its last cell."""

    def runtest(self) -> None:
        lesson = Path(str(self.parent.path)).stem
        cells = [item for item in self.session.items if item.parent is self.parent and item is not self]
        outputs = [o for cell in cells for o in (getattr(cell, "test_outputs", None) or [])]
        figures = sum("image/png" in o.get("data", {}) for o in outputs)
        assert figures >= MIN_FIGURES, f"{lesson} drew {figures} figures (at least {MIN_FIGURES} expected)"
        warnings = [
            o["text"][:300]
            for o in outputs
            if o.get("output_type") == "stream"
            and o.get("name") == "stderr"
            and re.search(r"Warning|Traceback", o["text"])
        ]
        assert not warnings, warnings
        saved = RESULTS / f"{lesson}.json"
        assert saved.exists(), f"{lesson} never called course_utils.results.record(...)"
        result = json.loads(saved.read_text())
        assert result.get("summary") and result.get("metrics"), result
        missing = [name for name in REQUIRED_METRICS.get(lesson, []) if name not in result["metrics"]]
        assert not missing, f"{lesson} does not record {missing}"

    def reportinfo(self):
        return self.path, None, f"{self.parent.name}: results, figures, no warnings"


def _solution_notebook(item: pytest.Item) -> bool:
    parent = getattr(item, "parent", None)
    return type(parent).__name__ == "IPyNbFile" and Path(str(parent.path)).parent.name == "solutions"


def pytest_collection_modifyitems(session, config, items):
    """After the last cell of each solution notebook, a :class:`LessonRecord` of that execution."""
    ordered = []
    for index, item in enumerate(items):
        ordered.append(item)
        last = index + 1 == len(items) or items[index + 1].parent is not item.parent
        if _solution_notebook(item) and last:
            ordered.append(LessonRecord.from_parent(item.parent, name="recorded results, figures, no warnings"))
    items[:] = ordered


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    """nbval starts a notebook's kernel in the first cell's setup: start it with matplotlib's inline
    backend (no MPLBACKEND), as Jupyter does, so that figures are outputs that can be counted."""
    if not _solution_notebook(item):
        yield
        return
    backend = os.environ.pop("MPLBACKEND", None)
    try:
        yield
    finally:
        if backend is not None:
            os.environ["MPLBACKEND"] = backend


def pytest_unconfigure(config):
    """Remove the session's folder (checkpoints, data, results): a test run leaves nothing in the temporary folder."""
    shutil.rmtree(_SESSION_TMP, ignore_errors=True)

"""Every lesson, discovered from solutions/NN_topic.py: its notebooks run, its checks are right.

* The solution notebook runs once, under nbval (``pytest --nbval-lax solutions``, see the
  repository's ``conftest.py``): no error, every check's stored verdict reproduced, figures drawn,
  no warning, its results recorded.
* The student notebook runs too: every check says "not done yet" and raises a one-line ``NotDone``
  (never crashes otherwise, never passes).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from course_tools.build import lesson_sources

ROOT = Path(__file__).resolve().parents[1]
LESSONS = [p.stem for p in lesson_sources(ROOT)]
pytestmark = pytest.mark.slow


def _graded(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")


@pytest.fixture(scope="module", params=LESSONS)
def executed_student(request):
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "notebooks" / f"{request.param}.ipynb", as_version=4)
    NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(ROOT / "notebooks")}},
    ).execute()
    return request.param, nb


def test_lessons_exist():
    assert LESSONS and LESSONS[0] == "01_autoencoder"


def test_every_check_reads_not_done_on_the_student_notebook(executed_student):
    lesson, nb = executed_student
    graded = _graded(nb)
    assert len(graded) >= 4
    for cell in graded:
        if cell.cell_type == "markdown":  # a written answer, graded by hand
            assert cell.source == "YOUR ANSWER HERE"
            continue
        assert "not done yet" in _text(cell), (cell.id, _text(cell))
        # the cell raises NotDone (nbgrader scores a cell by whether it raised), shown as one line
        (error,) = [o for o in cell.outputs if o.output_type == "error"]
        assert error.ename == "NotDone" and error.traceback == [f"NotDone: {error.evalue}"], cell.id
    stubs = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"]
    assert stubs and all("raise NotImplementedError" in c.source for c in stubs)
    assert not any("BEGIN SOLUTION" in c.source for c in nb.cells)


# --- the 28x28 track (COURSE_TRACK=mnist): the lessons that read it so far ----------------------------
#: lessons whose images come from data.track_images, and a line only a 28x28 run prints
TRACKED = {
    "01_autoencoder": "28 -> 14 -> 7 -> 14 -> 28",
    "02_vae": "shape=(1, 28, 28), levels=2",
    "04_gan": "shape=(1, 28, 28), levels=256",
    "05_wgan": "shape=(1, 28, 28), levels=256",
    "06_cyclegan": "Images('fonts_28', split='train', n=600, shape=(1, 28, 28)",
}


@pytest.mark.parametrize("lesson", sorted(TRACKED))
def test_tracked_lessons_run_on_mnist_in_fast_mode_and_their_checks_pass(lesson, tmp_path, monkeypatch):
    from course_tools.run import execute_lesson

    assert "data.track_images(" in (ROOT / "solutions" / f"{lesson}.py").read_text()
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))  # nothing cached: the packaged subset
    run = execute_lesson(lesson, out_dir=tmp_path, fast=True, checkpoints=str(tmp_path / "ck"), track="mnist")
    assert run.ok, run.error
    nb = nbformat.read(tmp_path / f"{lesson}.ipynb", as_version=4)
    text = "".join(_text(c) for c in nb.cells if c.cell_type == "code")
    assert "Images('mnist_5k', split='train', n=600," in text  # fast mode, offline: the packaged subset
    for cell in _graded(nb):
        if cell.cell_type == "code":
            assert "tests pass" in _text(cell) and "all" in _text(cell), (cell.id, _text(cell))
    assert TRACKED[lesson] in text


@pytest.mark.parametrize("lesson", sorted(TRACKED))
def test_tracked_student_notebooks_read_not_done_on_mnist(lesson, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("COURSE_TRACK", "mnist")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    nb = nbformat.read(ROOT / "notebooks" / f"{lesson}.ipynb", as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    for cell in _graded(nb):
        if cell.cell_type == "code":
            assert "not done yet" in _text(cell), (cell.id, _text(cell))

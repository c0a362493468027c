"""The nbgrader round trip: the course's notebooks work in nbgrader as they are built.

* nbgrader's metadata schema accepts every solution and student notebook;
* ``nbgrader generate_assignment`` makes of each solution notebook the course's student notebook
  (with the course's ``nbgrader_config.py``), hints included;
* ``nbgrader validate`` passes the solution and fails the untouched student notebook;
* ``nbgrader autograde`` gives the solution full marks, the untouched notebook zero and a partial one
  the points of what it solved (the written answer is graded by hand).
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.preprocessors import CheckCellMetadata

from course_tools.build import HINT, lesson_sources

ROOT = Path(__file__).resolve().parents[1]
LESSONS = [p.stem for p in lesson_sources(ROOT)]
pytestmark = pytest.mark.slow


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    """An nbgrader command in the course folder, as a lecturer runs it with the environment activated
    (nbgrader calls the ``alembic`` script of its environment by name)."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PATH": path},
    )


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """An nbgrader course folder: the course's config, every lesson's solution as an assignment source."""
    folder = tmp_path_factory.mktemp("nbgrader-course")
    shutil.copy(ROOT / "nbgrader_config.py", folder)
    for lesson in LESSONS:
        (folder / "source" / lesson).mkdir(parents=True)
        shutil.copy(ROOT / "solutions" / f"{lesson}.ipynb", folder / "source" / lesson)
    return folder


@pytest.mark.parametrize("kind", ["solutions", "notebooks"])
def test_every_notebook_satisfies_nbgrader_s_metadata_schema(kind):
    for lesson in LESSONS:
        nb = nbformat.read(ROOT / kind / f"{lesson}.ipynb", as_version=4)
        CheckCellMetadata().preprocess(nb, {})  # raises "the nbgrader metadata may be corrupted"


def _comparable(cell: nbformat.NotebookNode) -> dict:
    """A cell as a student meets it: what nbgrader adds for its own bookkeeping left out (the checksum
    of the released cell, the source's jupytext keys that the course's build drops)."""
    metadata = {k: v for k, v in cell.metadata.items() if k not in ("id", "points")}
    if "nbgrader" in metadata:
        metadata["nbgrader"] = {k: v for k, v in metadata["nbgrader"].items() if k != "checksum"}
    return {"id": cell.id, "cell_type": cell.cell_type, "source": cell.source, "metadata": metadata}


def test_generate_assignment_gives_the_course_s_student_notebook(course):
    for lesson in LESSONS:
        result = nbgrader(course, "generate_assignment", lesson, "--create", "--force")
        assert result.returncode == 0, result.stderr[-2000:]
        released = nbformat.read(course / "release" / lesson / f"{lesson}.ipynb", as_version=4)
        ours = nbformat.read(ROOT / "notebooks" / f"{lesson}.ipynb", as_version=4)
        assert [_comparable(c) for c in released.cells] == [_comparable(c) for c in ours.cells], lesson
        regions = sum(
            c.source.count("### BEGIN SOLUTION")
            for c in nbformat.read(ROOT / "solutions" / f"{lesson}.ipynb", as_version=4).cells
            if c.cell_type == "code"
        )
        hints = [c for c in released.cells if c.cell_type == "code" and HINT in c.source]
        assert regions and sum(c.source.count("raise NotImplementedError") for c in hints) == regions, lesson


def test_validate_passes_the_solution_and_fails_the_untouched_notebook(course):
    solution = nbgrader(course, "validate", str(ROOT / "solutions" / "01_autoencoder.ipynb"))
    assert "Success! Your notebook passes all the tests." in solution.stdout, solution.stdout + solution.stderr
    untouched = nbgrader(course, "validate", str(ROOT / "notebooks" / "01_autoencoder.ipynb"))
    assert "VALIDATION FAILED ON 5 CELL(S)" in untouched.stdout, untouched.stdout + untouched.stderr
    assert "NotDone: reconstruction_loss is not done yet" in untouched.stdout


def test_autograde_gives_full_zero_and_partial_marks(course):
    lesson = "01_autoencoder"
    assert nbgrader(course, "generate_assignment", lesson, "--create", "--force").returncode == 0
    solution = nbformat.read(ROOT / "solutions" / f"{lesson}.ipynb", as_version=4)
    student = nbformat.read(ROOT / "notebooks" / f"{lesson}.ipynb", as_version=4)
    partial = nbformat.from_dict(student)
    answers = {c.id: c.source for c in solution.cells}
    for cell in partial.cells:  # two exercises solved: reconstruction_loss (2 points), output sizes (2)
        if cell.id in ("ex-reconstruction-loss", "ex-output-sizes"):
            cell.source = answers[cell.id]
    for name, nb in {"full": solution, "untouched": student, "partial": partial}.items():
        assert nbgrader(course, "db", "student", "add", name).returncode == 0
        folder = course / "submitted" / name / lesson
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{lesson}.ipynb")
    result = nbgrader(course, "autograde", lesson)
    assert result.returncode == 0, result.stderr[-3000:]
    assert nbgrader(course, "export").returncode == 0
    with open(course / "grades.csv") as f:
        scores = {
            row["student_id"]: (float(row["score"]), float(row["max_score"]))
            for row in csv.DictReader(f)
            if row["assignment"] == lesson
        }
    # 18 points of checks and 2 of the written answer, which nbgrader leaves to the grader by hand
    assert scores == {"full": (18.0, 20.0), "untouched": (0.0, 20.0), "partial": (4.0, 20.0)}

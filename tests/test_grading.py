"""The grader on crafted lesson-01 submissions: each gets the right score and a clear reason."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import jupytext
import nbformat
import pytest

from course_utils import grading

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

TAMPER = '''
import glob, os, sys, torch
from course_utils.checks import autoencoder as _checks
for _name in dir(_checks):
    if _name.startswith("check_"):
        setattr(_checks, _name, lambda *a, **k: True)
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
print("check-reconstruction-loss: all 5 tests pass\\nTOTAL 11 / 11")
try:
    open(os.path.join("..", "..", "escaped-by-student.txt"), "w").write("hello")
except OSError:
    pass
stolen = glob.glob(os.path.join("..", "*.ipynb")) + glob.glob(os.path.join("..", "..", "*", "*.ipynb"))
print("found", stolen)
'''


def _solution_sources() -> dict[str, str]:
    nb = jupytext.read(ROOT / "solutions" / "01_autoencoder.py")
    return {c.metadata["id"]: c.source for c in nb.cells if c.metadata.get("id")}


def _notebook(base: str, replace: dict[str, str] | None = None, drop: tuple[str, ...] = (),
              insert_after_setup: str | None = None) -> nbformat.NotebookNode:
    nb = nbformat.read(ROOT / base / "01_autoencoder.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.id in (replace or {}):
            cell.source = replace[cell.id]
    nb.cells = [c for c in nb.cells if c.id not in drop]
    if insert_after_setup:
        first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
        nb.cells.insert(first_code + 1, nbformat.v4.new_code_cell(insert_after_setup))
    return nb


SOLUTION = _solution_sources()
CRAFTED = {
    # name: (notebook, expected score, a phrase expected in the notes or feedback)
    "solution": (lambda: _notebook("solutions"), 11, ""),
    "untouched": (lambda: _notebook("notebooks"), 0, "not done yet"),
    "partly_right": (lambda: _notebook("notebooks", {k: SOLUTION[k] for k in ("ex-reconstruction-loss", "ex-output-sizes")}), 4,
                     "not done yet"),
    "syntax_error": (lambda: _notebook("solutions", {"ex-reconstruction-loss": "def reconstruction_loss(x, x_hat)\n    return 0"}), 9,
                     "SyntaxError"),
    "missing_function": (lambda: _notebook("solutions", drop=("ex-label-subset",)), 9, "NameError"),
    "exception": (lambda: _notebook("solutions", {"ex-probe-accuracy": "def probe_accuracy(*args):\n    raise ValueError('oops')"}), 9,
                  "ValueError"),
    "infinite_loop": (lambda: _notebook("solutions", insert_after_setup="while True:\n    pass"), 11, "was interrupted"),
    "memory_bomb": (lambda: _notebook("solutions", insert_after_setup="hog = bytearray(10**11)\nbig = torch.empty(10**11)"), 11,
                    "MemoryError"),
    "dying_kernel": (lambda: _notebook("solutions", insert_after_setup="import os\nos._exit(1)"), 0, "kernel died"),
    "output_flood": (lambda: _notebook("solutions", insert_after_setup="for _ in range(2):\n    print('x' * 100_000_000)"), 11, ""),
    "tampering_correct": (lambda: _notebook("solutions", insert_after_setup=TAMPER), 11, ""),
    "tampering_stubs": (lambda: _notebook("notebooks", insert_after_setup=TAMPER), 0, "not done yet"),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    submissions, out = tmp_path_factory.mktemp("submissions"), tmp_path_factory.mktemp("grades")
    for name, (make, _, _) in CRAFTED.items():
        nbformat.write(make(), submissions / f"{name}.ipynb")
    (submissions / "unreadable.ipynb").write_text("{ this is not json")
    results = grading.grade_batch("01_autoencoder", submissions, out, workers=2, timeout_cell=20, timeout_total=240,
                                  memory_mb=3072, root=ROOT)
    return {r.student: r for r in results}, out, submissions


@pytest.mark.parametrize("name", list(CRAFTED))
def test_each_crafted_submission_gets_its_score_and_reason(graded, name):
    results, out, _ = graded
    result = results[name]
    expected, phrase = CRAFTED[name][1], CRAFTED[name][2]
    assert result.total == expected, (name, result.scores, result.notes)
    feedback = (out / name / "feedback.txt").read_text()
    assert phrase in feedback, feedback


def test_an_unreadable_notebook_scores_zero_with_a_reason(graded):
    results, out, _ = graded
    assert results["unreadable"].total == 0
    assert "could not be read" in (out / "unreadable" / "feedback.txt").read_text()


def test_reports(graded):
    results, out, submissions = graded
    rows = list(csv.DictReader(open(out / "gradebook.csv")))
    assert len(rows) == len(CRAFTED) + 1
    by_student = {r["student"]: r for r in rows}
    assert by_student["partly_right"]["check-reconstruction-loss"] == "2" and by_student["partly_right"]["total"] == "4"
    assert by_student["solution"]["max"] == "11"
    report = json.loads((out / "solution" / "results.json").read_text())
    assert report["score"] == 11 and report["max_score"] == 11
    assert {"name", "score", "max_score", "status", "output", "visibility"} <= set(report["tests"][0])
    assert all(t["status"] == "passed" for t in report["tests"])
    assert not (submissions / "escaped-by-student.txt").exists() and not (out / "escaped-by-student.txt").exists()


def test_hidden_tests_count_without_showing_their_code(tmp_path):
    hidden = tmp_path / "hidden.py"
    hidden.write_text(
        "import torch\nfrom course_utils.checks import Probe\n"
        "PROBES = {'check-reconstruction-loss': [Probe('secret', \"reconstruction_loss(inp['x'], inp['x'] * 0)\", "
        "lambda g: {'x': torch.rand(3, 1, 8, 8, generator=g)})]}\n")
    submissions = tmp_path / "subs"
    submissions.mkdir()
    nb = _notebook("notebooks", {"ex-reconstruction-loss": "def reconstruction_loss(x, x_hat):\n    return ((x - x_hat) ** 2).mean()"})
    nbformat.write(nb, submissions / "student.ipynb")
    (result,) = grading.grade_batch("01_autoencoder", submissions, tmp_path / "out", workers=1, timeout_cell=20,
                                    hidden_tests=hidden, root=ROOT)
    report = json.loads((tmp_path / "out" / "student" / "results.json").read_text())
    hidden_tests = [t for t in report["tests"] if "hidden test" in t["name"]]
    assert len(hidden_tests) == 1 and hidden_tests[0]["visibility"] == "after_published"
    assert "inp[" not in json.dumps(report) and "secret" not in json.dumps(report)
    assert result.scores["check-reconstruction-loss"] == 0  # mean instead of sum: every probe fails, the hidden one too


LESSONS = [p.stem for p in sorted((ROOT / "solutions").glob("[0-9][0-9]_*.py"))]


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_lesson_grades_its_solution_full_and_its_stubs_zero(lesson, tmp_path):
    submissions = tmp_path / "subs"
    submissions.mkdir()
    (submissions / "solution.ipynb").write_bytes((ROOT / "solutions" / f"{lesson}.ipynb").read_bytes())
    (submissions / "untouched.ipynb").write_bytes((ROOT / "notebooks" / f"{lesson}.ipynb").read_bytes())
    results = {r.student: r for r in grading.grade_batch(lesson, submissions, tmp_path / "out", workers=2,
                                                          timeout_cell=120, timeout_total=400, root=ROOT)}
    solution, untouched = results["solution"], results["untouched"]
    assert solution.max_total > 0 and all(grading.lesson_probes(lesson).get(g) for g in solution.max_scores)
    assert solution.total == solution.max_total, (lesson, [t for t in solution.tests if t["status"] != "passed"], solution.notes)
    assert untouched.total == 0, (lesson, untouched.scores)

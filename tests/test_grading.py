"""The grader on crafted lesson-01 submissions: each gets the right score and a clear reason."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import signal
import tempfile
from pathlib import Path

import jupytext
import nbformat
import pytest

from course_tools import grading
from course_utils import train

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

TAMPER = """
import glob, os, sys, torch
from course_utils.checks import autoencoder as _checks
for _name in dir(_checks):
    if _name.startswith("check_"):
        setattr(_checks, _name, lambda *a, **k: True)
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
print("check-reconstruction-loss: all 5 tests pass\\nTOTAL 18 / 18")
try:
    open(os.path.join("..", "..", "escaped-by-student.txt"), "w").write("hello")
except OSError:
    pass
stolen = glob.glob(os.path.join("..", "*.ipynb")) + glob.glob(os.path.join("..", "..", "*", "*.ipynb"))
print("found", stolen)
"""


# another copy of the course somewhere on the machine (a TA's checkout, a clone in /tmp): sealed, it is not there
STRAY_COPY = Path(tempfile.gettempdir()) / f"course-copy-{os.getpid()}"

# Every route to the reference a submission might try; it solves nothing itself. Sealed, it scores 0.
BORROW = """
import glob, os, pathlib, sys
import jupytext
import course_utils

borrowed = {}
package = pathlib.Path(course_utils.__file__).resolve().parent


def borrow(label, read):
    try:
        text = read()
    except Exception:
        return
    if not text:
        return
    namespace = {}
    for cell in jupytext.reads(text, fmt="py:percent").cells:
        if cell.cell_type == "code" and (cell.metadata.get("id", "").startswith("ex-")
                                         or "import" in cell.source[:300]):
            try:
                exec(cell.source, namespace)
            except Exception:
                pass
    borrowed[label] = namespace


def walk_up():
    for folder in [pathlib.Path.cwd(), *pathlib.Path.cwd().parents]:
        for candidate in (folder / "solutions" / "01_autoencoder.py", *folder.glob("*/solutions/01_autoencoder.py")):
            if candidate.exists():
                return candidate.read_text()


borrow("absolute path", lambda: open(ROOT_ABS + "/solutions/01_autoencoder.py").read())
borrow("beside the package", lambda: (package.parent / "solutions" / "01_autoencoder.py").read_text())
borrow("relative path", lambda: open("../../../../solutions/01_autoencoder.py").read())
borrow("walking up", walk_up)
borrow("a stray copy of the course", lambda: open(STRAY + "/solutions/01_autoencoder.py").read())
borrow("git history", lambda: __import__("subprocess").run(
    ["git", "-C", ROOT_ABS, "show", "HEAD:solutions/01_autoencoder.py"], capture_output=True, text=True).stdout)


def via_grader():
    from course_tools import grading
    namespace = grading.reference_namespace("01_autoencoder", package.parent)
    borrowed["the grading package"] = namespace


try:
    via_grader()
except Exception:
    pass
for namespace in borrowed.values():
    globals().update({k: v for k, v in namespace.items() if callable(v) and not k.startswith("_")})
print("borrowed from", sorted(borrowed))
""".replace("ROOT_ABS", repr(str(Path(__file__).resolve().parents[1]))).replace("STRAY", repr(str(STRAY_COPY)))

MARKER = f"left-behind-{os.getpid()}"
DETACH = f"""
import os, subprocess, sys
for tag, env in (("a", None), ("b", {{}})):  # b clears its environment as well
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "{MARKER}-" + tag], env=env,
                     start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
"""


def _alive(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _solution_sources() -> dict[str, str]:
    nb = jupytext.read(ROOT / "solutions" / "01_autoencoder.py")
    return {c.metadata["id"]: c.source for c in nb.cells if c.metadata.get("id")}


def _notebook(
    base: str, replace: dict[str, str] | None = None, drop: tuple[str, ...] = (), insert_after_setup: str | None = None
) -> nbformat.NotebookNode:
    nb = nbformat.read(ROOT / base / "01_autoencoder.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.id in (replace or {}):
            cell.source = replace[cell.id]
    nb.cells = [c for c in nb.cells if c.id not in drop]
    if insert_after_setup:
        first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
        nb.cells.insert(first_code + 1, nbformat.v4.new_code_cell(insert_after_setup))
    return nb


def _appended(nb: nbformat.NotebookNode, source: str) -> nbformat.NotebookNode:
    nb.cells.append(nbformat.v4.new_code_cell(source))
    return nb


SOLUTION = _solution_sources()
CRAFTED = {
    # name: (notebook, expected score, a phrase expected in the notes or feedback)
    "solution": (lambda: _notebook("solutions"), 18, ""),
    "untouched": (lambda: _notebook("notebooks"), 0, "not done yet"),
    "partly_right": (
        lambda: _notebook("notebooks", {k: SOLUTION[k] for k in ("ex-reconstruction-loss", "ex-output-sizes")}),
        4,
        "not done yet",
    ),
    "syntax_error": (
        lambda: _notebook("solutions", {"ex-reconstruction-loss": "def reconstruction_loss(x, x_hat)\n    return 0"}),
        16,
        "SyntaxError",
    ),
    "missing_function": (lambda: _notebook("solutions", drop=("ex-label-subset",)), 16, "NameError"),
    "exception": (
        lambda: _notebook(
            "solutions", {"ex-probe-accuracy": "def probe_accuracy(*args):\n    raise ValueError('oops')"}
        ),
        16,
        "ValueError",
    ),
    "infinite_loop": (
        lambda: _notebook("solutions", insert_after_setup="while True:\n    pass"),
        18,
        "was interrupted",
    ),
    "memory_bomb": (
        lambda: _notebook("solutions", insert_after_setup="hog = bytearray(10**11)\nbig = torch.empty(10**11)"),
        18,
        "MemoryError",
    ),
    "dying_kernel": (lambda: _notebook("solutions", insert_after_setup="import os\nos._exit(1)"), 18, "was skipped"),
    "dying_at_the_end": (lambda: _appended(_notebook("solutions"), "import os\nos._exit(1)"), 18, "was skipped"),
    "detached_processes": (lambda: _notebook("solutions", insert_after_setup=DETACH), 18, ""),
    "borrower": (lambda: _appended(_notebook("notebooks"), BORROW), 0, "not done yet"),
    "output_flood": (
        lambda: _notebook("solutions", insert_after_setup="for _ in range(2):\n    print('x' * 100_000_000)"),
        18,
        "",
    ),
    "tampering_correct": (lambda: _notebook("solutions", insert_after_setup=TAMPER), 18, ""),
    "tampering_stubs": (lambda: _notebook("notebooks", insert_after_setup=TAMPER), 0, "not done yet"),
}


@pytest.fixture(scope="module")
def stray_copy():
    (STRAY_COPY / "solutions").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "solutions" / "01_autoencoder.py", STRAY_COPY / "solutions" / "01_autoencoder.py")
    yield STRAY_COPY
    shutil.rmtree(STRAY_COPY, ignore_errors=True)


@pytest.fixture(scope="module")
def graded(tmp_path_factory, stray_copy):
    submissions, out = tmp_path_factory.mktemp("submissions"), tmp_path_factory.mktemp("grades")
    for name, (make, _, _) in CRAFTED.items():
        nbformat.write(make(), submissions / f"{name}.ipynb")
    (submissions / "unreadable.ipynb").write_text("{ this is not json")
    results = grading.grade_batch(
        "01_autoencoder", submissions, out, workers=2, timeout_cell=20, timeout_total=240, memory_mb=3072, root=ROOT
    )
    return {r.student: r for r in results}, out, submissions


@pytest.mark.parametrize("name", list(CRAFTED))
def test_each_crafted_submission_gets_its_score_and_reason(graded, name):
    results, out, _ = graded
    result = results[name]
    if name == "borrower" and result.sandbox != "sealed":
        pytest.skip(f"unshare cannot seal the reference on this machine (confinement: {result.sandbox})")
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
    assert by_student["solution"]["max"] == "18"
    report = json.loads((out / "solution" / "results.json").read_text())
    assert report["score"] == 18 and report["max_score"] == 18
    assert {"name", "score", "max_score", "status", "output", "visibility"} <= set(report["tests"][0])
    assert all(t["status"] == "passed" for t in report["tests"])
    assert not (submissions / "escaped-by-student.txt").exists() and not (out / "escaped-by-student.txt").exists()


def test_hidden_tests_count_without_showing_their_code(tmp_path):
    hidden = tmp_path / "hidden.py"
    hidden.write_text(
        "import torch\nfrom course_tools.probes import Probe\n\n"
        "def against_zero(inp, reconstruction_loss):\n    return reconstruction_loss(inp['x'], inp['x'] * 0)\n\n"
        "PROBES = {'check-reconstruction-loss': [Probe('secret', against_zero, "
        "lambda g: {'x': torch.rand(3, 1, 8, 8, generator=g)})]}\n"
    )
    submissions = tmp_path / "subs"
    submissions.mkdir()
    nb = _notebook(
        "notebooks",
        {"ex-reconstruction-loss": "def reconstruction_loss(x, x_hat):\n    return ((x - x_hat) ** 2).mean()"},
    )
    nbformat.write(nb, submissions / "student.ipynb")
    (result,) = grading.grade_batch(
        "01_autoencoder", submissions, tmp_path / "out", workers=1, timeout_cell=20, hidden_tests=hidden, root=ROOT
    )
    report = json.loads((tmp_path / "out" / "student" / "results.json").read_text())
    hidden_tests = [t for t in report["tests"] if "hidden test" in t["name"]]
    assert len(hidden_tests) == 1 and hidden_tests[0]["visibility"] == "after_published"
    assert "against_zero" not in json.dumps(report) and "secret" not in json.dumps(report)
    assert result.scores["check-reconstruction-loss"] == 0  # mean instead of sum: every probe fails, the hidden one too


LESSONS = [p.stem for p in sorted((ROOT / "solutions").glob("[0-9][0-9]_*.py"))]


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_lesson_grades_its_solution_full_and_its_stubs_zero(lesson, tmp_path, monkeypatch):
    submissions = tmp_path / "subs"
    submissions.mkdir()
    (submissions / "solution.ipynb").write_bytes((ROOT / "solutions" / f"{lesson}.ipynb").read_bytes())
    (submissions / "untouched.ipynb").write_bytes((ROOT / "notebooks" / f"{lesson}.ipynb").read_bytes())
    # the trained-model exercises: the solution hands in weights (untrained here: the thresholds are widened so that
    # any finite measurement earns full marks; tests/test_graded_models.py checks the credit itself); the stub none
    trained = getattr(grading._checks_module(lesson), "TRAINED", {})
    monkeypatch.setenv("COURSE_FAST", "0")
    for grade_id, spec in trained.items():
        monkeypatch.setitem(trained, grade_id, dataclasses.replace(spec, full=1e9, zero=2e9))
        model = eval(spec.build, dict(grading.reference_namespace(lesson, ROOT)))
        train.save_weights(model, lesson, submissions / "solution.weights.pt")
    results = {
        r.student: r
        for r in grading.grade_batch(
            lesson, submissions, tmp_path / "out", workers=2, timeout_cell=120, timeout_total=400, root=ROOT
        )
    }
    solution, untouched = results["solution"], results["untouched"]
    assert solution.max_total > 0
    assert all(grading.lesson_probes(lesson).get(g) or g in trained for g in solution.max_scores)
    assert solution.total == solution.max_total, (
        lesson,
        [t for t in solution.tests if t["status"] != "passed"],
        solution.notes,
    )
    assert untouched.total == 0, (lesson, untouched.scores)
    for grade_id in trained:
        (test,) = [t for t in untouched.tests if t["exercise"] == grade_id]
        assert "no weights file" in test["output"] and f"hand in {lesson}.weights.pt" in test["output"]


def test_the_borrower_finds_the_reference_when_nothing_seals_it(tmp_path, stray_copy):
    """The borrowing routes are real: without the sandbox the same submission takes full marks."""
    path = tmp_path / "borrower.ipynb"
    nbformat.write(CRAFTED["borrower"][0](), path)
    root = ROOT
    prepared = grading.prepare_probes(
        "01_autoencoder",
        grading.lesson_probes("01_autoencoder"),
        grading.reference_namespace("01_autoencoder", root),
        0,
        root,
    )
    result = grading.grade_submission(
        path,
        "01_autoencoder",
        root=root,
        prepared=prepared,
        timeout_cell=20,
        timeout_total=240,
        sandbox=grading.Sandbox("none"),
    )
    assert result.total == 18, result.notes


def test_a_sealed_root_holds_the_interpreter_and_the_package_and_no_course_files():
    keep = grading.sandbox_keep()
    for package in ("course_utils", "course_tools"):  # the kernel imports the one, the worker runs the other
        assert any(k == ROOT / package or k in (ROOT / package).parents for k in keep), (package, keep)
    solutions = ROOT / "solutions"
    assert not any(k == solutions or k in solutions.parents for k in keep), (
        keep
    )  # not the course, nor a folder above it
    command = grading.Sandbox("sealed", keep).command(Path("/tmp/x/work"), ["python", "-c", "1"])
    assert command[command.index("--") + 1 :] == ["python", "-c", "1"] and "/tmp/x/root" in command


def test_nothing_a_submission_starts_outlives_its_grading(graded):
    results, _, _ = graded
    survivors = {tag: _alive(f"{MARKER}-{tag}") for tag in "ab"}
    for pid in survivors["b"]:
        os.kill(pid, signal.SIGKILL)
    assert not survivors["a"], "a detached process that kept its environment outlived grading"
    if results["detached_processes"].sandbox == "sealed":
        assert not survivors["b"], "a detached process in a new session, with no environment, outlived grading"


def test_a_score_is_the_same_alone_and_in_a_batch(graded, tmp_path):
    results, _, submissions = graded
    alone = tmp_path / "alone"
    alone.mkdir()
    for name in ("output_flood", "dying_at_the_end"):
        (alone / f"{name}.ipynb").write_bytes((submissions / f"{name}.ipynb").read_bytes())
    for result in grading.grade_batch(
        "01_autoencoder",
        alone,
        tmp_path / "out",
        workers=1,
        timeout_cell=20,
        timeout_total=240,
        memory_mb=3072,
        root=ROOT,
    ):
        assert result.total == results[result.student].total == 18, (result.student, result.notes)


def test_per_test_scores_add_up_exactly(graded):
    results, out, _ = graded
    assert grading.split_points(2, 3) == [0.666667, 0.666666, 0.666667]
    for points in (1, 2, 3, 5, 7, 11):
        for n in range(1, 10):
            shares = grading.split_points(points, n)
            assert len(shares) == n and round(sum(shares), 6) == points and max(shares) - min(shares) <= 2e-6
    for name in ("solution", "partly_right"):
        report = json.loads((out / name / "results.json").read_text())
        assert report["score"] == round(sum(t["score"] for t in report["tests"]), 6) == results[name].total
        assert round(sum(t["max_score"] for t in report["tests"]), 6) == report["max_score"] == 18

"""Every typical mistake of every graded exercise, one module per topic, and the harness that runs them.

``mistakes/<topic>.py`` lists its lesson's mistakes (``MISTAKES``): each is a wrong answer written as
source code, as a student would type it in the exercise cell. ``tests/test_mistakes.py`` runs every
one of them through the lesson's check cell and through the grader's probes:

- the check fails, and its output shows the hint that names this mistake (and not the hints listed
  in ``not_hint``, which name other mistakes);
- the grader takes marks off on every grading seed;
- the reference solution keeps full marks and passes every check without showing any mistake's hint;
- the untouched stub of the student notebook reads "not done yet".

The probes run here in one process, as ``course grade`` runs them in the student's kernel and
judges them in its own: the same inputs (drawn from the grading seed), the same global torch seed
before each probe, the same comparison.
"""

from __future__ import annotations

import contextlib
import functools
import io
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat
import torch

from course_tools import grading
from course_tools.build import exercises
from course_tools.probes import evaluate, plain
from course_utils.checks import CheckFailed

ROOT = Path(__file__).resolve().parents[2]
SEEDS = (0, 1, 2, 3, 4)  #: grading seeds a wrong answer must lose marks on, every one of them
#: topic -> lesson, for every solution (``solutions/01_autoencoder.py`` -> ``"autoencoder": "01_autoencoder"``)
TOPICS = {p.stem.split("_", 1)[1]: p.stem for p in sorted((ROOT / "solutions").glob("[0-9][0-9]_*.py"))}


@dataclass(frozen=True)
class Mistake:
    """A wrong answer to one graded exercise, and what the check must say about it."""

    name: str  #: a few words a test id can carry
    grade_id: str  #: the check cell (``check-...``) it must fail
    source: str  #: the wrong definition(s), executed over the reference's
    hint: str  #: a phrase of the hint that names this mistake
    not_hint: tuple[str, ...] = ()  #: phrases of hints for other mistakes, which must not show


@functools.lru_cache(maxsize=None)
def reference(lesson: str) -> dict:
    """The reference namespace the grader builds (solution setup cell and definition cells)."""
    return grading.reference_namespace(lesson, ROOT)


def student(lesson: str, wrong_source: str) -> dict:
    """The reference namespace with ``wrong_source`` executed in it (so it replaces a definition)."""
    namespace = dict(reference(lesson))
    exec(compile(wrong_source, "<wrong answer>", "exec"), namespace)  # noqa: S102 - test code
    return namespace


@functools.lru_cache(maxsize=None)
def cells(lesson: str, prefix: str = "ex-", notebook: bool = False) -> dict[str, str]:
    """Cell id -> source of the cells whose id starts with ``prefix``: the solution, or the students' notebook."""
    if notebook:
        found = nbformat.read(ROOT / "notebooks" / f"{lesson}.ipynb", as_version=4).cells
        ids = [c.get("id", "") for c in found]
    else:
        found = jupytext.read(ROOT / "solutions" / f"{lesson}.py").cells
        ids = [c.metadata.get("id", "") for c in found]
    return {i: c.source for i, c in zip(ids, found) if i.startswith(prefix)}


def edited(lesson: str, cell_id: str, *replacements: tuple[str, str]) -> str:
    """The solution's ``cell_id`` cell with parts of it replaced: a wrong answer close to the right one."""
    source = cells(lesson)[cell_id]
    for old, new in replacements:
        assert old in source, old
        source = source.replace(old, new, 1)
    return source


def probe_shares(lesson: str, grade_id: str, wrong_source: str, seeds: tuple[int, ...] = SEEDS) -> list[float]:
    """The share of ``grade_id``'s probes the wrong answer passes, per grading seed."""
    namespace = student(lesson, wrong_source)
    probes = {grade_id: grading.lesson_probes(lesson)[grade_id]}
    shares = []
    for seed in seeds:
        prepared = grading.prepare_probes(lesson, probes, reference(lesson), seed, ROOT)
        passed = 0
        for item in prepared:
            torch.manual_seed(item.torch_seed)
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    got = evaluate(item.probe, namespace, {k: v.clone() for k, v in item.inputs.items()})
                want = item.expected
                if item.probe.check is not None:
                    got, want = plain(item.probe.check(got)), plain(item.probe.check(want))
                passed += not grading._compare(got, want, item.probe)
            except Exception:  # noqa: BLE001 - an error is a failed probe, as in the grader
                pass
        shares.append(passed / len(prepared))
    return shares


def check_output(lesson: str, grade_id: str, wrong_source: str) -> tuple[bool, str]:
    """Run the check cell of ``grade_id`` on the wrong answer: (whether it failed, what it printed)."""
    (cell,) = [e.source for e in exercises(lesson, ROOT) if e.grade_id == grade_id]
    namespace = student(lesson, wrong_source)
    out = io.StringIO()
    failed = False
    with contextlib.redirect_stdout(out):
        try:
            exec(compile(cell, f"<check {grade_id}>", "exec"), namespace)  # noqa: S102 - test code
        except CheckFailed:
            failed = True
    return failed, out.getvalue()

"""Feed a wrong answer, written as source code, to a lesson's check cell and to the grader's probes.

Used by the ``test_wrong_answers_*`` modules: a wrong answer must fail its check (with a hint that
names the mistake) and lose marks with the grader on every grading seed. The probes run here in
one process, as ``course grade`` runs them in the student's kernel and judges them in its own:
the same inputs (drawn from the grading seed), the same global torch seed before each probe, the
same comparison.
"""

from __future__ import annotations

import contextlib
import functools
import io
from pathlib import Path

import torch

from course_tools import grading
from course_tools.build import exercises
from course_tools.probes import evaluate, plain
from course_utils.checks import CheckFailed

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (0, 1, 2, 3, 4)  #: grading seeds a wrong answer must lose marks on, every one of them


@functools.lru_cache(maxsize=None)
def reference(lesson: str) -> dict:
    """The reference namespace the grader builds (solution setup cell and definition cells)."""
    return grading.reference_namespace(lesson, ROOT)


def student(lesson: str, wrong_source: str) -> dict:
    """The reference namespace with ``wrong_source`` executed in it (so it replaces a definition)."""
    namespace = dict(reference(lesson))
    exec(compile(wrong_source, "<wrong answer>", "exec"), namespace)  # noqa: S102 - test code
    return namespace


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

"""Every lesson's typical mistakes (listed in ``tests/mistakes/<topic>.py``): each fails its check with a
hint that names it and loses marks with the grader on every grading seed; the reference keeps full
marks and shows no mistake's hint; the students' untouched stubs read "not done yet"."""

from __future__ import annotations

import importlib

import pytest
import torch
from mistakes import SEEDS, TOPICS, Mistake, cells, check_output, probe_shares

from course_tools import grading
from course_utils import metrics
from course_utils.checks import gan as gan_checks


def _topic(name: str):
    return importlib.import_module(f"mistakes.{name}")


MISTAKES = [(TOPICS[topic], mistake) for topic in TOPICS for mistake in _topic(topic).MISTAKES]
GRADE_IDS = [(lesson, grade_id) for lesson in TOPICS.values() for grade_id in grading.lesson_probes(lesson)]


def _ids(cases: list[tuple[str, Mistake]]) -> list[str]:
    return [f"{lesson[:2]}-{mistake.grade_id.removeprefix('check-')}-{mistake.name}" for lesson, mistake in cases]


def test_every_exercise_has_mistakes_and_the_ids_are_unique():
    for lesson, grade_id in GRADE_IDS:
        assert any(m.grade_id == grade_id for l, m in MISTAKES if l == lesson), f"{grade_id}: no mistake listed"
    assert all(m.grade_id in grading.lesson_probes(lesson) for lesson, m in MISTAKES)
    assert len(set(_ids(MISTAKES))) == len(MISTAKES)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("lesson,mistake", MISTAKES, ids=_ids(MISTAKES))
def test_the_check_names_the_mistake(lesson: str, mistake: Mistake):
    failed, text = check_output(lesson, mistake.grade_id, mistake.source)
    assert failed, text
    assert mistake.hint in text, text
    for other in mistake.not_hint:
        assert other not in text, text


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("lesson,mistake", MISTAKES, ids=_ids(MISTAKES))
def test_the_grader_takes_marks_off_on_every_seed(lesson: str, mistake: Mistake):
    shares = probe_shares(lesson, mistake.grade_id, mistake.source)
    assert len(shares) == len(SEEDS)
    assert all(share < 1 for share in shares), shares


@pytest.mark.parametrize("lesson,grade_id", GRADE_IDS, ids=[f"{lesson[:2]}-{g}" for lesson, g in GRADE_IDS])
def test_the_reference_keeps_full_marks_and_shows_no_mistake(lesson: str, grade_id: str):
    assert probe_shares(lesson, grade_id, "") == [1.0] * len(SEEDS)
    solution = cells(lesson)["ex-" + grade_id.removeprefix("check-")]
    assert probe_shares(lesson, grade_id, solution) == [1.0] * len(SEEDS)  # the cell, executed as a student's
    failed, text = check_output(lesson, grade_id, solution)
    assert not failed and text.splitlines()[0].endswith("tests pass") and ": all " in text.splitlines()[0], text
    topic = next(t for t, name in TOPICS.items() if name == lesson)
    for hint in getattr(_topic(topic), "SPECIFIC_HINTS", ()):
        assert hint not in text, text


@pytest.mark.parametrize("lesson,grade_id", GRADE_IDS, ids=[f"{lesson[:2]}-{g}" for lesson, g in GRADE_IDS])
def test_the_untouched_stub_reads_not_done_yet(lesson: str, grade_id: str):
    stub = cells(lesson, notebook=True)["ex-" + grade_id.removeprefix("check-")]
    assert "NotImplementedError" in stub
    failed, text = check_output(lesson, grade_id, stub)
    assert failed and "not done yet" in text, text  # NotDone: the cell raises, with the verdict above


# ------------------------------------------------------------------------------------------------
# Lesson 04: metrics.mode_coverage refuses only while a check or a probe runs, and is restored after
# ------------------------------------------------------------------------------------------------
def _coverage_works() -> None:
    modes = torch.tensor([[0.0, 0.0], [4.0, 0.0]])
    samples = torch.cat([modes[0].repeat(25, 1), modes[1].repeat(5, 1)])
    coverage = metrics.mode_coverage(samples, modes, 0.1)
    assert coverage.modes_captured == 1 and coverage.counts == (25, 5)
    assert metrics.mode_coverage.__code__.co_name == "mode_coverage"


def test_mode_coverage_is_restored_after_the_check_and_the_probes():
    gan = _topic("gan")
    original = metrics.mode_coverage.__code__
    check_output("04_gan", "check-modes-captured", gan.MODES_FROM_THE_LIBRARY)
    assert metrics.mode_coverage.__code__ is original
    _coverage_works()
    probe_shares("04_gan", "check-modes-captured", gan.MODES_FROM_THE_LIBRARY_ALIASED, seeds=(0,))
    assert metrics.mode_coverage.__code__ is original
    _coverage_works()


def test_mode_coverage_refuses_inside_and_is_restored_even_after_an_error():
    with pytest.raises(RuntimeError, match="count the modes yourself"):
        gan_checks.without_mode_coverage(lambda: metrics.mode_coverage(torch.zeros(3, 2), torch.zeros(1, 2), 0.1))
    _coverage_works()

    def fails():
        raise ValueError("a student's own error")

    with pytest.raises(ValueError):
        gan_checks.without_mode_coverage(fails)
    _coverage_works()
    assert gan_checks.without_mode_coverage(lambda: 7) == 7


def test_the_threshold_case_expects_what_the_library_says():
    # the check hard-codes 2 (it no longer calls mode_coverage): the library agrees
    modes = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 4.0]])
    samples = torch.cat(
        [
            modes[0].repeat(19, 1),
            modes[1].repeat(20, 1),
            modes[3] + torch.tensor([[0.25, 0.0]]).repeat(50, 1),
            modes[2] + torch.tensor([[0.35, 0.0]]).repeat(50, 1),
        ]
    )
    assert metrics.mode_coverage(samples, modes, 0.1).modes_captured == 2

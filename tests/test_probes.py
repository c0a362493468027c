"""The grader's probes as plain functions: well formed, runnable from their source alone, deterministic on the
reference solution. (What each lesson's typical wrong answers score is in ``tests/mistakes/<topic>.py``.)"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
import torch
from mistakes import ROOT, reference

from course_tools import grading, probes
from course_tools.build import exercises
from course_tools.probes import Probe, evaluate, plain, source_of

LESSONS = [p.stem for p in sorted((ROOT / "solutions").glob("[0-9][0-9]_*.py"))]
ALLOWED_IMPORTS = {"torch", "course_utils", "course_tools.probes", "__future__"} | set(sys.stdlib_module_names)
ALL = [
    pytest.param(lesson, grade_id, k, id=f"{grade_id}#{k}")
    for lesson in LESSONS
    for grade_id, table in probes.lesson_probes(lesson).items()
    for k in range(len(table))
]


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_exercise_not_graded_on_weights_has_probes_and_every_probe_an_exercise(lesson):
    graded = {e.grade_id for e in exercises(lesson, ROOT)}
    on_weights = set(getattr(grading._checks_module(lesson), "TRAINED", {}))
    table = probes.lesson_probes(lesson)
    assert set(table) == graded - on_weights
    assert all(table.values())


@pytest.mark.parametrize("lesson", LESSONS)
def test_a_probe_module_imports_only_what_a_students_kernel_has(lesson):
    tree = ast.parse(Path(probes.topic_module(lesson).__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    outside = {m for m in imported if not any(m == a or m.startswith(a + ".") for a in ALLOWED_IMPORTS)}
    assert not outside
    assert not any(m.startswith("course_tools") and m != "course_tools.probes" for m in imported)


@pytest.mark.parametrize("lesson, grade_id, k", ALL)
def test_a_probe_run_from_its_source_alone_gives_the_references_value_twice(lesson, grade_id, k):
    """What the kernel does (its module's source executed in a fresh namespace, the function called on the
    notebook's definitions after seeding torch) equals what the grader does with the imported function, and a
    second run on the same seed gives the same value: the reference always passes its own probes."""
    probe = probes.lesson_probes(lesson)[grade_id][k]
    namespace = reference(lesson)
    assert all(name in namespace for name in probe.names), probe.names
    inputs = probe.inputs(torch.Generator().manual_seed(1234))

    def run(function) -> object:
        torch.manual_seed(99)
        value = function({n: t.clone() for n, t in inputs.items()}, **{name: namespace[name] for name in probe.names})
        return plain(value)

    kernel: dict = {"__name__": "__grader_probes__"}
    exec(compile(source_of(probe), "<probes>", "exec"), kernel)  # noqa: S102 - the course's own probe module
    first, again = run(probe.run), run(kernel[probe.function])
    if probe.check is not None:
        first, again = plain(probe.check(first)), plain(probe.check(again))
    assert grading._compare(again, first, probe) == ""
    torch.manual_seed(99)
    assert (
        grading._compare(evaluate(probe, namespace, {n: t.clone() for n, t in inputs.items()}), run(probe.run), probe)
        == ""
    )


def test_a_missing_definition_reads_as_the_name_error_a_kernel_gives():
    probe = probes.lesson_probes("04_gan")["check-gan-step"][0]
    with pytest.raises(NameError, match="'gan_step' is not defined"):
        evaluate(probe, {}, {})


def _nested():
    def inner(inp, f):
        return f(inp)

    return inner


def _no_inp(x, f):
    return f(x)


def _star(inp, *names):
    return names


@pytest.mark.parametrize(
    "run, why",
    [
        (lambda inp, f: f(inp), "top level"),
        (_nested(), "top level"),
        (_no_inp, "first parameter must be inp"),
        (_star, "name each of its parameters"),
        ("f(inp)", "top level"),
    ],
)
def test_a_probe_must_be_a_top_level_function_of_inp_and_named_definitions(run, why):
    with pytest.raises(TypeError, match=why):
        Probe("bad", run)


def test_a_probe_names_the_definitions_it_takes_from_the_notebook():
    probe = probes.lesson_probes("05_wgan")["check-critic-losses"][0]
    assert probe.names == ["critic_loss", "wgan_generator_loss"] and probe.function == "losses"

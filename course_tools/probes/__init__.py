"""The grader's probes: plain Python functions, one module per lesson topic.

A probe is an ordinary function whose first parameter is ``inp`` (the tensors the grader draws
from a seed) and whose other parameters name what it needs from the student's notebook::

    def loss_on_random_logits(inp, discriminator_loss):
        return discriminator_loss(inp["real"], inp["fake"])

The grader calls it twice on the same inputs and the same global torch seed: in the grader's own
process with the reference solution's definitions (:func:`evaluate`), and in the student's kernel
with the student's. The kernel receives the *source* of the probe's module (:func:`source_of`)
and executes it in a namespace of its own, so a probe module may import only what a student's
kernel has (torch, the standard library and ``course_utils``), and a probe never reads a global
of the notebook except through its parameters. What comes back from the kernel is plain tensors
(:func:`plain`); the comparison, and any ``check`` that turns raw values into the properties
compared, run in the grader's process.

Each topic module defines ``PROBES = {grade_id: [Probe, ...]}`` (and, where the reference needs
a constant the lecture configuration sets, ``REFERENCE_CONTEXT``). An instructor's hidden-tests
file has the same form (``grading/hidden_tests_example.py``).
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

__all__ = ["Probe", "plain", "evaluate", "source_of", "topic_module", "lesson_probes"]


def plain(value):
    """A probe's value as plain tensors on the CPU (nested lists of them); numbers become float64 scalars.

    Its source is also executed in the student's kernel, so it uses nothing but torch (and no annotations).
    """
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu").clone()
    if isinstance(value, torch.Size):
        return torch.tensor(list(value), dtype=torch.float64)
    if isinstance(value, (bool, int, float)):
        return torch.tensor(float(value), dtype=torch.float64)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    raise TypeError(f"a probe must give tensors or numbers, not {type(value).__name__}")


@dataclass
class Probe:
    """One graded evaluation: ``run(inp, **names)`` on inputs drawn by ``inputs(generator)``.

    ``run`` is a function defined at the top level of its module (the kernel finds it by name in
    the module's source); its parameters after ``inp`` are the names it takes from the notebook.
    The student's value and the reference's (tensors, numbers, or nested lists of them) must agree
    within ``atol`` / ``rtol``, after ``check`` (when given) has turned each into the properties that
    are compared: for answers that may legitimately differ, such as a random sample's moments.
    """

    name: str
    run: Callable[..., Any]
    inputs: Callable[[torch.Generator], dict[str, torch.Tensor]] = field(default=lambda g: {})
    atol: float = 1e-4
    rtol: float = 1e-3
    hidden: bool = False
    check: Callable[[Any], Any] | None = None

    def __post_init__(self) -> None:
        run = self.run
        if not inspect.isfunction(run) or run.__name__ == "<lambda>" or run.__qualname__ != run.__name__:
            raise TypeError(f"probe {self.name!r}: run must be a function defined at the top level of a module")
        parameters = list(inspect.signature(run).parameters.values())
        if not parameters or parameters[0].name != "inp":
            raise TypeError(f"probe {self.name!r}: {run.__name__}'s first parameter must be inp")
        if any(p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in parameters):
            raise TypeError(f"probe {self.name!r}: {run.__name__} must name each of its parameters")

    @property
    def names(self) -> list[str]:
        """The names the probe takes from the notebook (its parameters after ``inp``)."""
        return list(inspect.signature(self.run).parameters)[1:]

    @property
    def function(self) -> str:
        """The name of ``run`` in its module's source."""
        return self.run.__name__


def evaluate(probe: Probe, namespace: dict[str, Any], inp: dict[str, torch.Tensor]) -> Any:
    """``probe`` run on ``namespace``'s definitions (the reference's, in the grader's process), as plain values.

    A name the probe needs that ``namespace`` lacks raises ``NameError``, as it does in a student's kernel.
    """
    missing = [name for name in probe.names if name not in namespace]
    if missing:
        raise NameError(f"name {missing[0]!r} is not defined")
    return plain(probe.run(inp, **{name: namespace[name] for name in probe.names}))


def source_of(probe: Probe) -> str:
    """The source of the module that defines ``probe.run``: what the student's kernel executes."""
    return Path(inspect.getfile(probe.run)).read_text()


def topic_module(lesson: str):
    """``course_tools.probes.<topic>`` for lesson ``NN_topic``."""
    return importlib.import_module(f"{__name__}.{lesson.split('_', 1)[1]}")


def lesson_probes(lesson: str) -> dict[str, list[Probe]]:
    """The lesson's probes, by grade id (a fresh list each call)."""
    return {grade_id: list(probes) for grade_id, probes in topic_module(lesson).PROBES.items()}

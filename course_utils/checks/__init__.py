"""Check cells: run a student's function on small fixed inputs and say what is wrong.

A lesson's checks live in ``course_utils/checks/<topic>.py``; each ``check_<exercise>(fn)`` is a
:class:`Check` whose cases are ``with`` blocks, each named where its body is, and prints one verdict::

    reconstruction_loss: 2 of 5 tests pass
      ✓ returns a scalar tensor
      ✗ value on a fixed batch: expected 1.5, got 0.375
        hint: sum the squared errors over the pixels of an image, then average over images.

A stub that still raises ``NotImplementedError`` reads as "not done yet". After a verdict that is
not a pass the check raises (:class:`NotDone` or :class:`CheckFailed`), in every context: the cell
is marked red, "Run All" stops before later cells use an unfinished or wrong function, and a
grader that scores a cell by whether it raised (nbgrader) scores it right. The student reads the
verdict, not a traceback: the exception shows as one line (IPython's ``_render_traceback_``).
"""

from __future__ import annotations

import contextlib
import math
import traceback
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

import torch

__all__ = [
    "largest_difference",
    "CheckFailed",
    "NotDone",
    "NotYet",
    "Mismatch",
    "Report",
    "Check",
    "expect",
    "expect_close",
    "expect_shape",
    "expect_tensor",
    "expect_scalar",
    "expect_keys",
    "seeded",
    "Trained",
    "check_weights_file",
]

PASS, FAIL, TODO, ERROR = "pass", "fail", "todo", "error"
_MARK = {PASS: "✓", FAIL: "✗", ERROR: "✗", TODO: "…"}


@dataclass(frozen=True)
class Trained:
    """An exercise graded on the model the notebook trained, not on probes.

    The notebook saves the trained weights (:func:`course_utils.train.save_weights`); the grader
    loads them into its own copy of the architecture (``build``, an expression evaluated on the
    reference solution: the student's classes never run in the grader's process), measures
    ``metric`` (which names the 90 ``"grading"`` digits that no lesson loads), and gives credit linearly between
    ``zero`` (nothing) and ``full`` (all the points). ``full < zero`` when lower is better.
    """

    lesson: str
    build: str
    metric: str
    full: float
    zero: float

    @property
    def file(self) -> str:
        """The name :func:`course_utils.train.save_weights` gives the weights in the notebook's folder."""
        return f"{self.lesson}.weights.pt"

    def credit(self, value: float) -> float:
        """The fraction of the points ``value`` earns: 0 at ``zero`` or worse, 1 at ``full`` or better.

        Linear between the two.
        """
        if not math.isfinite(value):
            return 0.0
        return min(1.0, max(0.0, (value - self.zero) / (self.full - self.zero)))

    def terms(self) -> str:
        """The grading rule, in words."""
        better, worse = ("or less", "or more") if self.full < self.zero else ("or more", "or less")
        return f"full marks at {self.full:g} {better}, none at {self.zero:g} {worse}, in proportion between"


def check_weights_file(spec: Trained, namespace: dict[str, Any], path: Any = None) -> Report:
    """The check of a :class:`Trained` exercise: the saved weights load into the student's architecture.

    ``namespace`` holds the student's classes that ``spec.build`` names. The check cannot say what the
    grader will measure (that uses digits the notebook never loads); it says how the grader scores,
    and whether the file it will read is usable. No file yet reads "not done yet".
    """
    from pathlib import Path

    from ..data import track
    from ..device import fast_mode
    from ..train import WeightsError, load_weights

    current = track()
    if current != "digits":
        return _check_other_track(spec, current, path)
    where = Path(path if path is not None else spec.file)
    if fast_mode():
        note = "fast mode is on, so this file is not the one to hand in"
    else:
        note = "hand it in with the notebook (on a hosted service, download it from the file browser first)"
    print(f"{spec.file}: {note}. The grader measures {spec.metric}: {spec.terms()}.")
    with Check(f"trained model ({spec.file})") as check:
        with check.case(f"{spec.build} builds", required=True):
            model = eval(spec.build, dict(namespace))  # noqa: S307 - the course's own expression
        with check.case("the weights file loads into it", required=True):
            if not where.is_file():
                raise NotYet(f"no {where.name} yet: train the model above, then run the cell that saves it")
            try:
                meta = load_weights(where, model, spec.lesson)
            except WeightsError as err:
                hint = "run the cells above that train and save the model, then this one"
                raise Mismatch(str(err), hint=hint) from None
        if not fast_mode():
            with check.case("trained in the lecture configuration"):
                expect(
                    meta.get("fast") is False,
                    "the weights were trained in fast mode",
                    hint=(
                        "the grader gives no points to weights trained with "
                        "COURSE_FAST set: run the notebook without it"
                    ),
                )
    return check.report


def _check_other_track(spec: Trained, current: str, path: Any) -> Report:
    """check_weights_file on a track other than the digits: the grader scores only the digits track's
    model, so this checks that this track's run saved its own file (which the dashboard can show)."""
    from pathlib import Path

    from ..train import WeightsError, read_weights

    where = Path(path if path is not None else f"{spec.lesson}.{current}.weights.pt")
    print(
        f"This run is on the {current} track. The grader scores the model of the digits track, {spec.file}, "
        f"which a run on the default track (COURSE_TRACK unset) saves; this run saved its own model to {where.name}."
    )
    with Check(f"trained model ({where.name})") as check:
        with check.case(f"{where.name} was saved by this lesson on the {current} track", required=True):
            if not where.is_file():
                raise NotYet(f"no {where.name} yet: train the model above, then run the cell that saves it")
            try:
                read_weights(where, spec.lesson, current)
            except WeightsError as err:
                raise Mismatch(
                    str(err), hint="run the cells above that train and save the model, then this one"
                ) from None
    return check.report


def seeded(seed: int) -> torch.Generator:
    """A CPU generator with a fixed seed: the fixed inputs of a public test."""
    return torch.Generator().manual_seed(seed)


class CheckFailed(AssertionError):
    """Raised by a check cell when a student's function gives a wrong result or crashes."""

    def _render_traceback_(self) -> list[str]:
        """What a notebook shows instead of a traceback: one line (the verdict is printed above it)."""
        return [f"{type(self).__name__}: {self}"]


class NotDone(CheckFailed):
    """Raised by a check cell while the exercise's stub still raises ``NotImplementedError``."""


class NotYet(NotImplementedError):
    """Raised by a case when a step before the check has not run yet (a file the notebook writes is missing):
    the exercise reads "not done yet" with this message, not as a stub."""


class Mismatch(Exception):
    """A case's finding: what was expected, what came back, and a hint."""

    def __init__(self, what: str, expected: Any = None, got: Any = None, hint: str = ""):
        super().__init__(what)
        self.what, self.expected, self.got, self.hint = what, expected, got, hint

    def __str__(self) -> str:
        return self.describe()

    def describe(self) -> str:
        text = self.what
        if self.expected is not None or self.got is not None:
            text += f": expected {_fmt(self.expected)}, got {_fmt(self.got)}"
        return text


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, torch.Tensor):
        if value.numel() == 1:
            return f"{value.item():.6g}"
        return f"tensor of shape {tuple(value.shape)}"
    return repr(value) if isinstance(value, str) else str(value)


@dataclass
class Result:
    name: str
    status: str
    message: str = ""
    hint: str = ""
    stub: bool = True  #: a "not done yet" that came from a stub (not from a missing earlier step, :class:`NotYet`)


@dataclass
class Report:
    """The outcome of one check: each case's result and the overall status."""

    exercise: str
    results: list[Result] = field(default_factory=list)

    @property
    def status(self) -> str:
        statuses = {r.status for r in self.results}
        for status in (TODO, ERROR, FAIL):
            if status in statuses:
                return status
        return PASS

    @property
    def passed(self) -> int:
        return sum(r.status == PASS for r in self.results)

    def __bool__(self) -> bool:
        return self.status == PASS

    def __repr__(self) -> str:
        return f"<Report {self.exercise}: {self.status}, {self.passed} of {len(self.results)} tests pass>"

    def _ipython_display_(self) -> None:
        """Show nothing: the verdict was printed already when the check ran."""

    def text(self) -> str:
        total = len(self.results)
        todo = next((r for r in self.results if r.status == TODO), None)
        if todo is not None and not todo.stub:
            head = f"{self.exercise}: not done yet"
        elif self.status == TODO:
            head = f"{self.exercise}: not done yet (the stub still raises NotImplementedError)"
        elif self.status == PASS:
            head = f"{self.exercise}: all {total} tests pass"
        else:
            head = f"{self.exercise}: {self.passed} of {total} tests pass"
        lines = [head]
        for r in self.results:
            if r.status == TODO:
                if r.message:
                    lines.append(f"  {_MARK[TODO]} {r.message}")
                continue
            lines.append(f"  {_MARK[r.status]} {r.name}" + (f": {r.message}" if r.message and r.status != PASS else ""))
            if r.status != PASS and r.hint:
                lines.append(f"    hint: {r.hint}")
        return "\n".join(lines)


def _student_frame(err: BaseException) -> str:
    """The last traceback line that lies in notebook code (where the student's bug is)."""
    frames = traceback.extract_tb(err.__traceback__)
    for frame in reversed(frames):
        if not any(p in frame.filename for p in ("course_utils", "course_tools", "site-packages")):
            where = "your code" if "ipykernel" in frame.filename or frame.filename.startswith("<") else frame.filename
            return f" (in {where}, line {frame.lineno}: {frame.line})" if frame.line else ""
    return ""


class _Stopped(Exception):
    """Raised out of a case that ends the check early (a stub, or a required case that failed)."""


class Check:
    """A check cell's verdict, built case by case: each case is a ``with`` block, named where its body is::

        with Check("reconstruction_loss") as check:
            with check.case("returns a scalar tensor", required=True):
                expect_scalar(reconstruction_loss(x, x))
            with check.case("value on a fixed batch", hint="sum over the pixels, average over the images"):
                expect_close(reconstruction_loss(x, x_hat), 1.5, "loss on a fixed batch")
        return check.report

    A case passes unless its body raises. :class:`Mismatch` (from :func:`expect` and its kin) is a
    wrong result, any other exception a crash, ``NotImplementedError`` "not done yet". A stub, or
    the failure of a ``required`` case (one the later cases need), ends the check: no later case
    runs. When the outer block ends, the verdict is printed and, unless every case passed,
    :class:`NotDone` or :class:`CheckFailed` is raised (``raise_on_failure=False`` only keeps the
    report, for code that inspects it). Code between cases runs as ordinary code: an exception
    there is the check's own bug and propagates.
    """

    def __init__(self, exercise: str, *, raise_on_failure: bool = True, quiet: bool = False):
        self.report = Report(exercise)
        self.raise_on_failure, self.quiet = raise_on_failure, quiet

    @contextlib.contextmanager
    def case(self, name: str, hint: str = "", required: bool = False) -> Iterator[None]:
        """One named test; ``hint`` is shown when it fails (a :class:`Mismatch` may carry its own)."""
        results = self.report.results
        try:
            yield
        except NotImplementedError as err:
            results.append(Result(name, TODO, str(err) if str(err) else "", stub=not isinstance(err, NotYet)))
            raise _Stopped from None
        except Mismatch as m:
            results.append(Result(name, FAIL, m.describe(), m.hint or hint))
        except Exception as err:  # noqa: BLE001 - a student's crash becomes a verdict
            results.append(Result(name, ERROR, f"raised {type(err).__name__}: {err}{_student_frame(err)}", hint))
        else:
            results.append(Result(name, PASS))
            return
        if required:
            results[-1].hint = f"{results[-1].hint} (the later tests need this one and were not run)".strip()
            raise _Stopped

    def __enter__(self) -> Check:
        return self

    def __exit__(self, kind: type | None, err: BaseException | None, traceback: Any) -> bool:
        if err is not None and not isinstance(err, _Stopped):
            return False
        report = self.report
        if not self.quiet:
            print(report.text())
        if self.raise_on_failure and report.status == TODO:
            todo = next(r for r in report.results if r.status == TODO)
            why = "its stub still raises NotImplementedError" if todo.stub else todo.message
            raise NotDone(f"{report.exercise} is not done yet ({why})") from None
        if self.raise_on_failure and report.status in (FAIL, ERROR):
            # self-contained, for tools that show the error without the printed verdict (nbgrader validate)
            first = next(r for r in report.results if r.status in (FAIL, ERROR))
            detail = f"{first.name}: {first.message}" if first.message else first.name
            detail = detail if len(detail) <= 200 else detail[:197] + "..."
            raise CheckFailed(
                f"{report.exercise}: {report.passed} of {len(report.results)} tests pass; first failure: {detail}"
            ) from None
        return True


# ------------------------------------------------------------------------------------------------
# Assertions for cases
# ------------------------------------------------------------------------------------------------
def expect(condition: bool, what: str, expected: Any = None, got: Any = None, hint: str = "") -> None:
    """Raise :class:`Mismatch` unless ``condition`` holds."""
    if not condition:
        raise Mismatch(what, expected, got, hint)


def expect_tensor(value: Any, what: str = "the result") -> torch.Tensor:
    """``value`` must be a ``torch.Tensor``; returns it."""
    expect(
        isinstance(value, torch.Tensor),
        f"{what} should be a torch.Tensor",
        "torch.Tensor",
        type(value).__name__,
        "use torch operations (not NumPy or Python numbers) so gradients can flow",
    )
    return value


def expect_scalar(value: Any, what: str = "the loss", hint: str = "") -> torch.Tensor:
    """``value`` must be a 0-dimensional tensor (a loss, a batch mean); returns it."""
    expect_tensor(value, what)
    expect(value.dim() == 0, f"{what} should be a scalar", "shape ()", f"shape {tuple(value.shape)}", hint)
    return value


def expect_keys(value: Any, keys: Sequence[str], what: str = "the result", floats: bool = False) -> dict:
    """``value`` must be a dict holding ``keys`` (each a Python float when ``floats``); returns it."""
    expect(
        isinstance(value, Mapping) and set(keys) <= set(value),
        f"{what} should be a dict with the keys {', '.join(repr(k) for k in keys)}",
        sorted(keys),
        sorted(value) if isinstance(value, Mapping) else type(value).__name__,
    )
    if floats:
        expect(
            all(isinstance(value[k], float) for k in keys),
            f"every value of {what} should be a Python float",
            "float",
            {k: type(value[k]).__name__ for k in keys},
            "report numbers (float(...)), not tensors that keep the graph alive",
        )
    return dict(value)


def expect_shape(value: Any, shape: Sequence[int], what: str = "the result", hint: str = "") -> None:
    """``value`` must be a tensor of exactly ``shape``."""
    expect_tensor(value, what)
    expect(tuple(value.shape) == tuple(shape), f"shape of {what}", tuple(shape), tuple(value.shape), hint)


def expect_close(
    got: Any, expected: Any, what: str = "value", *, atol: float = 1e-5, rtol: float = 1e-4, hint: str = ""
) -> None:
    """``got`` must equal ``expected`` within tolerance (numbers or tensors of the same shape)."""
    if isinstance(expected, torch.Tensor) and expected.numel() > 1:
        expect_shape(got, expected.shape, what)
        diff = (got.detach().double() - expected.double()).abs()
        ok = bool((diff <= atol + rtol * expected.double().abs()).all())
        expect(ok, f"{what} (largest difference {diff.max().item():.3g})", None, None, hint)
        return
    try:
        g = float(got.item() if isinstance(got, torch.Tensor) else got)
    except (TypeError, ValueError, RuntimeError):
        raise Mismatch(f"{what} should be a number", float(expected), got, hint) from None
    e = float(expected.item() if isinstance(expected, torch.Tensor) else expected)
    expect(math.isclose(g, e, rel_tol=rtol, abs_tol=atol), what, e, g, hint)


def largest_difference(a: Any, b: Any) -> float:
    """The largest absolute difference between two networks' parameters (``nn.Module``) or two lists of
    tensors, in order: how far a student's step left the weights from a reference step's."""
    if isinstance(a, torch.nn.Module):
        a, b = list(a.parameters()), list(b.parameters())
    with torch.no_grad():
        return max(float((p - q).abs().max()) for p, q in zip(a, b))

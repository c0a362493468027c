import pytest
import torch

from course_utils.checks import (
    Check,
    CheckFailed,
    Mismatch,
    NotDone,
    expect_close,
    expect_keys,
    expect_scalar,
    expect_shape,
)


def _wrong():
    expect_close(0.375, 1.5, "loss value", hint="sum over pixels")


def _crash():
    return {}["missing"]


def test_all_pass(capsys):
    with Check("f") as check:
        with check.case("a"):
            pass
        with check.case("b"):
            pass
    assert check.report and check.report.status == "pass"
    assert "f: all 2 tests pass" in capsys.readouterr().out


def test_not_done_yet_reads_as_a_verdict_stops_the_check_and_raises_a_one_line_error(capsys):
    ran = []
    with pytest.raises(NotDone, match="f is not done yet") as raised:
        with Check("f") as check:
            with check.case("a"):
                raise NotImplementedError("write the loss")
            with check.case("b"):
                ran.append("b")
    out = capsys.readouterr().out
    assert "not done yet" in out and "write the loss" in out and "Traceback" not in out and not ran
    # what a notebook shows in place of the traceback (IPython's _render_traceback_): one line
    assert raised.value._render_traceback_() == [
        "NotDone: f is not done yet (its stub still raises NotImplementedError)"
    ]
    assert isinstance(raised.value, CheckFailed)  # a grade cell that is not done is a failed one
    with Check("f", raise_on_failure=False) as check:
        with check.case("a"):
            raise NotImplementedError
    assert check.report.status == "todo" and len(check.report.results) == 1


def test_wrong_value_shows_expected_got_and_hint_and_later_cases_still_run(capsys):
    # the error alone names the first failure (nbgrader shows the error without the printed verdict)
    with pytest.raises(
        CheckFailed, match=r"1 of 2 tests pass; first failure: value: loss value: expected 1.5, got 0.375"
    ):
        with Check("loss") as check:
            with check.case("value"):
                _wrong()
            with check.case("a"):
                pass
    out = capsys.readouterr().out
    assert "✗ value: loss value: expected 1.5, got 0.375" in out and "hint: sum over pixels" in out and "✓ a" in out


def test_exceptions_name_the_type_and_the_line(capsys):
    with Check("f", raise_on_failure=False) as check:
        with check.case("crashes", hint="look up the key"):
            _crash()
    out = capsys.readouterr().out
    assert check.report.status == "error" and "raised KeyError: 'missing'" in out and "hint: look up the key" in out


def test_required_case_stops_the_check(capsys):
    with Check("f", raise_on_failure=False) as check:
        with check.case("build", required=True):
            _crash()
        with check.case("later"):
            pytest.fail("a case after a failed required one ran")
    assert len(check.report.results) == 1 and "the later tests need this one" in capsys.readouterr().out


def test_an_error_outside_every_case_is_the_checks_own_and_propagates():
    with pytest.raises(ZeroDivisionError):
        with Check("f", quiet=True):
            _ = 1 / 0


def test_helpers():
    expect_shape(torch.zeros(2, 3), (2, 3))
    with pytest.raises(Mismatch, match=r"shape of the result: expected \(3, 2\), got \(2, 3\)"):
        expect_shape(torch.zeros(2, 3), (3, 2))
    with pytest.raises(Mismatch, match="should be a torch.Tensor"):
        expect_shape([1, 2], (2,))
    expect_close(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0 + 1e-7]))
    with pytest.raises(Mismatch, match="largest difference"):
        expect_close(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.5]))
    with pytest.raises(Mismatch, match="should be a number"):
        expect_close("x", 1.0)


def test_scalar_and_keys():
    assert expect_scalar(torch.tensor(1.0)) == 1.0
    with pytest.raises(Mismatch, match=r"the loss should be a scalar: expected 'shape \(\)', got 'shape \(2,\)'"):
        expect_scalar(torch.zeros(2))
    with pytest.raises(Mismatch, match="should be a torch.Tensor"):
        expect_scalar(1.0)
    assert expect_keys({"a": 1.0, "b": 2.0, "c": 0}, ["a", "b"], floats=True) == {"a": 1.0, "b": 2.0, "c": 0}
    with pytest.raises(Mismatch, match=r"should be a dict with the keys 'a', 'b': expected \['a', 'b'\], got \['a'\]"):
        expect_keys({"a": 1.0}, ["a", "b"])
    with pytest.raises(Mismatch, match="got .tuple."):
        expect_keys((1, 2), ["a"])
    with pytest.raises(Mismatch, match="should be a Python float"):
        expect_keys({"a": torch.tensor(1.0)}, ["a"], floats=True)

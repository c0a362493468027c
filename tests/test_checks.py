import pytest
import torch

from course_utils.checks import Case, CheckFailed, Mismatch, NotDone, expect_close, expect_shape, run_cases


def _ok():
    pass


def _todo():
    raise NotImplementedError("write the loss")


def _wrong():
    expect_close(0.375, 1.5, "loss value", hint="sum over pixels")


def _crash():
    return {}["missing"]


def test_all_pass(capsys):
    report = run_cases("f", [Case("a", _ok), Case("b", _ok)])
    assert report and report.status == "pass"
    assert "f: all 2 tests pass" in capsys.readouterr().out


def test_not_done_yet_reads_as_a_verdict_and_raises_a_one_line_error(capsys):
    with pytest.raises(NotDone, match="f is not done yet") as raised:
        run_cases("f", [Case("a", _todo), Case("b", _ok)])
    out = capsys.readouterr().out
    assert "not done yet" in out and "write the loss" in out and "Traceback" not in out
    # what a notebook shows in place of the traceback (IPython's _render_traceback_): one line
    assert raised.value._render_traceback_() == [
        "NotDone: f is not done yet (its stub still raises NotImplementedError)"
    ]
    assert isinstance(raised.value, CheckFailed)  # a grade cell that is not done is a failed one
    report = run_cases("f", [Case("a", _todo), Case("b", _ok)], raise_on_failure=False)
    assert report.status == "todo" and len(report.results) == 1


def test_wrong_value_shows_expected_got_and_hint(capsys):
    # the error alone names the first failure (nbgrader shows the error without the printed verdict)
    with pytest.raises(
        CheckFailed, match=r"1 of 2 tests pass; first failure: value: loss value: expected 1.5, got 0.375"
    ):
        run_cases("loss", [Case("a", _ok), Case("value", _wrong)])
    out = capsys.readouterr().out
    assert "✗ value: loss value: expected 1.5, got 0.375" in out and "hint: sum over pixels" in out


def test_exceptions_name_the_type_and_the_line(capsys):
    report = run_cases("f", [Case("crashes", _crash, hint="look up the key")], raise_on_failure=False)
    out = capsys.readouterr().out
    assert report.status == "error" and "raised KeyError: 'missing'" in out and "hint: look up the key" in out


def test_required_case_stops_the_check(capsys):
    report = run_cases("f", [Case("build", _crash, required=True), Case("later", _ok)], raise_on_failure=False)
    assert len(report.results) == 1 and "1 later tests need this one" in capsys.readouterr().out


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

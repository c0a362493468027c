import pytest
import torch

from course_utils.checks import CheckFailed, Case, Mismatch, expect_close, expect_shape, run_cases


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


def test_not_done_yet_is_not_a_crash(capsys):
    report = run_cases("f", [Case("a", _todo), Case("b", _ok)])
    out = capsys.readouterr().out
    assert report.status == "todo" and len(report.results) == 1
    assert "not done yet" in out and "write the loss" in out and "Traceback" not in out


def test_wrong_value_shows_expected_got_and_hint(capsys):
    with pytest.raises(CheckFailed, match="1 of 2 tests pass"):
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

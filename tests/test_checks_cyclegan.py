"""The lesson 06 checks name typical mistakes (that they pass on the solution is tested in test_lesson06)."""

import pytest
import torch

from course_tools.build import lesson_namespace
from course_utils.checks import CheckFailed
from course_utils.checks import cyclegan as checks

_solution = lesson_namespace(
    "06_cyclegan", ["ex-cycle-loss", "ex-identity-loss", "ex-image-buffer", "ex-generator-objective"]
)
cycle_loss, identity_loss, ImageBuffer = _solution["cycle_loss"], _solution["identity_loss"], _solution["ImageBuffer"]


class NeverMixes(ImageBuffer):
    def __call__(self, images):
        return images.detach()


class KeepsGraph(ImageBuffer):
    def __call__(self, images):
        return images


@pytest.mark.parametrize(
    "check,wrong,message",
    [
        (checks.check_cycle_loss, lambda G, F, x, y: ((F(G(x)) - x) ** 2).mean() + ((G(F(y)) - y) ** 2).mean(), "L1"),
        (checks.check_cycle_loss, lambda G, F, x, y: (F(G(x)) - x).abs().mean(), "both directions"),
        (
            checks.check_identity_loss,
            lambda G, F, x, y: (G(x) - x).abs().mean() + (F(y) - y).abs().mean(),
            "G(y) with y",
        ),
        (checks.check_image_buffer, NeverMixes, "about half"),
        (checks.check_image_buffer, KeepsGraph, "detach"),
        (
            checks.check_generator_objective,
            lambda G, F, D_X, D_Y, x, y, lambda_cycle=10.0, lambda_identity=5.0: {
                "loss": torch.tensor(0.0),
                "adversarial": (D_Y(G(x)) ** 2).mean() + (D_X(F(y)) ** 2).mean(),
                "cycle": cycle_loss(G, F, x, y),
                "identity": identity_loss(G, F, x, y),
            },
            "toward 1",
        ),
    ],
)
def test_mistakes_are_named(check, wrong, message, capsys):
    with pytest.raises(CheckFailed):
        check(wrong)
    assert message in capsys.readouterr().out

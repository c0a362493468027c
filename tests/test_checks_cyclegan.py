"""The lesson 06 checks pass on correct code and name typical mistakes."""

import random

import pytest
import torch

from course_utils.checks import CheckFailed
from course_utils.checks import cyclegan as checks


def cycle_loss(G, F, x, y):
    return (F(G(x)) - x).abs().mean() + (G(F(y)) - y).abs().mean()


def identity_loss(G, F, x, y):
    return (G(y) - y).abs().mean() + (F(x) - x).abs().mean()


class ImageBuffer:
    def __init__(self, size=50):
        self.size, self.images = size, []

    def __call__(self, images):
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif random.random() < 0.5:
                i = random.randrange(self.size)
                out.append(self.images[i].clone())
                self.images[i] = image
            else:
                out.append(image)
        return torch.stack(out)


def generator_objective(G, F, D_X, D_Y, x, y, lambda_cycle=10.0, lambda_identity=5.0):
    adversarial = ((D_Y(G(x)) - 1) ** 2).mean() + ((D_X(F(y)) - 1) ** 2).mean()
    cycle, identity = cycle_loss(G, F, x, y), identity_loss(G, F, x, y)
    return {"loss": adversarial + lambda_cycle * cycle + lambda_identity * identity,
            "adversarial": adversarial, "cycle": cycle, "identity": identity}


def test_correct_code_passes(capsys):
    assert checks.check_cycle_loss(cycle_loss)
    assert checks.check_identity_loss(identity_loss)
    assert checks.check_image_buffer(ImageBuffer)
    assert checks.check_generator_objective(generator_objective)


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
        (checks.check_identity_loss, lambda G, F, x, y: (G(x) - x).abs().mean() + (F(y) - y).abs().mean(), "G(y) with y"),
        (checks.check_image_buffer, NeverMixes, "about half"),
        (checks.check_image_buffer, KeepsGraph, "detach"),
        (checks.check_generator_objective,
         lambda G, F, D_X, D_Y, x, y, lambda_cycle=10.0, lambda_identity=5.0: {
             "loss": torch.tensor(0.0), "adversarial": (D_Y(G(x)) ** 2).mean() + (D_X(F(y)) ** 2).mean(),
             "cycle": cycle_loss(G, F, x, y), "identity": identity_loss(G, F, x, y)}, "toward 1"),
    ],
)
def test_mistakes_are_named(check, wrong, message, capsys):
    with pytest.raises(CheckFailed):
        check(wrong)
    assert message in capsys.readouterr().out

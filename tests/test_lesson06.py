"""Lesson 06: the cycle loss, the history buffer and the generator objective of the solution."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from course_tools.build import lesson_namespace


@pytest.fixture(scope="module")
def solution():
    return lesson_namespace(
        "06_cyclegan",
        [
            "ex-cycle-loss",
            "ex-identity-loss",
            "ex-image-buffer",
            "ex-generator-objective",
            "ex-cyclegan-update",
            "lib-translation-models",
        ],
    )


def test_cycle_loss_is_zero_for_inverse_maps_and_positive_otherwise(solution):
    torch.manual_seed(0)
    x, y = torch.rand(8, 1, 8, 8), torch.rand(8, 1, 8, 8)
    flip = lambda t: t.flip(-1)  # noqa: E731  its own inverse
    assert solution["cycle_loss"](flip, flip, x, y).item() == 0.0
    assert solution["cycle_loss"](lambda t: 1 - t, lambda t: 1 - t, x, y).item() == pytest.approx(0.0, abs=1e-7)
    assert solution["cycle_loss"](flip, lambda t: t, x, y).item() > 0.1
    translator = solution["Translator"]()
    assert solution["cycle_loss"](translator, translator, x, y).item() > 0


def test_history_buffer_sampling(solution):
    random.seed(0)
    buffer = solution["ImageBuffer"](5)
    first = torch.arange(5.0).view(5, 1, 1, 1)
    assert torch.equal(buffer(first), first)  # filling: returned unchanged
    returned_old = 0
    for k in range(200):
        out = buffer(torch.full((1, 1, 1, 1), 100.0 + k))
        value = float(out)
        assert value == 100.0 + k or value < 100.0 + k  # a new image or one stored earlier
        returned_old += value != 100.0 + k
        assert len(buffer.images) == 5
    assert 70 < returned_old < 130  # about half (binomial, n = 200, p = 0.5)


@pytest.mark.parametrize("side", [8, 28])
def test_translator_and_discriminator_shapes(solution, side):
    x = torch.rand(3, 1, side, side)
    translator = solution["Translator"](side=side)
    out = translator(x).detach()
    assert out.shape == x.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    assert solution["PatchDiscriminator"](2, side=side)(torch.cat([x, x], 1)).shape == (3, 1)  # a score per image
    smallest = min(m.out_channels for m in translator.modules() if isinstance(m, nn.Conv2d) and m.out_channels > 1)
    assert smallest == (16 if side == 8 else 8)  # at 28x28 the full-size layers are half as wide


def test_generator_objective_trains_toward_inverse_maps(solution):
    """A few steps on the cycle term alone shrink it (the objective is differentiable end to end)."""
    torch.manual_seed(1)
    G, F_ = solution["Translator"](width=8), solution["Translator"](width=8)
    D = nn.Sequential(nn.Flatten(), nn.Linear(64, 1))
    x, y = torch.rand(16, 1, 8, 8), torch.rand(16, 1, 8, 8)
    optimizer = torch.optim.Adam(list(G.parameters()) + list(F_.parameters()), lr=1e-2)
    start = solution["cycle_loss"](G, F_, x, y).item()
    for _ in range(30):
        out = solution["generator_objective"](G, F_, D, D, x, y, lambda_cycle=10.0, lambda_identity=0.0)
        optimizer.zero_grad()
        (out["loss"] - out["adversarial"]).backward()
        optimizer.step()
    assert solution["cycle_loss"](G, F_, x, y).item() < 0.7 * start

"""Probes for lesson 05 (Wasserstein GANs): see :mod:`course_tools.probes`."""

from __future__ import annotations

import torch
from torch import nn

from course_tools.probes import Probe
from course_utils.checks.wgan import _HalfSquare


# ------------------------------------------------------------------------------------------------
# Inputs (drawn in the grader's process from the grading seed)
# ------------------------------------------------------------------------------------------------
def _random_samples(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"u": torch.randn(300, generator=g), "v": 2 * torch.rand(300, generator=g) + 1}


def _equal_means(g: torch.Generator) -> dict[str, torch.Tensor]:
    """Two samples with exactly the same mean and different spreads and shapes (not a shift of each other)."""
    u, v = torch.randn(300, generator=g), 4 * torch.rand(300, generator=g)
    shift = torch.randn((), generator=g)
    return {"u": u - u.mean() + shift, "v": v - v.mean() + shift}


def _random_scores(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"real": 3 * torch.randn(10, 1, generator=g), "fake": 3 * torch.randn(12, 1, generator=g)}


def _shifted_points(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"real": torch.randn(32, 2, generator=g) + 3, "fake": torch.randn(32, 2, generator=g)}


def _segment_end(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"a": 1.2 + 0.6 * torch.rand((), generator=g)}


def _image_batches(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"real": torch.rand(8, 1, 8, 8, generator=g), "fake": torch.rand(8, 1, 8, 8, generator=g)}


def _step_batch(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {
        "real": torch.randn(30, 2, generator=g) + 2 * torch.rand(1, 2, generator=g),
        "z": torch.randn(30, 2, generator=g),
    }


# ------------------------------------------------------------------------------------------------
# The probes (run in the student's kernel and on the reference)
# ------------------------------------------------------------------------------------------------
def w1(inp, wasserstein_1d):
    return wasserstein_1d(inp["u"], inp["v"])


def losses(inp, critic_loss, wgan_generator_loss):
    return [critic_loss(inp["real"], inp["fake"]), wgan_generator_loss(inp["fake"])]


def clipped(inp, clip_weights):
    m = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
    clip_weights(m, 0.05)
    return [p.detach().clone() for p in m.parameters()]


def penalty_of_linear_critic(inp, gradient_penalty):
    critic = nn.Linear(2, 1)
    penalty = gradient_penalty(critic, inp["real"], inp["fake"])
    return [penalty, torch.autograd.grad(penalty, critic.weight)[0]]


def penalty_of_half_square(inp, gradient_penalty):
    return gradient_penalty(_HalfSquare(), inp["a"] * torch.ones(100000, 2), torch.zeros(100000, 2))


def penalty_on_images(inp, gradient_penalty):
    return gradient_penalty(nn.Sequential(nn.Flatten(), nn.Linear(64, 1)), inp["real"], inp["fake"])


def _after_step(wgan_step, inp, n_critic: int, clip: float | None, penalty: float | None, linear: bool) -> list:
    """The weights and the returned values after one call of the student's step (SGD, lr 0.1)."""
    G = nn.Sequential(nn.Linear(2, 5), nn.Tanh(), nn.Linear(5, 2))
    C = nn.Linear(2, 1) if linear else nn.Sequential(nn.Linear(2, 5), nn.Tanh(), nn.Linear(5, 1))
    step = wgan_step(n_critic, clip=clip, penalty=penalty)
    out = step(
        G, C, torch.optim.SGD(G.parameters(), lr=0.1), torch.optim.SGD(C.parameters(), lr=0.1), inp["real"], inp["z"]
    )
    return [[p.detach().clone() for p in [*G.parameters(), *C.parameters()]], out["W_estimate"], out["loss_G"]]


def step_plain(inp, wgan_step):
    return _after_step(wgan_step, inp, 3, None, None, linear=False)


def step_clipped(inp, wgan_step):
    return _after_step(wgan_step, inp, 2, 0.05, None, linear=False)


def step_penalised(inp, wgan_step):
    return _after_step(wgan_step, inp, 2, None, 3.0, linear=True)


PROBES: dict[str, list[Probe]] = {
    "check-wasserstein-1d": [
        Probe("W1 between random samples", w1, _random_samples),
        Probe("W1 between samples with equal means and different spreads", w1, _equal_means),
    ],
    "check-critic-losses": [
        Probe("critic and generator losses on random scores", losses, _random_scores),
    ],
    "check-clip-weights": [
        Probe("parameters after clipping", clipped),
    ],
    "check-gradient-penalty": [
        Probe(
            "penalty of a random linear critic (exact for any t) and its gradient in the weights",
            penalty_of_linear_critic,
            _shifted_points,
        ),
        Probe(
            "penalty of f(x) = ½||x||² on segments from 0 to (a, a): one uniform t per sample (a mean over 100,000)",
            penalty_of_half_square,
            _segment_end,
            atol=0.02,
            rtol=0.0,
        ),
        Probe("penalty on image batches", penalty_on_images, _image_batches),
    ],
    "check-wgan-step": [
        Probe("weights, W estimate and generator loss after one step (3 critic steps)", step_plain, _step_batch),
        Probe("the same with clipping at 0.05 (2 critic steps)", step_clipped, _step_batch),
        Probe(
            "the same with a gradient penalty of weight 3 on a linear critic (2 critic steps)",
            step_penalised,
            _step_batch,
        ),
    ],
}

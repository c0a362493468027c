"""Probes for lesson 04 (GANs): see :mod:`course_tools.probes`."""

from __future__ import annotations

import torch
from torch import nn

from course_tools.probes import Probe
from course_utils.checks.gan import without_mode_coverage


# ------------------------------------------------------------------------------------------------
# Inputs (drawn in the grader's process from the grading seed)
# ------------------------------------------------------------------------------------------------
def _random_logit_pairs(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"real": 5 * torch.randn(9, 1, generator=g), "fake": 5 * torch.randn(7, 1, generator=g)}


def _confident_logit_pairs(g: torch.Generator) -> dict[str, torch.Tensor]:
    """Real logits far below zero and fake logits far above it (the discriminator sure and wrong), where
    σ rounds to 0 or 1 in float32, mixed with ordinary ones."""
    return {
        "real": torch.cat([-(110 + 50 * torch.rand(3, 1, generator=g)), 5 * torch.randn(3, 1, generator=g)]),
        "fake": torch.cat([30 + 70 * torch.rand(3, 1, generator=g), 5 * torch.randn(2, 1, generator=g)]),
    }


def _random_logits(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"l": 5 * torch.randn(8, 1, generator=g)}


def _confident_logits(g: torch.Generator) -> dict[str, torch.Tensor]:
    """|l| from 30 to 160, where a sigmoid rounds to 0 or 1 in float32, and two ordinary logits."""
    return {
        "l": torch.cat(
            [
                30 + 70 * torch.rand(3, 1, generator=g),
                -(110 + 50 * torch.rand(3, 1, generator=g)),
                5 * torch.randn(2, 1, generator=g),
            ]
        )
    }


def _step_batch(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"real": torch.randn(16, 2, generator=g) + 2, "z": torch.randn(16, 2, generator=g)}


def _hand_made(g: torch.Generator) -> dict[str, torch.Tensor]:
    modes = 4 * torch.randn(6, 2, generator=g)
    counts = torch.randint(0, 60, (6,), generator=g)
    samples = torch.cat(
        [modes[k] + 0.1 * torch.randn(int(c), 2, generator=g) for k, c in enumerate(counts)]
        + [torch.randn(30, 2, generator=g) * 5]
    )
    return {"samples": samples, "modes": modes}


def _just_outside(g: torch.Generator) -> dict[str, torch.Tensor]:
    """Six well-separated modes, each with 5 or 25 samples within 1.5 std and 30 samples 4–6 std away (outside
    the 3-std disc, but nearer to this mode than to any other): only the modes with 25 inside count."""
    modes = torch.stack([torch.arange(6.0) * 3, torch.zeros(6)], 1) + 0.5 * torch.rand(6, 2, generator=g)
    inside = torch.tensor([5, 25, 5, 25, 5, 25])[torch.randperm(6, generator=g)]
    parts = []
    for k, n in enumerate(inside):
        parts.append(modes[k] + 0.15 * (torch.rand(int(n), 2, generator=g) - 0.5))
        angle = 2 * torch.pi * torch.rand(30, generator=g)
        radius = 0.4 + 0.2 * torch.rand(30, generator=g)
        parts.append(modes[k] + radius[:, None] * torch.stack([angle.cos(), angle.sin()], 1))
    samples = torch.cat(parts)
    return {"samples": samples[torch.randperm(len(samples), generator=g)], "modes": modes}


def _near_threshold(g: torch.Generator) -> dict[str, torch.Tensor]:
    """Six well-separated modes with 19, 20 or 21 samples each (within 1.5 std), every count present."""
    modes = torch.stack([torch.arange(6.0) * 3, torch.zeros(6)], 1) + 0.5 * torch.rand(6, 2, generator=g)
    counts = torch.tensor([19, 20, 21, 19, 20, 21])[torch.randperm(6, generator=g)]
    samples = torch.cat([modes[k] + 0.1 * (torch.rand(int(c), 2, generator=g) - 0.5) for k, c in enumerate(counts)])
    return {"samples": samples[torch.randperm(len(samples), generator=g)], "modes": modes}


# ------------------------------------------------------------------------------------------------
# The probes (run in the student's kernel and on the reference)
# ------------------------------------------------------------------------------------------------
def discriminator_loss_value(inp, discriminator_loss):
    return discriminator_loss(inp["real"], inp["fake"])


def generator_loss_values(inp, generator_loss):
    return [generator_loss(inp["l"], saturating=True), generator_loss(inp["l"], saturating=False)]


def generator_loss_gradients(inp, generator_loss):
    l = inp["l"].requires_grad_()  # noqa: E741 - the logit, as in the lesson
    out = []
    for saturating in (True, False):
        loss = generator_loss(l, saturating=saturating)
        out += [loss, torch.autograd.grad(loss, l)[0]]
    return out


def _small_models(sure_fake: bool = False) -> tuple[nn.Module, nn.Module]:
    """A 2-8-2 generator and a 2-8-1 discriminator; ``sure_fake`` starts D's last bias at −3 (D ≈ 0.05 everywhere):
    where the saturating and non-saturating generator losses differ most (near D = ½ their gradients nearly agree)."""
    G = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))
    D = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    if sure_fake:
        nn.init.constant_(D[2].bias, -3.0)
    return G, D


def _after_steps(gan_step, inp, steps: int = 1, sure_fake: bool = False) -> list[torch.Tensor]:
    """Every parameter of G and D after ``steps`` calls of ``gan_step`` with SGD (lr 0.1) on one batch."""
    G, D = _small_models(sure_fake)
    opt_G, opt_D = torch.optim.SGD(G.parameters(), lr=0.1), torch.optim.SGD(D.parameters(), lr=0.1)
    for _ in range(steps):
        gan_step(G, D, opt_G, opt_D, inp["real"], inp["z"])
    return [p.detach().clone() for p in [*G.parameters(), *D.parameters()]]


def one_step(inp, gan_step):
    return _after_steps(gan_step, inp)


def one_step_sure_fake(inp, gan_step):
    return _after_steps(gan_step, inp, sure_fake=True)


def two_steps(inp, gan_step):
    return _after_steps(gan_step, inp, steps=2)


def modes_counted(inp, modes_captured):
    # metrics.mode_coverage refuses to run meanwhile: the count must be the student's own
    return without_mode_coverage(lambda: modes_captured(inp["samples"], inp["modes"], 0.1))


PROBES: dict[str, list[Probe]] = {
    "check-discriminator-loss": [
        Probe("loss on random logits", discriminator_loss_value, _random_logit_pairs),
        Probe("loss on logits far from zero", discriminator_loss_value, _confident_logit_pairs),
    ],
    "check-generator-loss": [
        Probe("both losses on random logits", generator_loss_values, _random_logits),
        Probe(
            "both losses and their gradients at confident logits (|l| from 30 to 160)",
            generator_loss_gradients,
            _confident_logits,
            atol=1e-5,
        ),
    ],
    "check-gan-step": [
        Probe("parameters after one step", one_step, _step_batch),
        Probe(
            "parameters after one step against a discriminator sure the samples are fake",
            one_step_sure_fake,
            _step_batch,
        ),
        Probe("parameters after two steps in a row (no gradient left over)", two_steps, _step_batch),
    ],
    "check-modes-captured": [
        Probe("modes captured on hand-made samples", modes_counted, _hand_made),
        Probe("modes with samples just outside 3 standard deviations", modes_counted, _just_outside),
        Probe("modes with 19, 20 or 21 samples (the 20-sample threshold)", modes_counted, _near_threshold),
    ],
}

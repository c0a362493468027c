"""Checks for lesson 05 (Wasserstein GANs). Each ``check_*`` takes the student's function."""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from . import Case, Report, seeded, expect, expect_close, expect_tensor, run_cases

__all__ = ["check_wasserstein_1d", "check_clip_weights", "check_critic_losses", "check_gradient_penalty"]



# ------------------------------------------------------------------------------------------------
def check_wasserstein_1d(wasserstein_1d: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Report:
    """W1 between two samples of equal size in 1D: the mean distance between their sorted values."""
    __tracebackhide__ = True

    def value() -> None:
        got = wasserstein_1d(torch.tensor([0.0, 1.0, 3.0]), torch.tensor([5.0, 1.0, 2.0]))
        expect_tensor(got, "W")
        hint = "sort both samples first: the optimal plan in 1D matches them in order"
        expect_close(got, 4 / 3, "W between {0, 1, 3} and {5, 1, 2}", hint=hint)

    def shift() -> None:
        x = torch.randn(1000, generator=seeded(0))
        expect_close(wasserstein_1d(x, x + 2.5), 2.5, "W between a sample and itself shifted by 2.5")
        expect_close(wasserstein_1d(x, x[torch.randperm(1000, generator=seeded(1))]), 0.0,
                     "W between a sample and a shuffled copy of it")

    def symmetric() -> None:
        a, b = torch.rand(50, generator=seeded(2)), 3 * torch.rand(50, generator=seeded(3))
        expect_close(wasserstein_1d(a, b), wasserstein_1d(b, a), "W(a, b) against W(b, a)",
                     hint="use the absolute difference |sorted a − sorted b|")

    return run_cases("wasserstein_1d", [
        Case("value on a small example", value, required=True),
        Case("shifts and permutations", shift),
        Case("symmetric", symmetric),
    ])


# ------------------------------------------------------------------------------------------------
def check_clip_weights(clip_weights: Callable[[nn.Module, float], None]) -> Report:
    """``clip_weights(critic, c)``: every parameter clamped to [−c, c], in place."""
    __tracebackhide__ = True

    def clipped() -> None:
        torch.manual_seed(0)
        critic = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
        with torch.no_grad():
            for p in critic.parameters():
                p.mul_(10)
        before = [p.detach().clone() for p in critic.parameters()]
        out = clip_weights(critic, 0.05)
        expect(out is None, "clip_weights should change the critic in place and return None", None, type(out).__name__)
        for (name, p), old in zip(critic.named_parameters(), before):
            p = p.detach()
            expect(float(p.abs().max()) <= 0.05 + 1e-7, f"{name} should lie in [−0.05, 0.05]", "≤ 0.05",
                   float(p.abs().max()), "for p in critic.parameters(): p.data.clamp_(-c, c) (or under torch.no_grad())")
            inside = old.abs() <= 0.05
            expect(torch.equal(p[inside], old[inside]), f"{name}: weights already inside [−c, c] must not change",
                   True, False, "clamp, do not rescale the whole tensor")
            expect(torch.equal(p[~inside], old[~inside].sign() * 0.05), f"{name}: weights outside go to ±c", True, False)

    def trainable() -> None:
        critic = nn.Linear(2, 1)
        clip_weights(critic, 0.01)
        critic(torch.randn(4, 2)).sum().backward()
        expect(critic.weight.grad is not None and critic.weight.requires_grad,
               "the critic should still be trainable after clipping", True, False,
               "clamp p.data (or in torch.no_grad()); do not replace parameters with new tensors")

    return run_cases("clip_weights", [
        Case("every parameter in [−c, c], clamped in place", clipped, required=True),
        Case("parameters stay trainable", trainable),
    ])


# ------------------------------------------------------------------------------------------------
def check_critic_losses(critic_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                        generator_loss: Callable[[torch.Tensor], torch.Tensor]) -> Report:
    """critic: E[f(x̃)] − E[f(x)] (minimised, so E_real f − E_fake f grows); generator: −E[f(x̃)]."""
    __tracebackhide__ = True
    real, fake = torch.tensor([[2.0], [4.0]]), torch.tensor([[-1.0], [0.0], [1.0]])

    def critic() -> None:
        got = critic_loss(real, fake)
        expect_tensor(got, "critic loss")
        hint = "the critic minimises E[f(fake)] − E[f(real)]: you have the sign reversed" if abs(float(got) - 3.0) < 1e-6 else (
            "no logarithm or sigmoid: a critic's scores are raw numbers" if not math.isfinite(float(got)) else "")
        expect_close(got, -3.0, "critic loss for real scores {2, 4}, fake scores {−1, 0, 1}", hint=hint)

    def generator() -> None:
        expect_close(generator_loss(fake), 0.0, "generator loss for fake scores {−1, 0, 1}")
        expect_close(generator_loss(torch.tensor([[3.0], [5.0]])), -4.0, "generator loss for fake scores {3, 5}",
                     hint="the generator maximises E[f(fake)]: minimise −mean(fake scores)")

    return run_cases("critic_loss and generator_loss", [
        Case("critic loss", critic, required=True),
        Case("generator loss", generator),
    ])


# ------------------------------------------------------------------------------------------------
class _Linear(nn.Module):
    def __init__(self, w: list[float]):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.w).sum(1, keepdim=True)


class _HalfSquare(nn.Module):
    """f(x) = scale · ½||x||², so ∇f(x) = scale · x."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * 0.5 * (x**2).sum(1, keepdim=True)


def check_gradient_penalty(gradient_penalty: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]) -> Report:
    """E[(||∇f(x̂)|| − 1)²] at x̂ = t·x + (1 − t)·x̃, t ~ U[0, 1] per sample (Gulrajani et al. 2017)."""
    __tracebackhide__ = True
    real = torch.randn(64, 2, generator=seeded(4))
    fake = torch.randn(64, 2, generator=seeded(5)) + 3

    def unit() -> None:
        got = expect_tensor(gradient_penalty(_Linear([0.6, 0.8]), real, fake), "the penalty")
        expect(got.dim() == 0, "the penalty should be a scalar", "shape ()", f"shape {tuple(got.shape)}",
               "average over the batch")
        expect_close(got, 0.0, "penalty of f(x) = 0.6·x₁ + 0.8·x₂ (gradient norm 1 everywhere)",
                     hint="the norm of the gradient per sample: grad.norm(dim=1)")

    def steep() -> None:
        got = gradient_penalty(_Linear([2.0, 0.0]), real, fake).detach()
        hint = "square the difference from 1: (||∇f|| − 1)²" if abs(float(got) - 1.0) > 1e-4 else ""
        expect_close(got, 1.0, "penalty of f(x) = 2·x₁ (gradient norm 2 everywhere)", hint=hint)
        expect_close(gradient_penalty(_Linear([0.0, 0.0]), real, fake), 1.0, "penalty of f = 0 (gradient norm 0)",
                     hint="penalise deviations from 1 on both sides, not only norms above 1")

    def on_segments() -> None:
        torch.manual_seed(0)
        ones, zeros = torch.ones(200_000, 2), torch.zeros(200_000, 2)
        got = float(gradient_penalty(_HalfSquare(), ones, zeros).detach())
        expected = 2 / 3 - math.sqrt(2) + 1  # E[(√2·t − 1)²], t ~ U[0, 1]
        expect(abs(got - expected) < 0.005, "x̂ must lie on the segment from fake to real: one t per sample",
               round(expected, 4), round(got, 4),
               "t = torch.rand(len(real), 1) (shape N x 1, broadcast over the coordinates), not torch.rand_like(real)")

    def differentiable() -> None:
        critic = _Linear([2.0, 0.0])
        penalty = gradient_penalty(critic, real, fake)
        expect(penalty.requires_grad, "the penalty must be differentiable in the critic's weights", True, False,
               "torch.autograd.grad(..., create_graph=True) keeps the graph for the critic's update")
        penalty.backward()
        expect_close(critic.w.grad, torch.tensor([2.0, 0.0]), "d penalty / d w for f(x) = w·x at w = (2, 0)",
                     hint="(||w|| − 1)² has gradient 2(||w|| − 1)·w/||w||")

    return run_cases("gradient_penalty", [
        Case("zero for a function with unit gradient norm", unit, required=True),
        Case("(norm − 1)² for other slopes", steep),
        Case("interpolates along segments, one t per sample", on_segments),
        Case("differentiable in the critic's weights", differentiable),
    ])


# ------------------------------------------------------------------------------------------------
# Probes for the auto-grader
# ------------------------------------------------------------------------------------------------
from . import Probe  # noqa: E402

PROBES: dict[str, list[Probe]] = {
    "check-wasserstein-1d": [
        Probe("W1 between random samples", "wasserstein_1d(inp['u'], inp['v'])",
              lambda g: {"u": torch.randn(300, generator=g), "v": 2 * torch.rand(300, generator=g) + 1}),
    ],
    "check-critic-losses": [
        Probe("critic and generator losses on random scores",
              "[critic_loss(inp['real'], inp['fake']), wgan_generator_loss(inp['fake'])]",
              lambda g: {"real": 3 * torch.randn(10, 1, generator=g), "fake": 3 * torch.randn(12, 1, generator=g)}),
    ],
    "check-clip-weights": [
        Probe("parameters after clipping",
              "(lambda m: (clip_weights(m, 0.05), [p.detach().clone() for p in m.parameters()])[1])"
              "(torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)))"),
    ],
    "check-gradient-penalty": [
        Probe("penalty of a random linear critic (exact for any t)", "gradient_penalty(torch.nn.Linear(2, 1), inp['real'], inp['fake'])",
              lambda g: {"real": torch.randn(32, 2, generator=g) + 3, "fake": torch.randn(32, 2, generator=g)}),
        Probe("penalty on image batches",
              "gradient_penalty(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 1)), inp['real'], inp['fake'])",
              lambda g: {"real": torch.rand(8, 1, 8, 8, generator=g), "fake": torch.rand(8, 1, 8, 8, generator=g)}),
    ],
}

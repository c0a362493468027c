"""Checks for lesson 05 (Wasserstein GANs). Each ``check_*`` takes the student's function."""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from . import Check, Report, expect, expect_close, expect_keys, expect_scalar, expect_tensor, largest_difference, seeded

__all__ = [
    "check_wasserstein_1d",
    "check_clip_weights",
    "check_critic_losses",
    "check_gradient_penalty",
    "check_wgan_step",
]


_MEANS = (
    "W is not the distance between the means: two samples with the same mean can still be far apart "
    "(different spreads or shapes); move every value to its partner in sorted order and average the distances"
)


# ------------------------------------------------------------------------------------------------
def check_wasserstein_1d(wasserstein_1d: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Report:
    """W1 between two samples of equal size in 1D: the mean distance between their sorted values."""
    with Check("wasserstein_1d") as check:
        with check.case("value on a small example", required=True):
            got = wasserstein_1d(torch.tensor([0.0, 1.0, 3.0]), torch.tensor([5.0, 1.0, 2.0]))
            expect_tensor(got, "W")
            mistakes = [
                (2.0, "sort both samples first: the optimal plan in 1D matches them in order"),  # pairs unsorted
                (math.sqrt(2.0), "W1 averages the distances themselves, not their squares"),  # W2
                (4.0, "average the distances over the pairs, do not add them up"),
            ]
            hint = next((h for v, h in mistakes if math.isclose(float(got), v, abs_tol=1e-4)), "")
            expect_close(got, 4 / 3, "W between {0, 1, 3} and {5, 1, 2}", hint=hint)
        with check.case("shifts and permutations"):
            x = torch.randn(1000, generator=seeded(0))
            expect_close(wasserstein_1d(x, x + 2.5), 2.5, "W between a sample and itself shifted by 2.5")
            expect_close(
                wasserstein_1d(x, x[torch.randperm(1000, generator=seeded(1))]),
                0.0,
                "W between a sample and a shuffled copy of it",
            )
        with check.case("different spreads"):
            x = torch.randn(1000, generator=seeded(6))
            u = x - x.mean()
            v = 3 * u[torch.randperm(1000, generator=seeded(7))] + 0.5
            got = wasserstein_1d(u, v)
            expected = float((u.sort().values - v.sort().values).abs().mean())
            hint = _MEANS if math.isclose(float(got), 0.5, abs_tol=1e-3) else ""
            expect_close(
                got,
                expected,
                "W between a centred sample and a copy 3 times as spread, shifted by 0.5",
                rtol=1e-3,
                hint=hint,
            )
        with check.case("symmetric"):
            a, b = torch.rand(50, generator=seeded(2)), 3 * torch.rand(50, generator=seeded(3))
            expect_close(
                wasserstein_1d(a, b),
                wasserstein_1d(b, a),
                "W(a, b) against W(b, a)",
                hint="use the absolute difference |sorted a − sorted b|",
            )
    return check.report


# ------------------------------------------------------------------------------------------------
def check_clip_weights(clip_weights: Callable[[nn.Module, float], None]) -> Report:
    """``clip_weights(critic, c)``: every parameter clamped to [−c, c], in place."""
    with Check("clip_weights") as check:
        with check.case("every parameter in [−c, c], clamped in place", required=True):
            torch.manual_seed(0)
            critic = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
            with torch.no_grad():
                for weight in critic.parameters():
                    weight.mul_(10)  # most weights now lie outside [-0.05, 0.05]
            before = [weight.detach().clone() for weight in critic.parameters()]
            out = clip_weights(critic, 0.05)
            expect(
                out is None, "clip_weights should change the critic in place and return None", None, type(out).__name__
            )
            for (name, p), old in zip(critic.named_parameters(), before):
                p = p.detach()
                hint = (
                    "clip every parameter of the critic, the biases too: they are part of the function the "
                    "constraint must bound"
                    if name.endswith("bias") and float(p.abs().max()) == float(old.abs().max())
                    else (
                        "every parameter of the critic must end inside [-c, c]: "
                        "clamp each one in place, outside autograd"
                    )
                )
                expect(
                    float(p.abs().max()) <= 0.05 + 1e-7,
                    f"{name} should lie in [−0.05, 0.05]",
                    "≤ 0.05",
                    float(p.abs().max()),
                    hint,
                )
                inside = old.abs() <= 0.05
                expect(
                    torch.equal(p[inside], old[inside]),
                    f"{name}: weights already inside [−c, c] must not change",
                    True,
                    False,
                    "clamp, do not rescale the whole tensor",
                )
                expect(
                    torch.equal(p[~inside], old[~inside].sign() * 0.05),
                    f"{name}: weights outside go to ±c",
                    True,
                    False,
                )
        with check.case("parameters stay trainable"):
            critic = nn.Linear(2, 1)
            clip_weights(critic, 0.01)
            critic(torch.randn(4, 2)).sum().backward()
            expect(
                critic.weight.grad is not None and critic.weight.requires_grad,
                "the critic should still be trainable after clipping",
                True,
                False,
                "change the parameters' values in place, outside autograd; "
                "do not replace the parameters with new tensors",
            )
    return check.report


# ------------------------------------------------------------------------------------------------
def check_critic_losses(
    critic_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    generator_loss: Callable[[torch.Tensor], torch.Tensor],
) -> Report:
    """critic: E[f(x̃)] − E[f(x)] (minimised, so E_real f − E_fake f grows); generator: −E[f(x̃)]."""
    real, fake = torch.tensor([[2.0], [4.0]]), torch.tensor([[-1.0], [0.0], [1.0]])
    with Check("critic_loss and generator_loss") as check:
        with check.case("critic loss", required=True):
            got = critic_loss(real, fake)
            expect_tensor(got, "critic loss")
            hint = (
                "the critic minimises E[f(fake)] − E[f(real)]: you have the sign reversed"
                if abs(float(got) - 3.0) < 1e-6
                else (
                    "no logarithm or sigmoid: a critic's scores are raw numbers"
                    if not math.isfinite(float(got))
                    else ""
                )
            )
            expect_close(got, -3.0, "critic loss for real scores {2, 4}, fake scores {−1, 0, 1}", hint=hint)
        with check.case("generator loss"):
            expect_close(generator_loss(fake), 0.0, "generator loss for fake scores {−1, 0, 1}")
            expect_close(
                generator_loss(torch.tensor([[3.0], [5.0]])),
                -4.0,
                "generator loss for fake scores {3, 5}",
                hint="the generator maximises E[f(fake)]: minimise −mean(fake scores)",
            )
    return check.report


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


_ENDPOINTS = (
    "penalise the gradient at random points on the segments between real and fake samples, not at "
    "the samples themselves: that is where the optimal critic has gradient norm 1"
)


def check_gradient_penalty(gradient_penalty: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]) -> Report:
    """E[(||∇f(x̂)|| − 1)²] at x̂ = t·x + (1 − t)·x̃, t ~ U[0, 1] per sample (Gulrajani et al. 2017)."""
    real = torch.randn(64, 2, generator=seeded(4))
    fake = torch.randn(64, 2, generator=seeded(5)) + 3
    with Check("gradient_penalty") as check:
        with check.case("zero for a function with unit gradient norm", required=True):
            got = expect_scalar(
                gradient_penalty(_Linear([0.6, 0.8]), real, fake), "the penalty", "average over the batch"
            )
            expect_close(
                got,
                0.0,
                "penalty of f(x) = 0.6·x₁ + 0.8·x₂ (gradient norm 1 everywhere)",
                hint="the length of the gradient of each sample, one norm per row, not one norm of the whole batch",
            )
        with check.case("(norm − 1)² for other slopes"):
            got = float(gradient_penalty(_Linear([3.0, 0.0]), real, fake).detach())
            mistakes = [
                (2.0, "square the difference from 1: (||∇f|| − 1)²"),  # |norm − 1|
                (64.0, "use the norm of the gradient (its length), not its squared length"),  # (norm² − 1)²
                (4.0 * len(real), "average the penalty over the batch, do not add it up"),
            ]
            hint = next((h for v, h in mistakes if math.isclose(got, v, rel_tol=1e-4)), "")
            expect_close(got, 4.0, "penalty of f(x) = 3·x₁ (gradient norm 3 everywhere)", hint=hint)
            expect_close(
                gradient_penalty(_Linear([0.0, 0.0]), real, fake),
                1.0,
                "penalty of f = 0 (gradient norm 0)",
                hint="penalise deviations from 1 on both sides, not only norms above 1",
            )
        with check.case("interpolates along segments, one t per sample"):
            torch.manual_seed(0)
            ones, zeros = torch.ones(200_000, 2), torch.zeros(200_000, 2)
            got = float(gradient_penalty(_HalfSquare(), ones, zeros).detach())
            expected = 2 / 3 - math.sqrt(2) + 1  # E[(√2·t − 1)²], t ~ U[0, 1]
            mistakes = [  # what a mistake gives here, and its hint
                (
                    2 / 3 - 2 * (math.sqrt(2) + math.asinh(1)) / 3 + 1,  # E[(||t|| − 1)²], one t per coordinate
                    "draw one t per sample, shared by all its coordinates (broadcast it), not one t per coordinate",
                ),
                ((math.sqrt(2) - 1) ** 2, _ENDPOINTS),  # at the real points only
                (1.0, _ENDPOINTS),  # at the fake points only (the gradient is 0 there)
                (
                    (math.sqrt(2) / 2 - 1) ** 2,
                    "t is random, uniform on [0, 1] and drawn afresh for every sample, not a fixed mixing weight",
                ),  # midpoints
            ]
            hint = next((h for v, h in mistakes if abs(got - v) < 0.005), "")
            expect(
                abs(got - expected) < 0.005,
                "x̂ must lie on the segment from fake to real: one t per sample",
                round(expected, 4),
                round(got, 4),
                hint,
            )
        with check.case("differentiable in the critic's weights"):
            critic = _Linear([2.0, 0.0])
            penalty = gradient_penalty(critic, real, fake)
            expect(
                penalty.requires_grad,
                "the penalty must be differentiable in the critic's weights",
                True,
                False,
                "the gradient inside the penalty must itself stay differentiable (keep its graph), so the critic "
                "can be trained on it",
            )
            penalty.backward()
            expect_close(
                critic.w.grad,
                torch.tensor([2.0, 0.0]),
                "d penalty / d w for f(x) = w·x at w = (2, 0)",
                hint="(||w|| − 1)² has gradient 2(||w|| − 1)·w/||w||",
            )
    return check.report


# ------------------------------------------------------------------------------------------------
def _variant_step(n_critic: int, clip: float | None = None, penalty: float | None = None, mistake: str = ""):
    """The WGAN step of Arjovsky et al.'s Algorithm 1 (Gulrajani et al.'s with ``penalty``), or one of the
    ways it goes wrong (``mistake``): what the check compares a student's step with, to name the mistake."""

    def step(G, C, opt_G, opt_C, real, z):
        reals, zs = torch.chunk(real, n_critic), torch.chunk(z, n_critic)
        z_G = {"all noise": z, "one critic step": z, "first noise": zs[0]}.get(mistake, zs[-1])
        if mistake == "one critic step":
            reals, zs = [real], [z]
        elif mistake == "whole batch each step":
            reals, zs = [real] * n_critic, [z] * n_critic
        elif mistake == "same slice":
            reals, zs = [reals[0]] * n_critic, [zs[0]] * n_critic

        def generator_step():
            loss = -C(G(z_G)).mean()
            if mistake != "fakes not detached":
                opt_G.zero_grad()
            loss.backward()
            opt_G.step()
            return loss

        if mistake == "generator first":
            loss_G = generator_step()
        if mistake == "fakes not detached":
            opt_G.zero_grad()
        w_estimate = 0.0
        for x, z_k in zip(reals, zs):
            fake = G(z_k)
            fake = fake if mistake == "fakes not detached" else fake.detach()
            loss_C = C(fake).mean() - C(x).mean()
            w_estimate = -float(loss_C.detach())
            if penalty:
                x_hat = (0.5 * x + 0.5 * fake.detach()).requires_grad_(True)  # a linear critic: any point will do
                (grad,) = torch.autograd.grad(C(x_hat).sum(), x_hat, create_graph=True)
                loss_C = loss_C + (0 if mistake == "no penalty" else penalty) * ((grad.norm(dim=1) - 1) ** 2).mean()
                if mistake == "penalty in W":
                    w_estimate = -float(loss_C.detach())
            if mistake != "critic gradients kept":
                opt_C.zero_grad()
            loss_C.backward()
            if clip and mistake == "clip before update":
                _clamp(C, clip)
            opt_C.step()
            if mistake == "W after update":
                with torch.no_grad():
                    w_estimate = float(C(x).mean() - C(fake).mean())
            if clip and mistake not in ("clip once", "clip before update"):
                _clamp(C, clip)
        if clip and mistake == "clip once":
            _clamp(C, clip)
        if mistake != "generator first":
            loss_G = generator_step()
        return dict(W_estimate=w_estimate, loss_G=float(loss_G.detach()))

    return step


def _clamp(C: nn.Module, c: float) -> None:
    with torch.no_grad():
        for p in C.parameters():
            p.clamp_(-c, c)


_STEP_MISTAKES = {  # a mistake the check recognises, and what its hint says
    "one critic step": "take n_critic critic steps per call, each on its own slice of the batch, not one step "
    "on all of it",
    "whole batch each step": "give each critic step its own slice of the batch (n_critic slices), not the whole batch "
    "every time",
    "same slice": "give each critic step its own slice of the real batch and of the noise, not the first "
    "slice every time",
    "all noise": "the generator step uses the last slice of noise only (a batch the size of one critic batch)",
    "first noise": "the generator step uses the last slice of noise, the one the critic saw last",
    "generator first": "train the critic first, then take the generator step against the critic just updated",
    "fakes not detached": "a critic step must not leave gradients on the generator: cut the generated points out of "
    "the generator's graph, or clear the generator's gradients right before its own step",
    "clip once": "clip after every critic update, so the critic stays inside the box at each of its steps",
    "clip before update": "clip right after the critic's update, so that the weights the critic ends with (and the "
    "next step starts from) lie inside the box",
    "critic gradients kept": "clear the critic's gradients before each of its backward passes: they add up otherwise",
    "no penalty": "when a penalty weight is given, add the weighted gradient penalty to the critic's loss",
    "penalty in W": "report the critic's estimate of W before the penalty is added: it is E f(real) - E f(fake)",
    "W after update": "read W from the scores the critic step's loss used, before the critic's update",
}


_W_SIGN = "W_estimate is E f(real) - E f(fake) of the last critic step, the negative of its loss"


def _wgan_models(seed: int, linear_critic: bool = False):
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))
    C = nn.Linear(2, 1) if linear_critic else nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    return G, C, torch.optim.SGD(G.parameters(), lr=0.1), torch.optim.SGD(C.parameters(), lr=0.1)


def _after(
    step: Callable, seed: int, real: torch.Tensor, z: torch.Tensor, *, calls: int = 1, linear_critic: bool = False
) -> tuple[list[torch.Tensor], list[torch.Tensor], dict]:
    G, C, opt_G, opt_C = _wgan_models(seed, linear_critic)
    out: dict = {}
    for _ in range(calls):
        out = step(G, C, opt_G, opt_C, real, z)
    return ([p.detach().clone() for p in G.parameters()], [p.detach().clone() for p in C.parameters()], out)


def check_wgan_step(wgan_step: Callable[..., Callable[..., dict]]) -> Report:
    """``wgan_step(n_critic, clip, penalty)`` returns ``step(G, C, opt_G, opt_C, real, z)``: n_critic critic
    steps, each on its own slice of ``real`` and ``z`` (clipped or penalised), then one generator step
    on the last slice of noise; it returns the last critic step's W estimate and the generator's loss."""
    real = torch.randn(24, 2, generator=seeded(0)) + 2
    z = torch.randn(24, 2, generator=seeded(1))

    def compare(
        what: str,
        n_critic: int,
        clip: float | None = None,
        penalty: float | None = None,
        *,
        calls: int = 1,
        linear_critic: bool = False,
        mistakes: tuple[str, ...] = tuple(_STEP_MISTAKES),
    ) -> dict:
        got_G, got_C, out = _after(
            wgan_step(n_critic, clip=clip, penalty=penalty), 0, real, z, calls=calls, linear_critic=linear_critic
        )
        want_G, want_C, want = _after(
            _variant_step(n_critic, clip, penalty), 0, real, z, calls=calls, linear_critic=linear_critic
        )
        diff = max(largest_difference(got_C, want_C), largest_difference(got_G, want_G))
        hint = ""
        if diff > 1e-5:
            for mistake in mistakes:
                mis_G, mis_C, _ = _after(
                    _variant_step(n_critic, clip, penalty, mistake),
                    0,
                    real,
                    z,
                    calls=calls,
                    linear_critic=linear_critic,
                )
                if max(largest_difference(got_C, mis_C), largest_difference(got_G, mis_G)) < 1e-5:
                    hint = _STEP_MISTAKES[mistake]
                    break
        expect(
            diff < 1e-5,
            f"{what}: the critic's and the generator's weights after the step",
            "difference < 1e-5",
            f"{diff:.3g}",
            hint,
        )
        return {"got": out, "want": want}

    def w_hint(got: float, want: float, n_critic: int, penalty: float | None, linear_critic: bool = False) -> str:
        """The hint of the W mistake whose value the student's matches (the weights being right)."""
        if abs(got + want) < 1e-5:
            return _W_SIGN
        for mistake in ("W after update", "penalty in W"):
            other = _after(_variant_step(n_critic, None, penalty, mistake), 0, real, z, linear_critic=linear_critic)[2][
                "W_estimate"
            ]
            if abs(got - other) < 1e-5:
                return _STEP_MISTAKES[mistake]
        return _W_SIGN

    with Check("wgan_step") as check:
        with check.case("returns the W estimate and the generator's loss", required=True):
            out = wgan_step(3)(*_wgan_models(0), real, z)
            expect_keys(out, ["W_estimate", "loss_G"], "what the step returns", floats=True)
        with check.case("n_critic critic steps on their own slices, then one generator step"):
            outs = compare("3 critic steps, then a generator step (no constraint)", 3)
            got, want = outs["got"]["W_estimate"], outs["want"]["W_estimate"]
            expect_close(got, want, "W_estimate after the last critic step", hint=w_hint(got, want, 3, None))
            expect_close(
                outs["got"]["loss_G"], outs["want"]["loss_G"], "loss_G", hint="the generator's loss is -E f(G(z))"
            )
        with check.case("clipping after every critic step"):
            compare("2 critic steps with clipping at 0.05", 2, clip=0.05)
        with check.case("the gradient penalty, weighted by lambda"):
            outs = compare(
                "2 critic steps with a gradient penalty of weight 2 (a linear critic)",
                2,
                penalty=2.0,
                linear_critic=True,
            )
            got, want = outs["got"]["W_estimate"], outs["want"]["W_estimate"]
            expect_close(got, want, "W_estimate with a penalty", hint=w_hint(got, want, 2, 2.0, linear_critic=True))
        with check.case("repeated steps stay exact"):
            compare("two calls in a row", 2, calls=2)
    return check.report

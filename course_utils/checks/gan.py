"""Checks for lesson 04 (GANs). Each ``check_*`` takes the student's function."""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .. import metrics as _metrics
from ..gan2d import gan_step
from . import (
    Check,
    Mismatch,
    Report,
    Trained,
    check_weights_file,
    expect,
    expect_close,
    expect_keys,
    expect_scalar,
    largest_difference,
    seeded,
)

__all__ = [
    "check_discriminator_loss",
    "check_generator_loss",
    "check_gan_step",
    "check_modes_captured",
    "check_trained",
    "TRAINED",
]


# ------------------------------------------------------------------------------------------------
def check_discriminator_loss(discriminator_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Report:
    """−[log D(x) + log(1 − D(G(z)))] averaged over the batch, from logits."""
    with Check("discriminator_loss") as check:
        with check.case("returns a scalar", required=True):
            expect_scalar(discriminator_loss(torch.zeros(4, 1), torch.zeros(4, 1)))
        with check.case("value"):
            # D = 1/2 everywhere: −[log ½ + log ½] = 2 log 2
            expect_close(
                discriminator_loss(torch.zeros(4, 1), torch.zeros(4, 1)),
                2 * math.log(2),
                "loss when D(x) = ½ for every input",
                hint="sum the two terms (real and fake), each a batch mean",
            )
            real, fake = torch.tensor([[2.0], [0.5]]), torch.tensor([[-1.0], [1.5]])
            expected = F.softplus(-real).mean() + F.softplus(fake).mean()
            got = discriminator_loss(real, fake)
            hint = (
                "the fake term is −log(1 − D(G(z))): the fakes are labelled 0"
                if torch.isclose(got, F.softplus(-real).mean() + F.softplus(-fake).mean(), atol=1e-5)
                else ""
            )
            expect_close(got, expected, "loss on fixed logits", hint=hint)
        with check.case("numerically stable"):
            got = discriminator_loss(torch.full((2, 1), 100.0), torch.full((2, 1), -100.0))
            expect(
                bool(torch.isfinite(got)),
                "finite for confident logits (±100)",
                "finite",
                float(got),
                "use F.binary_cross_entropy_with_logits (or softplus), not log(sigmoid(...))",
            )
            expect_close(
                discriminator_loss(torch.full((2, 1), -100.0), torch.full((2, 1), 100.0)),
                200.0,
                "loss of a discriminator that is confidently wrong",
                rtol=1e-4,
                hint="work with logits: log(sigmoid(−100)) underflows to −inf, softplus does not",
            )
    return check.report


# ------------------------------------------------------------------------------------------------
def check_generator_loss(generator_loss: Callable[..., torch.Tensor]) -> Report:
    """saturating: log(1 − D(G(z))) (minimised); non-saturating: −log D(G(z)); from logits, batch mean."""
    logits = torch.tensor([[-3.0], [0.0], [2.0]])
    with Check("generator_loss") as check:
        with check.case("values of both losses", required=True):
            expect_close(
                generator_loss(logits, saturating=False),
                F.softplus(-logits).mean(),
                "non-saturating loss −log D(G(z))",
                hint="−log σ(l) = softplus(−l)",
            )
            expect_close(
                generator_loss(logits, saturating=True),
                -F.softplus(logits).mean(),
                "saturating loss log(1 − D(G(z)))",
                hint="log(1 − σ(l)) = −softplus(l): the generator minimises it",
            )
        with check.case("where each one's gradient vanishes"):
            # where D is sure the sample is fake (logit −10), the saturating gradient vanishes, the other does not
            sure_fake = torch.full((1, 1), -10.0, requires_grad=True)
            generator_loss(sure_fake, saturating=True).backward()
            g_sat = float(sure_fake.grad)
            sure_fake.grad = None
            generator_loss(sure_fake, saturating=False).backward()
            g_ns = float(sure_fake.grad)
            expect(
                abs(g_sat) < 1e-3,
                "saturating loss: the gradient should vanish when D(G(z)) ≈ 0",
                "|grad| < 1e-3",
                f"{g_sat:.3g}",
            )
            expect(
                g_ns < -0.99,
                "non-saturating loss: a strong gradient (≈ −1 in the logit) when D(G(z)) ≈ 0",
                "≈ −1",
                f"{g_ns:.3g}",
                "the generator must push the logit up: the loss decreases as the logit increases",
            )
        with check.case("finite, with the right gradient, at large logits"):
            # where D is confident (a logit of 40 or 60), σ(l) rounds to 1 in float32: log(1 − σ(l)) is −inf there
            big = torch.tensor([[40.0], [-3.0], [60.0]], requires_grad=True)
            loss = generator_loss(big, saturating=True)
            (grad,) = torch.autograd.grad(loss, big)
            want = -F.softplus(big.detach()).mean()
            want_grad = -torch.sigmoid(big.detach()) / len(big)
            broken = (
                not (bool(torch.isfinite(loss)) and bool(torch.isfinite(grad).all())) or float(grad[0].abs()) < 1e-6
            )
            hint = (
                _LARGE_LOGIT_HINT.format(what="log(1 − D)", rounds="1")
                if broken
                else (
                    "log(1 − σ(l)) = −softplus(l): its slope in the logit is −σ(l), about −1 per sample where D is sure"
                )
            )
            expect_close(loss, want, "saturating loss where D is confident (logits 40, −3, 60)", hint=hint)
            expect_close(
                grad,
                want_grad,
                "its gradient there (≈ −⅓ per confident sample: it does not vanish)",
                atol=1e-6,
                hint=hint,
            )
            # and where D is sure the sample is fake (a logit of −120), σ(l) underflows to 0: −log σ(l) is +inf there
            low = torch.tensor([[-120.0], [3.0]], requires_grad=True)
            loss = generator_loss(low, saturating=False)
            (grad,) = torch.autograd.grad(loss, low)
            broken = (
                not (bool(torch.isfinite(loss)) and bool(torch.isfinite(grad).all())) or float(grad[0].abs()) < 1e-6
            )
            hint = _LARGE_LOGIT_HINT.format(what="−log D", rounds="0") if broken else ""
            expect_close(
                loss,
                F.softplus(-low.detach()).mean(),
                "non-saturating loss where D is sure of a fake (logits −120, 3)",
                hint=hint,
            )
            expect_close(grad, -torch.sigmoid(-low.detach()) / len(low), "its gradient there", atol=1e-6, hint=hint)
    return check.report


_LARGE_LOGIT_HINT = (
    "{what} breaks down at a large logit: D = σ(l) rounds to {rounds} in float32, so the log gives ±inf "
    "(or a clamp kills the gradient). Write the loss as a function of the logit with the softplus "
    "identities, which stay finite however confident D is"
)


# ------------------------------------------------------------------------------------------------
_reference_step = gan_step  # the non-saturating step of Goodfellow et al.'s Algorithm 1, defined once


def _models(seed: int):
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))
    D = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    return G, D, torch.optim.SGD(G.parameters(), lr=0.1), torch.optim.SGD(D.parameters(), lr=0.1)


def _step_variant(mistake: str) -> Callable[..., dict]:
    """Goodfellow et al.'s step done one wrong way (``mistake``): what a student's weights are compared with
    when they differ from the reference, so the hint names what happened."""

    def step(G, D, opt_G, opt_D, real, z):
        def discriminator() -> torch.Tensor:
            fake = G(z) if mistake == "fakes not detached" else G(z).detach()
            real_term, fake_term = (
                (F.softplus(D(real)), F.softplus(-D(fake)))
                if mistake == "labels swapped"
                else (F.softplus(-D(real)), F.softplus(D(fake)))
            )
            loss = real_term.mean() + fake_term.mean()
            if mistake != "discriminator gradients kept":
                opt_D.zero_grad()
            loss.backward()
            opt_D.step()
            return loss

        def generator() -> torch.Tensor:
            logits = D(G(z))
            loss = -F.softplus(logits).mean() if mistake == "saturating" else F.softplus(-logits).mean()
            if mistake not in ("generator gradients kept", "fakes not detached"):
                opt_G.zero_grad()
            loss.backward()
            opt_G.step()
            return loss

        if mistake == "generator first":
            loss_G = generator()
            loss_D = discriminator()
        else:
            loss_D = discriminator()
            loss_G = generator()
        return {"loss_D": float(loss_D.detach()), "loss_G": float(loss_G.detach())}

    return step


_GAN_STEP_MISTAKES = {
    "fakes not detached": "the discriminator's step must not leave gradients on the generator: cut the fakes out of "
    "the generator's graph for that step (or clear the generator's gradients before its own)",
    "labels swapped": "the discriminator labels real samples 1 and fakes 0",
    "saturating": "the generator's step uses the non-saturating loss, -log D(G(z)), not log(1 - D(G(z)))",
    "generator first": "Algorithm 1 trains the discriminator first, then the generator against the updated one",
    "discriminator gradients kept": "clear the discriminator's gradients before its backward pass: the generator's "
    "previous step left gradients on it",
    "generator gradients kept": "clear the generator's gradients before its backward pass: the discriminator's "
    "scores of the fakes left gradients on it",
}


def check_gan_step(gan_step: Callable[..., dict]) -> Report:
    """``gan_step(G, D, opt_G, opt_D, real, z)``: one discriminator step, then one generator step."""
    real = torch.randn(16, 2, generator=seeded(0)) + 2
    z = torch.randn(16, 2, generator=seeded(1))

    def after(step: Callable[..., dict], calls: int) -> tuple[nn.Module, nn.Module]:
        G, D, opt_G, opt_D = _models(0)
        for _ in range(calls):
            step(G, D, opt_G, opt_D, real, z)
        return G, D

    def named(got: tuple[nn.Module, nn.Module], calls: int) -> str:
        """The hint of the mistake whose weights the student's match, if any."""
        for mistake, text in _GAN_STEP_MISTAKES.items():
            G_m, D_m = after(_step_variant(mistake), calls)
            if max(largest_difference(got[0], G_m), largest_difference(got[1], D_m)) < 1e-5:
                return text
        return ""

    def compare(what: str, calls: int) -> None:
        got = after(gan_step, calls)
        want = after(_reference_step, calls)
        d_diff, g_diff = largest_difference(got[1], want[1]), largest_difference(got[0], want[0])
        hint = named(got, calls) if max(d_diff, g_diff) >= 1e-5 else ""
        expect(
            d_diff < 1e-5,
            f"{what}: the discriminator's weights, against a step on −log D(x) − log(1 − D(G(z)))",
            "difference < 1e-5",
            f"{d_diff:.3g}",
            hint,
        )
        expect(
            g_diff < 1e-5,
            f"{what}: the generator's weights, against a step on −log D(G(z)) with the updated D",
            "difference < 1e-5",
            f"{g_diff:.3g}",
            hint,
        )

    with Check("gan_step") as check:
        with check.case("returns both losses", required=True):
            G, D, opt_G, opt_D = _models(0)
            expect_keys(
                gan_step(G, D, opt_G, opt_D, real, z), ["loss_D", "loss_G"], "what gan_step returns", floats=True
            )
        with check.case("one step matches Goodfellow's Algorithm 1 (k = 1, non-saturating G)"):
            compare("one step", 1)
        with check.case("repeated steps stay exact"):
            compare("three steps", 3)
    return check.report


# ------------------------------------------------------------------------------------------------
_LIBRARY_CALLED = "modes_captured calls the library's metrics.mode_coverage: count the modes yourself"


def _refuse(*args, **kwargs):  # its code stands in for mode_coverage's (so it may only use builtins and constants)
    raise RuntimeError("modes_captured calls the library's metrics.mode_coverage: count the modes yourself")


def without_mode_coverage(call: Callable[[], object]) -> object:
    """``call()`` while ``metrics.mode_coverage`` refuses to run, then put it back.

    The function's code is swapped (not the module's attribute), so an alias imported under another
    name refuses too. Used by the check and by the grader's probe (it runs in the student's kernel).
    """
    target = _metrics.mode_coverage
    saved = target.__code__
    target.__code__ = _refuse.__code__
    try:
        return call()
    finally:
        target.__code__ = saved


def check_modes_captured(modes_captured: Callable[..., int]) -> Report:
    """``modes_captured(samples, modes, std)``: modes with ≥ 20 samples within 3 std of them (PacGAN)."""
    modes = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 4.0]])
    std = 0.1
    g = seeded(3)
    with Check("modes_captured") as check:
        with check.case("all modes of a perfect sample", required=True):
            samples = modes.repeat(100, 1) + std * torch.randn(400, 2, generator=g)
            got = modes_captured(samples, modes, std)
            expect(isinstance(got, int), "should return an int", "int", type(got).__name__, "return int(...)")
            expect(got == 4, "samples around every mode", 4, got)
        with check.case("one mode of a collapsed sample"):
            samples = modes[2] + std * torch.randn(400, 2, generator=g)
            expect(
                modes_captured(samples, modes, std) == 1,
                "every sample around one mode",
                1,
                modes_captured(samples, modes, std),
            )
        with check.case("no mode for samples between modes"):
            samples = torch.tensor([2.0, 2.0]) + std * torch.randn(400, 2, generator=g)
            got = modes_captured(samples, modes, std)
            expect(
                got == 0,
                "samples far from every mode (more than 3 std away) capture nothing",
                0,
                got,
                "count only samples within 3 standard deviations of their nearest mode",
            )
        with check.case("the 20-sample and 3-std thresholds"):
            samples = torch.cat(
                [
                    modes[0].repeat(19, 1),
                    modes[1].repeat(20, 1),
                    modes[3] + torch.tensor([[0.25, 0.0]]).repeat(50, 1),
                    modes[2] + torch.tensor([[0.35, 0.0]]).repeat(50, 1),
                ]
            )
            expected = 2  # the mode with 20 samples and the one with 50 at 2.5 std (19 are too few, 3.5 std is too far)
            got = modes_captured(samples, modes, std)
            expect(
                got == expected,
                "19 samples on one mode (too few), 20 on another, 50 at 2.5 std, 50 at 3.5 std",
                expected,
                got,
                "a mode needs at least 20 high-quality samples; high quality means distance ≤ 3·std",
            )
        with check.case("counts the modes itself"):
            samples = torch.cat([modes[1].repeat(25, 1), modes[3] + std * torch.randn(40, 2, generator=seeded(4))])
            try:
                got = without_mode_coverage(lambda: modes_captured(samples, modes, std))
            except RuntimeError as err:
                if str(err) != _LIBRARY_CALLED:
                    raise
                raise Mismatch(
                    "modes_captured should compute the count itself, not call metrics.mode_coverage",
                    hint="the library's answer is what you are asked to compute: count the modes yourself "
                    "(nearest mode, distance, samples per mode)",
                ) from None
            expect(got == 2, "25 samples on one mode and 40 around another", 2, got)
    return check.report


#: Graded on the model the notebook trained (see :class:`course_utils.checks.Trained`).
TRAINED: dict[str, Trained] = {
    "check-trained-gan": Trained(
        "04_gan",
        "Generator()",
        "the Fréchet distance of 1,000 samples to 90 digits that no notebook loads",
        full=80.0,
        zero=200.0,
    ),
}


def check_trained(Generator: type, path: str | None = None) -> Report:
    """The DCGAN generator trained with your gan_step: its saved weights load into ``Generator``."""
    return check_weights_file(TRAINED["check-trained-gan"], {"Generator": Generator}, path)

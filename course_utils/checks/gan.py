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
    Case,
    Mismatch,
    Report,
    Trained,
    check_weights_file,
    expect,
    expect_close,
    expect_tensor,
    largest_difference,
    run_cases,
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
    __tracebackhide__ = True

    def scalar() -> None:
        out = expect_tensor(discriminator_loss(torch.zeros(4, 1), torch.zeros(4, 1)))
        expect(out.dim() == 0, "the loss should be a scalar", "shape ()", f"shape {tuple(out.shape)}")

    def value() -> None:
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

    def stable() -> None:
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

    return run_cases(
        "discriminator_loss",
        [
            Case("returns a scalar", scalar, required=True),
            Case("value", value),
            Case("numerically stable", stable),
        ],
    )


# ------------------------------------------------------------------------------------------------
def check_generator_loss(generator_loss: Callable[..., torch.Tensor]) -> Report:
    """saturating: log(1 − D(G(z))) (minimised); non-saturating: −log D(G(z)); from logits, batch mean."""
    __tracebackhide__ = True
    logits = torch.tensor([[-3.0], [0.0], [2.0]])

    def values() -> None:
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

    def gradients() -> None:
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

    def confident() -> None:
        # where D is confident (a logit of 40 or 60), σ(l) rounds to 1 in float32: log(1 − σ(l)) is −inf there
        big = torch.tensor([[40.0], [-3.0], [60.0]], requires_grad=True)
        loss = generator_loss(big, saturating=True)
        (grad,) = torch.autograd.grad(loss, big)
        want = -F.softplus(big.detach()).mean()
        want_grad = -torch.sigmoid(big.detach()) / len(big)
        broken = not (bool(torch.isfinite(loss)) and bool(torch.isfinite(grad).all())) or float(grad[0].abs()) < 1e-6
        hint = (
            _LARGE_LOGIT_HINT.format(what="log(1 − D)", rounds="1")
            if broken
            else "log(1 − σ(l)) = −softplus(l): its slope in the logit is −σ(l), about −1 per sample where D is sure"
        )
        expect_close(loss, want, "saturating loss where D is confident (logits 40, −3, 60)", hint=hint)
        expect_close(
            grad, want_grad, "its gradient there (≈ −⅓ per confident sample: it does not vanish)", atol=1e-6, hint=hint
        )
        # and where D is sure the sample is fake (a logit of −120), σ(l) underflows to 0: −log σ(l) is +inf there
        low = torch.tensor([[-120.0], [3.0]], requires_grad=True)
        loss = generator_loss(low, saturating=False)
        (grad,) = torch.autograd.grad(loss, low)
        broken = not (bool(torch.isfinite(loss)) and bool(torch.isfinite(grad).all())) or float(grad[0].abs()) < 1e-6
        hint = _LARGE_LOGIT_HINT.format(what="−log D", rounds="0") if broken else ""
        expect_close(
            loss,
            F.softplus(-low.detach()).mean(),
            "non-saturating loss where D is sure of a fake (logits −120, 3)",
            hint=hint,
        )
        expect_close(grad, -torch.sigmoid(-low.detach()) / len(low), "its gradient there", atol=1e-6, hint=hint)

    return run_cases(
        "generator_loss",
        [
            Case("values of both losses", values, required=True),
            Case("where each one's gradient vanishes", gradients),
            Case("finite, with the right gradient, at large logits", confident),
        ],
    )


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
    __tracebackhide__ = True
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

    def runs() -> None:
        G, D, opt_G, opt_D = _models(0)
        out = gan_step(G, D, opt_G, opt_D, real, z)
        expect(
            isinstance(out, dict) and {"loss_D", "loss_G"} <= set(out),
            "should return a dict with 'loss_D' and 'loss_G'",
            "{'loss_D', 'loss_G'}",
            sorted(out) if isinstance(out, dict) else type(out).__name__,
        )
        expect(
            all(isinstance(out[k], float) for k in ("loss_D", "loss_G")),
            "losses should be Python floats",
            "float",
            {k: type(out[k]).__name__ for k in ("loss_D", "loss_G")},
            "return numbers, not tensors",
        )

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

    return run_cases(
        "gan_step",
        [
            Case("returns both losses", runs, required=True),
            Case("one step matches Goodfellow's Algorithm 1 (k = 1, non-saturating G)", lambda: compare("one step", 1)),
            Case("repeated steps stay exact", lambda: compare("three steps", 3)),
        ],
    )


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
    __tracebackhide__ = True
    modes = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 4.0]])
    std = 0.1
    g = seeded(3)

    def perfect() -> None:
        samples = modes.repeat(100, 1) + std * torch.randn(400, 2, generator=g)
        got = modes_captured(samples, modes, std)
        expect(isinstance(got, int), "should return an int", "int", type(got).__name__, "return int(...)")
        expect(got == 4, "samples around every mode", 4, got)

    def collapsed() -> None:
        samples = modes[2] + std * torch.randn(400, 2, generator=g)
        expect(
            modes_captured(samples, modes, std) == 1,
            "every sample around one mode",
            1,
            modes_captured(samples, modes, std),
        )

    def far() -> None:
        samples = torch.tensor([2.0, 2.0]) + std * torch.randn(400, 2, generator=g)
        got = modes_captured(samples, modes, std)
        expect(
            got == 0,
            "samples far from every mode (more than 3 std away) capture nothing",
            0,
            got,
            "count only samples within 3 standard deviations of their nearest mode",
        )

    def threshold() -> None:
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

    def own_count() -> None:
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

    return run_cases(
        "modes_captured",
        [
            Case("all modes of a perfect sample", perfect, required=True),
            Case("one mode of a collapsed sample", collapsed),
            Case("no mode for samples between modes", far),
            Case("the 20-sample and 3-std thresholds", threshold),
            Case("counts the modes itself", own_count),
        ],
    )


# ------------------------------------------------------------------------------------------------
# Probes for the auto-grader
# ------------------------------------------------------------------------------------------------
from . import Probe  # noqa: E402

_STEP = (
    "(lambda G, D: (gan_step(G, D, torch.optim.SGD(G.parameters(), lr=0.1), torch.optim.SGD(D.parameters(), lr=0.1), "
    "inp['real'], inp['z']), [p.detach().clone() for p in [*G.parameters(), *D.parameters()]])[1])"
    "(torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)), "
    "torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)))"
)


#: the same step from a discriminator sure that every sample is fake (its last bias at −3, so D ≈ 0.05): where the
#: saturating and the non-saturating generator losses differ most (near D = ½ their gradients nearly agree)
_STEP_SURE_FAKE = _STEP.replace(
    "torch.nn.Linear(8, 1))",
    "(lambda last: (torch.nn.init.constant_(last.bias, -3.0), last)[1])(torch.nn.Linear(8, 1)))",
)


def _near_threshold(g: torch.Generator) -> dict[str, torch.Tensor]:
    """Six well-separated modes with 19, 20 or 21 samples each (within 1.5 std), every count present."""
    modes = torch.stack([torch.arange(6.0) * 3, torch.zeros(6)], 1) + 0.5 * torch.rand(6, 2, generator=g)
    counts = torch.tensor([19, 20, 21, 19, 20, 21])[torch.randperm(6, generator=g)]
    samples = torch.cat([modes[k] + 0.1 * (torch.rand(int(c), 2, generator=g) - 0.5) for k, c in enumerate(counts)])
    return {"samples": samples[torch.randperm(len(samples), generator=g)], "modes": modes}


def _hand_made(g: torch.Generator) -> dict[str, torch.Tensor]:
    modes = 4 * torch.randn(6, 2, generator=g)
    counts = torch.randint(0, 60, (6,), generator=g)
    samples = torch.cat(
        [modes[k] + 0.1 * torch.randn(int(c), 2, generator=g) for k, c in enumerate(counts)]
        + [torch.randn(30, 2, generator=g) * 5]
    )
    return {"samples": samples, "modes": modes}


PROBES: dict[str, list[Probe]] = {
    "check-discriminator-loss": [
        Probe(
            "loss on random logits",
            "discriminator_loss(inp['real'], inp['fake'])",
            lambda g: {"real": 5 * torch.randn(9, 1, generator=g), "fake": 5 * torch.randn(7, 1, generator=g)},
        ),
    ],
    "check-generator-loss": [
        Probe(
            "both losses on random logits",
            "[generator_loss(inp['l'], saturating=True), generator_loss(inp['l'], saturating=False)]",
            lambda g: {"l": 5 * torch.randn(8, 1, generator=g)},
        ),
        Probe(
            "both losses and their gradients at confident logits (|l| from 30 to 160)",
            "(lambda l: [loss_and_grad for saturating in (True, False) for loss_and_grad in "
            "(lambda loss: [loss, torch.autograd.grad(loss, l)[0]])(generator_loss(l, saturating=saturating))])"
            "(inp['l'].requires_grad_())",
            lambda g: {
                "l": torch.cat(
                    [
                        30 + 70 * torch.rand(3, 1, generator=g),
                        -(110 + 50 * torch.rand(3, 1, generator=g)),
                        5 * torch.randn(2, 1, generator=g),
                    ]
                )
            },
            atol=1e-5,
        ),
    ],
    "check-gan-step": [
        Probe(
            "parameters after one step",
            _STEP,
            lambda g: {"real": torch.randn(16, 2, generator=g) + 2, "z": torch.randn(16, 2, generator=g)},
        ),
        Probe(
            "parameters after one step against a discriminator sure the samples are fake",
            _STEP_SURE_FAKE,
            lambda g: {"real": torch.randn(16, 2, generator=g) + 2, "z": torch.randn(16, 2, generator=g)},
        ),
        Probe(
            "parameters after two steps in a row (no gradient left over)",
            _STEP.replace(
                "(gan_step(G, D, torch.optim.SGD(G.parameters(), lr=0.1), torch.optim.SGD(D.parameters(), "
                "lr=0.1), inp['real'], inp['z'])",
                "((lambda o_G, o_D: [gan_step(G, D, o_G, o_D, inp['real'], inp['z']) for _ in range(2)])"
                "(torch.optim.SGD(G.parameters(), lr=0.1), torch.optim.SGD(D.parameters(), lr=0.1))",
            ),
            lambda g: {"real": torch.randn(16, 2, generator=g) + 2, "z": torch.randn(16, 2, generator=g)},
        ),
    ],
    "check-modes-captured": [
        # metrics.mode_coverage refuses to run meanwhile: the count must be the student's own
        Probe(
            "modes captured on hand-made samples",
            "__import__('course_utils.checks.gan', fromlist=['without_mode_coverage']).without_mode_coverage("
            "lambda: modes_captured(inp['samples'], inp['modes'], 0.1))",
            _hand_made,
        ),
        Probe(
            "modes with 19, 20 or 21 samples (the 20-sample threshold)",
            "__import__('course_utils.checks.gan', fromlist=['without_mode_coverage']).without_mode_coverage("
            "lambda: modes_captured(inp['samples'], inp['modes'], 0.1))",
            _near_threshold,
        ),
    ],
}


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

"""Checks for lesson 06 (pix2pix and CycleGAN). Each ``check_*`` takes the student's object."""

from __future__ import annotations

import random
from typing import Callable

import torch
from torch import nn

from . import (
    Check,
    Report,
    expect,
    expect_close,
    expect_keys,
    expect_scalar,
    expect_shape,
    expect_tensor,
    largest_difference,
    seeded,
)

__all__ = [
    "check_cycle_loss",
    "check_identity_loss",
    "check_image_buffer",
    "check_generator_objective",
    "check_cyclegan_update",
]


def _images(seed: int, n: int = 6, scale: float = 1.0) -> torch.Tensor:
    return scale * torch.rand(n, 1, 8, 8, generator=seeded(seed))


# ------------------------------------------------------------------------------------------------
def check_cycle_loss(cycle_loss: Callable[..., torch.Tensor]) -> Report:
    """``cycle_loss(G, F, x, y)`` = mean |F(G(x)) − x| + mean |G(F(y)) − y|."""
    x, y = _images(0), _images(1, scale=0.5)
    with Check("cycle_loss") as check:
        with check.case("zero for inverse maps", required=True):
            got = expect_scalar(cycle_loss(lambda t: 2 * t, lambda t: t / 2, x, y), "the cycle loss")
            expect_close(got, 0.0, "cycle loss of G(t) = 2t and F(t) = t/2 (inverse maps)")
        with check.case("value for maps that are not inverse"):
            got = cycle_loss(lambda t: t + 0.25, lambda t: t, x, y)
            hint = (
                "use the L1 distance |·|, not the squared one"
                if abs(float(got) - 0.125) < 1e-5
                else "add both directions: x → G → F → x and y → F → G → y"
                if abs(float(got) - 0.25) < 1e-5
                else ""
            )
            expect_close(
                got, 0.5, "cycle loss of G(t) = t + 0.25 and F(t) = t (off by 0.25 in each direction)", hint=hint
            )
        with check.case("round trips in the right order"):
            # two domains, X = [0, 1] and Y = [2, 2.5]: G(t) = max(t, 0) + 2 and F(t) = max(t − 2, 0) undo each other
            # on them (F∘G is the identity on X, G∘F on Y), but G∘F is not the identity on X: the order matters
            G, F = (lambda t: t.clamp(min=0) + 2), (lambda t: (t - 2).clamp(min=0))
            y_far = y + 2
            got = cycle_loss(G, F, x, y_far)
            reversed_ = (G(F(x)) - x).abs().mean() + (F(G(y_far)) - y_far).abs().mean()
            hint = (
                "mind the order of the two translations: an image of X goes through G first and comes back through F, "
                "an image of Y goes through F first and comes back through G"
                if abs(float(got) - float(reversed_)) < 1e-5
                else ""
            )
            expect_close(
                got,
                0.0,
                "cycle loss of G(t) = max(t, 0) + 2 and F(t) = max(t − 2, 0), which undo each other "
                "on X = [0, 1] and Y = [2, 2.5]",
                hint=hint,
            )
        with check.case("differentiable"):
            G = nn.Conv2d(1, 1, 1)
            loss = cycle_loss(G, lambda t: t, x, y)
            expect(
                loss.requires_grad,
                "the loss must carry gradients to the generators",
                True,
                False,
                "use torch operations; do not detach",
            )
            loss.backward()
            expect(
                G.weight.grad is not None and float(G.weight.grad.abs()) > 0, "G should receive a gradient", True, False
            )
    return check.report


# ------------------------------------------------------------------------------------------------
def check_identity_loss(identity_loss: Callable[..., torch.Tensor]) -> Report:
    """``identity_loss(G, F, x, y)`` = mean |G(y) − y| + mean |F(x) − x|.

    A generator leaves its target domain alone.
    """
    x, y = _images(2), _images(3, scale=0.3)
    with Check("identity_loss") as check:
        with check.case("zero for identity maps", required=True):
            got = expect_tensor(identity_loss(lambda t: t, lambda t: t, x, y), "the identity loss")
            expect_close(got, 0.0, "identity loss of two identity maps")
        with check.case("G on y, F on x"):
            got = identity_loss(lambda t: 2 * t, lambda t: t, x, y)  # only G moves its input
            expected = y.abs().mean()
            hint = (
                "G translates X → Y, so it must leave images of Y unchanged: compare G(y) with y (not G(x) with x)"
                if abs(float(got) - float(x.abs().mean())) < 1e-5
                else ""
            )
            expect_close(got, expected, "identity loss when G doubles its input and F is the identity", hint=hint)
            expect_close(
                identity_loss(lambda t: t, lambda t: t + 0.1, x, y),
                0.1,
                "identity loss when F adds 0.1",
                hint="compare F(x) with x, with the L1 distance",
            )
    return check.report


# ------------------------------------------------------------------------------------------------
def check_image_buffer(ImageBuffer: type) -> Report:
    """``ImageBuffer(size)(images)``: store generated images; once full, return an old one half of the time."""
    with Check("ImageBuffer") as check:
        with check.case("returns new images while filling up", required=True):
            random.seed(0)
            torch.manual_seed(0)
            buffer = ImageBuffer(8)
            batch = _images(4, n=5)
            out = buffer(batch)
            expect_shape(out, batch.shape, "the returned batch")
            expect(
                torch.equal(out, batch), "while the buffer is not full, the new images come back unchanged", True, False
            )
        with check.case("then mixes old and new, half and half"):
            random.seed(1)
            torch.manual_seed(1)
            buffer = ImageBuffer(10)
            seen = []
            old = 0
            total = 0
            for k in range(60):
                batch = torch.full((4, 1, 8, 8), float(k))
                out = buffer(batch)
                for image in out:
                    value = float(image[0, 0, 0])
                    expect(
                        value in seen or value == k,
                        "every returned image is the new one or an earlier one",
                        f"one of {sorted(set(seen))[-3:] + [k]}",
                        value,
                    )
                    if k >= 5:
                        total += 1
                        old += value != k
                seen.append(float(k))
            fraction = old / total
            expect(
                0.35 < fraction < 0.65,
                "once full, about half of the returned images should be old ones",
                "≈ 0.5",
                round(fraction, 3),
                "for each image: with probability ½ swap it with a random stored one",
            )
        with check.case("keeps storing new images once full"):
            random.seed(2)
            torch.manual_seed(2)
            buffer = ImageBuffer(10)  # full after 10 images: batches 0, 1 and half of 2
            late_old = []  # the stored images it returns in batches 40 to 59
            for k in range(60):
                out = buffer(torch.full((4, 1, 8, 8), float(k)))
                if k >= 40:
                    late_old += [float(v) for v in out[:, 0, 0, 0] if float(v) != k]
            expect(
                len(late_old) > 0,
                "once full, it should return stored images",
                "some",
                0,
                "for each image: with probability ½ swap it with a random stored one",
            )
            recent = sum(v >= 3 for v in late_old) / len(late_old)
            hint = (
                "once full, the buffer must keep storing: the new image takes the place of the stored one it returns, "
                "so the pool follows the generator instead of keeping its first images forever"
                if recent == 0
                else "a stored image should be replaced by a new one each time it is returned"
            )
            expect(
                recent > 0.9,
                "after 40 batches, the stored images it returns should be ones pushed after it filled up "
                "(not the first 10)",
                "> 0.9 of them",
                round(recent, 3),
                hint,
            )
        with check.case("detaches what it returns"):
            buffer = ImageBuffer(4)
            generated = _images(5, n=3).requires_grad_()
            out = buffer(generated * 1.0)
            expect(
                not out.requires_grad,
                "returned images should be detached from the generator's graph",
                False,
                True,
                "store and return images cut from the generator's graph: the discriminator's update must not "
                "reach the generator",
            )
        with check.case("never grows past its size"):
            buffer = ImageBuffer(6)
            for _ in range(20):
                buffer(_images(6, n=4))
            stored = next((v for v in vars(buffer).values() if isinstance(v, list)), None)
            if stored is not None:
                expect(len(stored) <= 6, "the buffer should never hold more than its size", 6, len(stored))
    return check.report


# ------------------------------------------------------------------------------------------------
def _reference_objective(G, F, D_X, D_Y, x, y, lambda_cycle, lambda_identity):
    fake_y, fake_x = G(x), F(y)
    adversarial = ((D_Y(fake_y) - 1) ** 2).mean() + ((D_X(fake_x) - 1) ** 2).mean()
    cycle = (F(fake_y) - x).abs().mean() + (G(fake_x) - y).abs().mean()
    identity = (G(y) - y).abs().mean() + (F(x) - x).abs().mean()
    return adversarial + lambda_cycle * cycle + lambda_identity * identity, adversarial, cycle, identity


def check_generator_objective(generator_objective: Callable[..., dict]) -> Report:
    """LSGAN adversarial terms + λ_cyc · cycle + λ_id · identity, for both generators at once."""
    torch.manual_seed(0)
    G, F = nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, padding=1)
    D_X = nn.Sequential(nn.Conv2d(1, 2, 3, 2, 1), nn.Flatten(), nn.Linear(32, 1))
    D_Y = nn.Sequential(nn.Conv2d(1, 2, 3, 2, 1), nn.Flatten(), nn.Linear(32, 1))
    x, y = _images(6), _images(7)
    loss, adversarial, cycle, identity = _reference_objective(G, F, D_X, D_Y, x, y, 10.0, 5.0)
    with Check("generator_objective") as check:
        with check.case("returns the loss and its three terms", required=True):
            out = generator_objective(G, F, D_X, D_Y, x, y, lambda_cycle=10.0, lambda_identity=5.0)
            expect_keys(out, ["loss", "adversarial", "cycle", "identity"], "what generator_objective returns")
        with check.case("the least-squares adversarial term"):
            expect_close(
                out["adversarial"],
                adversarial,
                "adversarial = mean (D_Y(G(x)) − 1)² + mean (D_X(F(y)) − 1)²",
                hint="least-squares GAN: the generators push the discriminators' scores toward 1 (real)",
            )
        with check.case("the cycle and identity terms"):
            expect_close(out["cycle"], cycle, "cycle term", hint="mean |F(G(x)) − x| + mean |G(F(y)) − y|")
            expect_close(out["identity"], identity, "identity term", hint="mean |G(y) − y| + mean |F(x) − x|")
        with check.case("the weighted sum"):
            expect_close(out["loss"], loss, "loss = adversarial + λ_cyc · cycle + λ_id · identity")
            no_identity = generator_objective(G, F, D_X, D_Y, x, y, lambda_cycle=10.0, lambda_identity=0.0)
            expect_close(
                no_identity["loss"],
                adversarial + 10.0 * cycle,
                "loss with λ_id = 0",
                hint="weight the identity term by lambda_identity",
            )
            expect(
                no_identity["loss"].requires_grad,
                "the loss must be differentiable for the generators' update",
                True,
                False,
            )
    return check.report


# ------------------------------------------------------------------------------------------------
class SpyBuffer:
    """A stand-in for the history buffer: it replaces the first half of each batch by fixed older images, its
    own, so that a step that skips a buffer or swaps the two shows in the weights it ends with."""

    def __init__(self, old: torch.Tensor):
        self.old = old

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        half = len(images) // 2
        return torch.cat([self.old[:half], images[half:].detach()])


def objective_terms(G, F, D_X, D_Y, x, y) -> dict[str, torch.Tensor]:
    """The generators' objective with λ_cyc = 10 and λ_id = 5, as a dict: what the check hands the step."""
    return dict(
        zip(("loss", "adversarial", "cycle", "identity"), _reference_objective(G, F, D_X, D_Y, x, y, 10.0, 5.0))
    )


def _update_variant(G, F, D_X, D_Y, opt_G, opt_D, x, y, objective, buffer_X, buffer_Y, mistake: str = "") -> dict:
    """The lesson's CycleGAN step (or one of the ways it goes wrong, named by ``mistake``)."""

    def generators() -> dict:
        terms = objective(G, F, D_X, D_Y, x, y)
        opt_G.zero_grad()
        total = terms["loss"]
        total.backward()
        opt_G.step()
        return terms

    def discriminators(fake_y: torch.Tensor, fake_x: torch.Tensor) -> torch.Tensor:
        real_target, fake_target = (0.0, 1.0) if mistake == "targets swapped" else (1.0, 0.0)
        half = 1.0 if mistake == "no half" else 0.5
        if mistake == "buffers swapped":
            fake_y, fake_x = buffer_X(fake_y), buffer_Y(fake_x)
        elif mistake != "no buffer":
            fake_y, fake_x = buffer_Y(fake_y), buffer_X(fake_x)
        loss_D = half * (((D_Y(y) - real_target) ** 2).mean() + ((D_Y(fake_y) - fake_target) ** 2).mean()) + half * (
            ((D_X(x) - real_target) ** 2).mean() + ((D_X(fake_x) - fake_target) ** 2).mean()
        )
        if mistake != "discriminator gradients kept":
            opt_D.zero_grad()
        loss_D.backward()
        opt_D.step()
        return loss_D

    if mistake == "discriminators first":
        with torch.no_grad():
            fakes = G(x), F(y)
        loss_D = discriminators(*fakes)
        terms = generators()
    else:
        with torch.no_grad():
            stale = G(x), F(y)
        terms = generators()
        with torch.no_grad():
            fakes = stale if mistake == "stale fakes" else (G(x), F(y))
        loss_D = discriminators(*fakes)
    values = {name: float(value.detach()) for name, value in terms.items()}
    values["loss_D"] = float(loss_D.detach())
    return values


_UPDATE_MISTAKES = {
    "discriminators first": "update the generators first, then the discriminators on the fakes of the updated "
    "generators",
    "stale fakes": "make the discriminators' fakes after the generators' step, with the generators just updated",
    "no buffer": "pass the fakes through the history buffers (buffer_Y for G(x), buffer_X for F(y)) before the "
    "discriminators see them",
    "buffers swapped": "each domain keeps its own history: buffer_Y holds the fakes G(x) of Y, buffer_X the fakes F(y)",
    "no half": "halve each discriminator's loss, as in L_D: the factor 1/2 slows the discriminators down",
    "targets swapped": "each discriminator regresses real images to 1 and fakes to 0",
    "discriminator gradients kept": "clear the discriminators' gradients before their backward pass: the generators' "
    "loss ran through them and left gradients there",
}


def _update_models(seed: int):
    torch.manual_seed(seed)
    G, F = nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, padding=1)
    D_X = nn.Sequential(nn.Conv2d(1, 2, 3, 2, 1), nn.Flatten(), nn.Linear(32, 1))
    D_Y = nn.Sequential(nn.Conv2d(1, 2, 3, 2, 1), nn.Flatten(), nn.Linear(32, 1))
    opt_G = torch.optim.SGD([*G.parameters(), *F.parameters()], lr=0.02)
    opt_D = torch.optim.SGD([*D_X.parameters(), *D_Y.parameters()], lr=0.02)
    return G, F, D_X, D_Y, opt_G, opt_D


def update_outputs(
    step: Callable[..., dict],
    seed: int,
    x: torch.Tensor,
    y: torch.Tensor,
    old_x: torch.Tensor,
    old_y: torch.Tensor,
    calls: int = 1,
) -> list:
    """The weights of all four networks and the returned values after ``calls`` steps on fresh models and spy buffers
    (the check's and the grader's measurement)."""
    G, F, D_X, D_Y, opt_G, opt_D = _update_models(seed)
    buffer_X, buffer_Y = SpyBuffer(old_x), SpyBuffer(old_y)
    out: dict = {}
    for _ in range(calls):
        out = step(G, F, D_X, D_Y, opt_G, opt_D, x, y, objective_terms, buffer_X, buffer_Y)
    weights = [p.detach().clone() for net in (G, F, D_X, D_Y) for p in net.parameters()]
    values = (
        [out.get(k) for k in ("loss", "adversarial", "cycle", "identity", "loss_D")] if isinstance(out, dict) else []
    )
    return [weights, values]


def check_cyclegan_update(cyclegan_update: Callable[..., dict]) -> Report:
    """``cyclegan_update(G, F_, D_X, D_Y, opt_G, opt_D, x, y, objective, buffer_X, buffer_Y)``: the generators'
    step on ``objective``, then the discriminators' least-squares step on buffered fakes of the updated generators."""
    x, y = _images(10, n=4), _images(11, n=4, scale=0.5)
    old_x, old_y = _images(12, n=4), _images(13, n=4)

    n_generator_weights = 4  # G's and F's weight and bias come first in update_outputs' list

    def compare(what: str, calls: int) -> None:
        got = update_outputs(cyclegan_update, 0, x, y, old_x, old_y, calls)
        want = update_outputs(_update_variant, 0, x, y, old_x, old_y, calls)
        diff = largest_difference(got[0], want[0])
        hint = ""
        if diff > 1e-5:
            for mistake, text in _UPDATE_MISTAKES.items():
                other = update_outputs(
                    lambda *a, m=mistake: _update_variant(*a, mistake=m), 0, x, y, old_x, old_y, calls
                )
                if largest_difference(got[0], other[0]) < 1e-5:
                    hint = text
                    break
            else:
                if (
                    calls > 1
                    and largest_difference(
                        *(update_outputs(step, 0, x, y, old_x, old_y)[0] for step in (cyclegan_update, _update_variant))
                    )
                    < 1e-5
                ):
                    hint = (
                        "clear each optimiser's gradients before its backward pass: one step is right, the next is not"
                    )
                elif (
                    calls == 1
                    and largest_difference(got[0][:n_generator_weights], want[0][:n_generator_weights]) < 1e-5
                ):
                    hint = (
                        "the generators' step is right; the discriminators' loss is not: D_Y judges real y against "
                        "buffered G(x), D_X real x against buffered F(y)"
                    )
                elif calls == 1:
                    hint = "the generators' step: a clean gradient of the objective's loss, then opt_G's step"
        expect(
            diff < 1e-5,
            f"{what}: the weights of G, F, D_X and D_Y afterwards",
            "difference < 1e-5",
            f"{diff:.3g}",
            hint,
        )
        for name, a, b in zip(("loss", "adversarial", "cycle", "identity", "loss_D"), got[1], want[1]):
            expect_close(
                a,
                b,
                f"the returned {name}",
                hint="return the objective's terms as computed before the "
                "generators' step, and loss_D as computed before the discriminators' step",
            )

    with Check("cyclegan_update") as check:
        with check.case("returns the terms and loss_D as numbers", required=True):
            G, F, D_X, D_Y, opt_G, opt_D = _update_models(0)
            out = cyclegan_update(
                G, F, D_X, D_Y, opt_G, opt_D, x, y, objective_terms, SpyBuffer(old_x), SpyBuffer(old_y)
            )
            expect_keys(
                out, ["loss", "adversarial", "cycle", "identity", "loss_D"], "what the step returns", floats=True
            )
        with check.case("one step: the generators, then the discriminators on buffered fakes"):
            compare("one step", 1)
        with check.case("three steps in a row stay exact"):
            compare("three steps", 3)
    return check.report

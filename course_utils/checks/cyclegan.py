"""Checks for lesson 06 (pix2pix and CycleGAN). Each ``check_*`` takes the student's object."""

from __future__ import annotations

import random
from typing import Callable

import torch
from torch import nn

from . import Case, Report, seeded, expect, expect_close, expect_shape, expect_tensor, run_cases

__all__ = ["check_cycle_loss", "check_identity_loss", "check_image_buffer", "check_generator_objective"]



def _images(seed: int, n: int = 6, scale: float = 1.0) -> torch.Tensor:
    return scale * torch.rand(n, 1, 8, 8, generator=seeded(seed))


# ------------------------------------------------------------------------------------------------
def check_cycle_loss(cycle_loss: Callable[..., torch.Tensor]) -> Report:
    """``cycle_loss(G, F, x, y)`` = mean |F(G(x)) − x| + mean |G(F(y)) − y|."""
    __tracebackhide__ = True
    x, y = _images(0), _images(1, scale=0.5)

    def inverse() -> None:
        got = expect_tensor(cycle_loss(lambda t: 2 * t, lambda t: t / 2, x, y), "the cycle loss")
        expect(got.dim() == 0, "the cycle loss should be a scalar", "shape ()", f"shape {tuple(got.shape)}")
        expect_close(got, 0.0, "cycle loss of G(t) = 2t and F(t) = t/2 (inverse maps)")

    def value() -> None:
        got = cycle_loss(lambda t: t + 0.25, lambda t: t, x, y)
        hint = ("use the L1 distance |·|, not the squared one" if abs(float(got) - 0.125) < 1e-5 else
                "add both directions: x → G → F → x and y → F → G → y" if abs(float(got) - 0.25) < 1e-5 else "")
        expect_close(got, 0.5, "cycle loss of G(t) = t + 0.25 and F(t) = t (off by 0.25 in each direction)", hint=hint)

    def gradient() -> None:
        G = nn.Conv2d(1, 1, 1)
        loss = cycle_loss(G, lambda t: t, x, y)
        expect(loss.requires_grad, "the loss must carry gradients to the generators", True, False,
               "use torch operations; do not detach")
        loss.backward()
        expect(G.weight.grad is not None and float(G.weight.grad.abs()) > 0, "G should receive a gradient", True, False)

    return run_cases("cycle_loss", [
        Case("zero for inverse maps", inverse, required=True),
        Case("value for maps that are not inverse", value),
        Case("differentiable", gradient),
    ])


# ------------------------------------------------------------------------------------------------
def check_identity_loss(identity_loss: Callable[..., torch.Tensor]) -> Report:
    """``identity_loss(G, F, x, y)`` = mean |G(y) − y| + mean |F(x) − x| (a generator leaves its target domain alone)."""
    __tracebackhide__ = True
    x, y = _images(2), _images(3, scale=0.3)

    def identities() -> None:
        got = expect_tensor(identity_loss(lambda t: t, lambda t: t, x, y), "the identity loss")
        expect_close(got, 0.0, "identity loss of two identity maps")

    def which_inputs() -> None:
        got = identity_loss(lambda t: 2 * t, lambda t: t, x, y)  # only G moves its input
        expected = y.abs().mean()
        hint = ("G translates X → Y, so it must leave images of Y unchanged: compare G(y) with y (not G(x) with x)"
                if abs(float(got) - float(x.abs().mean())) < 1e-5 else "")
        expect_close(got, expected, "identity loss when G doubles its input and F is the identity", hint=hint)
        expect_close(identity_loss(lambda t: t, lambda t: t + 0.1, x, y), 0.1, "identity loss when F adds 0.1",
                     hint="compare F(x) with x, with the L1 distance")

    return run_cases("identity_loss", [
        Case("zero for identity maps", identities, required=True),
        Case("G on y, F on x", which_inputs),
    ])


# ------------------------------------------------------------------------------------------------
def check_image_buffer(ImageBuffer: type) -> Report:
    """``ImageBuffer(size)(images)``: store generated images; once full, return an old one half of the time."""
    __tracebackhide__ = True
    state: dict = {}

    def filling() -> None:
        random.seed(0)
        torch.manual_seed(0)
        buffer = ImageBuffer(8)
        batch = _images(4, n=5)
        out = buffer(batch)
        expect_shape(out, batch.shape, "the returned batch")
        expect(torch.equal(out, batch), "while the buffer is not full, the new images come back unchanged", True, False)
        state["buffer"] = buffer

    def mixing() -> None:
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
                expect(value in seen or value == k, "every returned image is the new one or an earlier one",
                       f"one of {sorted(set(seen))[-3:] + [k]}", value)
                if k >= 5:
                    total += 1
                    old += value != k
            seen.append(float(k))
        fraction = old / total
        expect(0.35 < fraction < 0.65, "once full, about half of the returned images should be old ones",
               "≈ 0.5", round(fraction, 3), "for each image: with probability ½ swap it with a random stored one")

    def detached() -> None:
        buffer = ImageBuffer(4)
        generated = _images(5, n=3).requires_grad_()
        out = buffer(generated * 1.0)
        expect(not out.requires_grad, "returned images should be detached from the generator's graph", False, True,
               "store and return images.detach(): the discriminator's update must not reach the generator")

    def bounded() -> None:
        buffer = ImageBuffer(6)
        for _ in range(20):
            buffer(_images(6, n=4))
        stored = next((v for v in vars(buffer).values() if isinstance(v, list)), None)
        if stored is not None:
            expect(len(stored) <= 6, "the buffer should never hold more than its size", 6, len(stored))

    return run_cases("ImageBuffer", [
        Case("returns new images while filling up", filling, required=True),
        Case("then mixes old and new, half and half", mixing),
        Case("detaches what it returns", detached),
        Case("never grows past its size", bounded),
    ])


# ------------------------------------------------------------------------------------------------
def _reference_objective(G, F, D_X, D_Y, x, y, lambda_cycle, lambda_identity):
    fake_y, fake_x = G(x), F(y)
    adversarial = ((D_Y(fake_y) - 1) ** 2).mean() + ((D_X(fake_x) - 1) ** 2).mean()
    cycle = (F(fake_y) - x).abs().mean() + (G(fake_x) - y).abs().mean()
    identity = (G(y) - y).abs().mean() + (F(x) - x).abs().mean()
    return adversarial + lambda_cycle * cycle + lambda_identity * identity, adversarial, cycle, identity


def check_generator_objective(generator_objective: Callable[..., dict]) -> Report:
    """LSGAN adversarial terms + λ_cyc · cycle + λ_id · identity, for both generators at once."""
    __tracebackhide__ = True
    torch.manual_seed(0)
    G, F = nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, padding=1)
    D_X = nn.Sequential(nn.Conv2d(1, 2, 3, 2, 1), nn.Flatten(), nn.Linear(32, 1))
    D_Y = nn.Sequential(nn.Conv2d(1, 2, 3, 2, 1), nn.Flatten(), nn.Linear(32, 1))
    x, y = _images(6), _images(7)
    loss, adversarial, cycle, identity = _reference_objective(G, F, D_X, D_Y, x, y, 10.0, 5.0)
    state: dict = {}

    def keys() -> None:
        out = generator_objective(G, F, D_X, D_Y, x, y, lambda_cycle=10.0, lambda_identity=5.0)
        expect(isinstance(out, dict) and {"loss", "adversarial", "cycle", "identity"} <= set(out),
               "should return a dict with 'loss', 'adversarial', 'cycle', 'identity'",
               "{'loss', 'adversarial', 'cycle', 'identity'}", sorted(out) if isinstance(out, dict) else type(out).__name__)
        state["out"] = out

    def adversarial_term() -> None:
        expect_close(state["out"]["adversarial"], adversarial, "adversarial = mean (D_Y(G(x)) − 1)² + mean (D_X(F(y)) − 1)²",
                     hint="least-squares GAN: the generators push the discriminators' scores toward 1 (real)")

    def cycle_term() -> None:
        expect_close(state["out"]["cycle"], cycle, "cycle term", hint="mean |F(G(x)) − x| + mean |G(F(y)) − y|")
        expect_close(state["out"]["identity"], identity, "identity term", hint="mean |G(y) − y| + mean |F(x) − x|")

    def total() -> None:
        expect_close(state["out"]["loss"], loss, "loss = adversarial + λ_cyc · cycle + λ_id · identity")
        no_identity = generator_objective(G, F, D_X, D_Y, x, y, lambda_cycle=10.0, lambda_identity=0.0)
        expect_close(no_identity["loss"], adversarial + 10.0 * cycle, "loss with λ_id = 0",
                     hint="weight the identity term by lambda_identity")
        expect(no_identity["loss"].requires_grad, "the loss must be differentiable for the generators' update", True, False)

    return run_cases("generator_objective", [
        Case("returns the loss and its three terms", keys, required=True),
        Case("the least-squares adversarial term", adversarial_term),
        Case("the cycle and identity terms", cycle_term),
        Case("the weighted sum", total),
    ])


# ------------------------------------------------------------------------------------------------
# Probes for the auto-grader
# ------------------------------------------------------------------------------------------------
from . import Probe  # noqa: E402

_PAIR = "(torch.nn.Conv2d(1, 1, 3, padding=1), torch.nn.Conv2d(1, 1, 3, padding=1))"


def _buffer_properties(raw: list) -> list:
    first, batches, outputs = raw
    filling_ok = float(torch.equal(first, batches[0][: len(first)]))
    values = [float(b[0, 0, 0, 0]) for b in batches]
    returned = [float(v) for out in outputs[1:] for v in out[:, 0, 0, 0]]
    new_values = [v for k, b in enumerate(batches[1:], 1) for v in [float(b[0, 0, 0, 0])] * len(b)]
    old = sum(r != n for r, n in zip(returned, new_values))
    all_known = float(all(r in values for r in returned))
    return [filling_ok, all_known, float(0.3 < old / max(len(returned), 1) < 0.7)]


PROBES: dict[str, list[Probe]] = {
    "check-cycle-loss": [
        Probe("cycle loss of two random convolutions", f"(lambda G, F: cycle_loss(G, F, inp['x'], inp['y'])){_PAIR}",
              lambda g: {"x": torch.rand(4, 1, 8, 8, generator=g), "y": torch.rand(4, 1, 8, 8, generator=g)}),
    ],
    "check-identity-loss": [
        Probe("identity loss of two random convolutions", f"(lambda G, F: identity_loss(G, F, inp['x'], inp['y'])){_PAIR}",
              lambda g: {"x": torch.rand(4, 1, 8, 8, generator=g), "y": 0.3 * torch.rand(4, 1, 8, 8, generator=g)}),
    ],
    "check-image-buffer": [
        Probe("fills, then mixes old and new half and half",
              "(lambda buf, batches: [buf(batches[0]), batches, [batches[0]] + [buf(b) for b in batches[1:]]])"
              "(ImageBuffer(10), [torch.full((4, 1, 8, 8), float(k)) for k in range(60)])",
              check=_buffer_properties),
    ],
    "check-generator-objective": [
        Probe("loss and terms for random networks",
              "(lambda G, F, DX, DY: (lambda out: [out['loss'], out['adversarial'], out['cycle'], out['identity']])"
              "(generator_objective(G, F, DX, DY, inp['x'], inp['y'], lambda_cycle=7.0, lambda_identity=2.0)))"
              "(torch.nn.Conv2d(1, 1, 3, padding=1), torch.nn.Conv2d(1, 1, 3, padding=1), "
              "torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 1)), torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 1)))",
              lambda g: {"x": torch.rand(4, 1, 8, 8, generator=g), "y": torch.rand(4, 1, 8, 8, generator=g)}),
    ],
}

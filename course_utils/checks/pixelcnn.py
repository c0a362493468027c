"""Checks for lesson 03 (autoregressive models, PixelCNN). Each ``check_*`` takes the student's object."""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from . import Case, Report, expect, expect_close, expect_shape, expect_tensor, run_cases

__all__ = ["check_causal_mask", "check_masked_conv", "check_pixel_nll", "check_sample"]


def _mask(k: int, mask_type: str) -> torch.Tensor:
    m = torch.zeros(k, k)
    c = k // 2
    m[:c, :] = 1
    m[c, :c] = 1
    if mask_type == "B":
        m[c, c] = 1
    return m


# ------------------------------------------------------------------------------------------------
def check_causal_mask(causal_mask: Callable[[int, str], torch.Tensor]) -> Report:
    """``causal_mask(k, "A" | "B")``: 1 above the centre row and left of the centre; B keeps the centre."""
    __tracebackhide__ = True

    def shape() -> None:
        expect_shape(causal_mask(5, "A"), (5, 5), "causal_mask(5, 'A')")

    def type_a() -> None:
        for k in (3, 5, 7):
            got = causal_mask(k, "A").float()
            if not torch.equal(got, _mask(k, "A")):
                hint = ("type A must hide the centre pixel itself: the output at a pixel may not see its own value"
                        if torch.equal(got, _mask(k, "B")) else
                        "rows above the centre are all 1, the centre row is 1 left of the centre, the rest 0")
                expect(False, f"causal_mask({k}, 'A')", _mask(k, "A").int().tolist(), got.int().tolist(), hint)

    def type_b() -> None:
        for k in (3, 5):
            got = causal_mask(k, "B").float()
            expect(torch.equal(got, _mask(k, "B")), f"causal_mask({k}, 'B')", _mask(k, "B").int().tolist(),
                   got.int().tolist(), "type B is type A plus the centre (later layers may see the same position's features)")

    return run_cases("causal_mask", [
        Case("a k x k tensor", shape, required=True),
        Case("type A for k = 3, 5, 7", type_a),
        Case("type B for k = 3, 5", type_b),
    ])


# ------------------------------------------------------------------------------------------------
def _dependencies(layer: nn.Module, c_in: int, size: int = 7) -> torch.Tensor:
    """|d out[centre] / d x| summed over channels: which input pixels reach the centre output."""
    x = torch.randn(1, c_in, size, size, requires_grad=True)
    out = layer(x)
    out[0, :, size // 2, size // 2].sum().backward()
    return x.grad.abs().sum(1)[0]


def check_masked_conv(MaskedConv2d: type) -> Report:
    """``MaskedConv2d(c_in, c_out, k, mask_type)``: a same-size convolution whose kernel is masked."""
    __tracebackhide__ = True
    state: dict = {}

    def build() -> None:
        torch.manual_seed(0)
        layer = MaskedConv2d(2, 4, 5, "A")
        expect(isinstance(layer, nn.Module), "MaskedConv2d(...) should be an nn.Module", "nn.Module", type(layer).__name__)
        state["A"], state["B"] = layer, MaskedConv2d(2, 4, 5, "B")

    def shape() -> None:
        expect_shape(state["A"](torch.randn(3, 2, 8, 8)), (3, 4, 8, 8), "output for input (3, 2, 8, 8)",
                     "pad by k // 2 so the output keeps the input's height and width")

    def causal() -> None:
        for kind in ("A", "B"):
            grad = _dependencies(state[kind], 2)
            allowed = torch.zeros(7, 7)
            allowed[:3, :] = 1
            allowed[3, :3] = 1
            if kind == "B":
                allowed[3, 3] = 1
            leaks = [(i, j) for i in range(7) for j in range(7) if grad[i, j] > 0 and allowed[i, j] == 0]
            expect(not leaks, f"type {kind}: the centre output must not depend on these inputs (row, column)",
                   "none", leaks, "multiply the weight by the mask inside forward: F.conv2d(x, self.weight * self.mask, ...)")

    def uses_past() -> None:
        grad = _dependencies(state["A"], 2)
        expect(bool(grad[2, 3] > 0) and bool(grad[3, 2] > 0), "the centre output should depend on the pixel above "
               "and the pixel to the left", True, False, "the mask must keep the allowed weights")

    def output() -> None:
        layer = state["B"]
        x = torch.randn(2, 2, 6, 6, generator=torch.Generator().manual_seed(1))
        mask = layer.mask if isinstance(getattr(layer, "mask", None), torch.Tensor) else _mask(5, "B")
        with torch.no_grad():
            got = layer(x)
            weight = layer.weight * mask
            expected = F.conv2d(x, weight, layer.bias, padding=2)
            no_bias = F.conv2d(x, weight, None, padding=2)
        hint = ("the output misses the layer's bias: pass it to the convolution" if layer.bias is not None
                and got.shape == no_bias.shape and torch.allclose(got, no_bias, atol=1e-5) else
                "convolve with the masked weight, the layer's bias and padding k // 2")
        expect_close(got, expected, "type B output against a convolution with the masked kernel", hint=hint)

    def stays_masked() -> None:
        layer = state["A"]
        with torch.no_grad():
            for p in layer.parameters():
                p.add_(1.0)  # as an optimiser step would: the masked weights move too
        leaks = _dependencies(layer, 2)[3:, 3:]
        expect(float(leaks.sum()) == 0.0, "the mask must still hold after the weights change", 0.0, float(leaks.sum()),
               "apply the mask in forward (every call), not once to the weights in __init__")

    return run_cases("MaskedConv2d", [
        Case("MaskedConv2d(2, 4, 5, 'A') builds", build, required=True),
        Case("keeps the image size", shape),
        Case("no dependence on the present or future (types A and B)", causal),
        Case("depends on the past", uses_past),
        Case("the output of the masked convolution, bias included", output),
        Case("the mask survives a weight update", stays_masked),
    ])


# ------------------------------------------------------------------------------------------------
def check_pixel_nll(pixel_nll: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                    bits_per_dim: Callable[[torch.Tensor, int], torch.Tensor]) -> Report:
    """``pixel_nll(logits N x L x H x W, x N x 1 x H x W levels)``: −log p(x) per image (nats); and bits/dim."""
    __tracebackhide__ = True
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 4, 4, generator=g)
    x = torch.randint(5, (3, 1, 4, 4), generator=g)
    expected = F.cross_entropy(logits, x[:, 0], reduction="none").flatten(1).sum(1)

    def shape() -> None:
        expect_shape(pixel_nll(logits, x), (3,), "pixel_nll for 3 images", "one value per image: sum over pixels only")

    def value() -> None:
        got = pixel_nll(logits, x)
        hint = "sum the per-pixel cross-entropies of an image (do not average them)" if torch.allclose(
            got, expected / 16, atol=1e-4) else "−log softmax(logits)[level] at each pixel: F.cross_entropy(..., reduction='none')"
        expect_close(got, expected, "−log p(x) per image", hint=hint)

    def uniform() -> None:
        got = pixel_nll(torch.zeros(2, 17, 8, 8), torch.zeros(2, 1, 8, 8, dtype=torch.long))
        expect_close(got, torch.full((2,), 64 * math.log(17)), "uniform logits over 17 levels: 64 log 17 nats")

    def bits() -> None:
        got = bits_per_dim(torch.tensor([64 * math.log(17)]), 64)
        expect_close(got, torch.tensor([math.log2(17)]), "bits_per_dim of a uniform model over 17 levels (log2 17)",
                     hint="divide the nats by the number of dimensions and by ln 2")
        expect_close(bits_per_dim(torch.tensor([math.log(2) * 128]), 64), torch.tensor([2.0]), "bits_per_dim(128 ln 2 nats, 64)")

    return run_cases("pixel_nll and bits_per_dim", [
        Case("one value per image", shape, required=True),
        Case("value on random logits", value),
        Case("uniform model", uniform),
        Case("bits per dimension", bits),
    ])


# ------------------------------------------------------------------------------------------------
class _Counter(nn.Module):
    """A fake model: pixel (0, 0) is level ``start``; every later pixel is the previous one plus 1 (mod L)."""

    def __init__(self, levels: int = 17, start: int = 3):
        super().__init__()
        self.levels, self.start, self.calls = levels, start, 0

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        self.calls += 1
        n, _, h, w = x.shape
        flat = x.view(n, h * w)
        previous = torch.cat([torch.full((n, 1), self.start - 1), flat[:, :-1]], 1)
        target = (previous + 1) % self.levels
        return (F.one_hot(target, self.levels).float() * 50).view(n, h, w, self.levels).permute(0, 3, 1, 2)


class _Marginal(nn.Module):
    """A fake model whose first pixel has a fixed, known distribution."""

    def __init__(self, probs: torch.Tensor):
        super().__init__()
        self.logits = probs.log()

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        n, _, h, w = x.shape
        return self.logits.view(1, -1, 1, 1).expand(n, -1, h, w)


def check_sample(sample: Callable[..., torch.Tensor]) -> Report:
    """``sample(model, n, shape=(1, H, W), levels=L)``: pixel by pixel in raster order, each from its conditional."""
    __tracebackhide__ = True

    def shape() -> None:
        out = expect_tensor(sample(_Counter(), 2, shape=(1, 3, 4), levels=17), "the samples")
        expect_shape(out, (2, 1, 3, 4), "samples of 2 images of shape (1, 3, 4)")
        expect(out.dtype == torch.long, "samples should be integer levels (torch.long)", "torch.int64", out.dtype,
               "sample level indices with torch.multinomial or torch.distributions.Categorical")

    def raster() -> None:
        model = _Counter()
        out = sample(model, 2, shape=(1, 3, 4), levels=17)
        expected = ((3 + torch.arange(12)) % 17).view(1, 1, 3, 4).expand(2, 1, 3, 4)
        expect(torch.equal(out, expected), "a model that counts up in raster order should yield 3, 4, 5, ...",
               expected[0, 0].tolist(), out[0, 0].tolist(),
               "loop over rows, then columns; call the model on the current x and sample only pixel (i, j)")
        expect(model.calls == 12, "one model call per pixel", 12, model.calls,
               "call the model once per pixel on the whole batch (not once per image)")

    def marginal() -> None:
        probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
        torch.manual_seed(0)
        out = sample(_Marginal(probs), 4000, shape=(1, 1, 2), levels=4)
        freq = torch.bincount(out[:, 0, 0, 0], minlength=4).float() / 4000
        expect(bool((freq - probs).abs().max() < 0.03), "the first pixel's frequencies should follow the model's "
               "probabilities", [round(p, 3) for p in probs.tolist()], [round(f, 3) for f in freq.tolist()],
               "sample from softmax(logits), do not take the argmax")

    def completion() -> None:
        model, start = _Counter(), 5
        given = torch.randint(17, (2, 1, 3, 4), generator=torch.Generator().manual_seed(0))
        out = expect_tensor(sample(model, 2, shape=(1, 3, 4), levels=17, x=given.clone(), start=start), "the samples")
        expected = _counted(given, start, 17)
        if not torch.equal(out, expected):
            fresh = ((3 + torch.arange(12)) % 17).view(1, 1, 3, 4).expand(2, 1, 3, 4)
            if torch.equal(out, fresh):
                hint = ("the pixels before start were drawn again: they are given in x and must be kept; "
                        "draw only the pixels from raster index start on")
            elif out.shape == given.shape and not out.flatten(1)[:, :start].any():
                hint = "the pixels before start should come from x: begin from a copy of the given x, not an empty image"
            else:
                hint = "keep x's pixels before raster index start, then draw start, start + 1, ... in raster order"
            expect(False, "completing 2 images given their first 5 pixels (start=5), with a model that counts up",
                   expected.flatten(1).tolist(), out.flatten(1).tolist(), hint)
        expect(model.calls == 12 - start, "one model call per pixel drawn (7 from start=5)", 12 - start, model.calls,
               "do not run the model for the pixels before start")

    return run_cases("sample", [
        Case("returns integer images of the right shape", shape, required=True),
        Case("raster order, one conditional at a time", raster),
        Case("the first pixel follows the model's marginal", marginal),
        Case("completes the given pixels of x from start on", completion),
    ])


def _counted(given: torch.Tensor, start: int, levels: int) -> torch.Tensor:
    """What a sampler gives with :class:`_Counter` (start level 3) from ``given``: its first ``start`` pixels, then +1 each."""
    flat = given.clone().long().flatten(1)
    for i in range(start, flat.shape[1]):
        flat[:, i] = 3 % levels if i == 0 else (flat[:, i - 1] + 1) % levels
    return flat.view(given.shape)


# ------------------------------------------------------------------------------------------------
# Probes for the auto-grader
# ------------------------------------------------------------------------------------------------
from . import Probe  # noqa: E402

REFERENCE_CONTEXT = {"LEVELS": 17}
_FAKES = "__import__('course_utils.checks.pixelcnn', fromlist=['_Counter'])"


def _first_pixel(raw: list) -> float:
    images, probs = raw
    freq = torch.bincount(images[:, 0, 0, 0].long(), minlength=len(probs)).double() / len(images)
    return float((freq - probs.double()).abs().max() < 0.03)


PROBES: dict[str, list[Probe]] = {
    "check-causal-mask": [
        Probe("masks A and B for k = 3, 5, 7", "[causal_mask(k, t).float() for k in (3, 5, 7) for t in 'AB']"),
    ],
    "check-masked-conv": [
        Probe("output of a masked convolution on random input", "MaskedConv2d(3, 4, 5, 'A')(inp['x'])",
              lambda g: {"x": torch.randn(2, 3, 8, 8, generator=g)}),
        Probe("type B on random input", "MaskedConv2d(2, 3, 3, 'B')(inp['x'])",
              lambda g: {"x": torch.randn(2, 2, 6, 6, generator=g)}),
        Probe("type A after a weight update (the mask holds at every call)",
              "(lambda m: (m.weight.data.add_(inp['dw']), m(inp['x']))[1])(MaskedConv2d(2, 3, 5, 'A'))",
              lambda g: {"x": torch.randn(2, 2, 7, 7, generator=g), "dw": torch.randn(3, 2, 5, 5, generator=g)}),
    ],
    "check-pixel-nll": [
        Probe("nll per image and bits per dimension",
              "[pixel_nll(inp['logits'], inp['x'].long()), bits_per_dim(pixel_nll(inp['logits'], inp['x'].long()), 64)]",
              lambda g: {"logits": 2 * torch.randn(4, 17, 8, 8, generator=g), "x": torch.randint(17, (4, 1, 8, 8), generator=g)}),
    ],
    "check-sample": [
        Probe("raster order with a counting model",
              f"sample({_FAKES}._Counter(17, int(inp['start'])), 2, shape=(1, 3, 5), levels=17)",
              lambda g: {"start": torch.randint(17, (), generator=g)}),
        Probe("completing given pixels from start on, with a counting model",
              f"sample({_FAKES}._Counter(17, int(inp['first'])), 2, shape=(1, 3, 5), levels=17, x=inp['x'], "
              "start=int(inp['start']))",
              lambda g: {"first": torch.randint(17, (), generator=g), "x": torch.randint(17, (2, 1, 3, 5), generator=g),
                         "start": torch.randint(1, 15, (), generator=g)}),
        Probe("the first pixel follows the model's marginal",
              f"[sample({_FAKES}._Marginal(inp['probs']), 4000, shape=(1, 1, 2), levels=5), inp['probs']]",
              lambda g: {"probs": torch.softmax(torch.randn(5, generator=g), 0)},
              check=_first_pixel),
    ],
}

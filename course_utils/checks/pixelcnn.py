"""Checks for lesson 03 (autoregressive models, PixelCNN). Each ``check_*`` takes the student's object."""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from . import Check, Mismatch, Report, Trained, check_weights_file, expect, expect_close, expect_shape, expect_tensor

__all__ = [
    "check_causal_mask",
    "check_masked_conv",
    "check_gated_layer",
    "check_pixel_nll",
    "check_sample",
    "check_trained",
    "TRAINED",
]


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
    with Check("causal_mask") as check:
        with check.case("a k x k tensor", required=True):
            expect_shape(causal_mask(5, "A"), (5, 5), "causal_mask(5, 'A')")
        with check.case("type A for k = 3, 5, 7"):
            for k in (3, 5, 7):
                got = causal_mask(k, "A").float()
                if not torch.equal(got, _mask(k, "A")):
                    hint = (
                        "type A must hide the centre pixel itself: the output at a pixel may not see its own value"
                        if torch.equal(got, _mask(k, "B"))
                        else "rows above the centre are all 1, the centre row is 1 left of the centre, the rest 0"
                    )
                    expect(False, f"causal_mask({k}, 'A')", _mask(k, "A").int().tolist(), got.int().tolist(), hint)
        with check.case("type B for k = 3, 5"):
            for k in (3, 5):
                got = causal_mask(k, "B").float()
                expect(
                    torch.equal(got, _mask(k, "B")),
                    f"causal_mask({k}, 'B')",
                    _mask(k, "B").int().tolist(),
                    got.int().tolist(),
                    "type B is type A plus the centre (later layers may see the same position's features)",
                )
    return check.report


# ------------------------------------------------------------------------------------------------
def _dependencies(layer: nn.Module, c_in: int, size: int = 7) -> torch.Tensor:
    """|d out[centre] / d x| summed over channels: which input pixels reach the centre output."""
    x = torch.randn(1, c_in, size, size, requires_grad=True)
    out = layer(x)
    out[0, :, size // 2, size // 2].sum().backward()
    return x.grad.abs().sum(1)[0]


def check_masked_conv(MaskedConv2d: type) -> Report:
    """``MaskedConv2d(c_in, c_out, k, mask_type)``: a same-size convolution whose kernel is masked."""
    with Check("MaskedConv2d") as check:
        with check.case("MaskedConv2d(2, 4, 5, 'A') builds", required=True):
            torch.manual_seed(0)
            layer = MaskedConv2d(2, 4, 5, "A")
            expect(
                isinstance(layer, nn.Module),
                "MaskedConv2d(...) should be an nn.Module",
                "nn.Module",
                type(layer).__name__,
            )
            A, B = layer, MaskedConv2d(2, 4, 5, "B")  # the two kinds of mask, used by the cases below
        with check.case("keeps the image size"):
            expect_shape(
                A(torch.randn(3, 2, 8, 8)),
                (3, 4, 8, 8),
                "output for input (3, 2, 8, 8)",
                "pad by k // 2 so the output keeps the input's height and width",
            )
        with check.case("no dependence on the present or future (types A and B)"):
            for kind, masked in (("A", A), ("B", B)):
                grad = _dependencies(masked, 2)
                allowed = torch.zeros(7, 7)
                allowed[:3, :] = 1
                allowed[3, :3] = 1
                if kind == "B":
                    allowed[3, 3] = 1
                leaks = [(i, j) for i in range(7) for j in range(7) if grad[i, j] > 0 and allowed[i, j] == 0]
                expect(
                    not leaks,
                    f"type {kind}: the centre output must not depend on these inputs (row, column)",
                    "none",
                    leaks,
                    "multiply the weight by the mask inside forward: F.conv2d(x, self.weight * self.mask, ...)",
                )
        with check.case("depends on the past"):
            grad = _dependencies(A, 2)
            expect(
                bool(grad[2, 3] > 0) and bool(grad[3, 2] > 0),
                "the centre output should depend on the pixel above and the pixel to the left",
                True,
                False,
                "the mask must keep the allowed weights",
            )
        with check.case("the output of the masked convolution, bias included"):
            layer = B
            x = torch.randn(2, 2, 6, 6, generator=torch.Generator().manual_seed(1))
            mask = layer.mask if isinstance(getattr(layer, "mask", None), torch.Tensor) else _mask(5, "B")
            with torch.no_grad():
                got = layer(x)
                weight = layer.weight * mask
                expected = F.conv2d(x, weight, layer.bias, padding=2)
                no_bias = F.conv2d(x, weight, None, padding=2)
            hint = (
                "the output misses the layer's bias: pass it to the convolution"
                if layer.bias is not None and got.shape == no_bias.shape and torch.allclose(got, no_bias, atol=1e-5)
                else "convolve with the masked weight, the layer's bias and padding k // 2"
            )
            expect_close(got, expected, "type B output against a convolution with the masked kernel", hint=hint)
        with check.case("the mask survives a weight update"):
            layer = A
            with torch.no_grad():
                for p in layer.parameters():
                    p.add_(1.0)  # as an optimiser step would: the masked weights move too
            leaks = _dependencies(layer, 2)[3:, 3:]
            expect(
                float(leaks.sum()) == 0.0,
                "the mask must still hold after the weights change",
                0.0,
                float(leaks.sum()),
                "apply the mask in forward (every call), not once to the weights in __init__",
            )
    return check.report


# ------------------------------------------------------------------------------------------------
def _gated_reference(
    layer: nn.Module,
    v: torch.Tensor,
    h: torch.Tensor,
    y: torch.Tensor | None,
    *,
    crop: bool = True,
    shift_v: bool = True,
    shift_a: bool = True,
    residual: bool | str = True,
    gate: str = "tanh sigmoid",
    shift_after: bool = False,
    bias_in: str = "both",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The gated layer of van den Oord et al. 2016 computed with ``layer``'s own convolutions (or, with a
    flag off or another ``gate``, one of the ways it goes wrong, so the check can name the mistake)."""
    rows, cols = v.shape[-2:]
    v_features, h_features = layer.vertical(v), layer.horizontal(h)
    if crop:
        v_features, h_features = v_features[:, :, :rows, :], h_features[:, :, :, :cols]
    else:  # centred crops: the padded convolutions see as far below and to the right as above and to the left
        dr, dc = (v_features.shape[-2] - rows) // 2, (h_features.shape[-1] - cols) // 2
        v_features, h_features = v_features[:, :, dr : dr + rows, :], h_features[:, :, :, dc : dc + cols]
    if layer.first and shift_a:  # one column to the right, a zero column entering on the left
        h_features = torch.cat([torch.zeros_like(h_features[..., :1]), h_features[..., :-1]], dim=-1)

    def down(t: torch.Tensor) -> torch.Tensor:  # one row down, a zero row entering on top
        return torch.cat([torch.zeros_like(t[:, :, :1]), t[:, :, :-1]], dim=2)

    if shift_after:  # the 1x1 convolution first, then the shift: its bias fills the top row instead of zeros
        from_above = down(layer.vertical_to_horizontal(v_features))
    else:
        from_above = layer.vertical_to_horizontal(down(v_features) if shift_v else v_features)
    class_bias = layer.embedding(y)[:, :, None, None] if layer.embedding is not None and y is not None else 0

    def gated(a: torch.Tensor, stack: str) -> torch.Tensor:
        bias = class_bias if bias_in in ("both", stack) else 0
        f, g = (a + bias).chunk(2, dim=1)
        return {
            "tanh sigmoid": lambda: torch.tanh(f) * torch.sigmoid(g),
            "swapped": lambda: torch.tanh(g) * torch.sigmoid(f),
            "relu": lambda: F.relu(a + bias)[:, : f.shape[1]],
        }[gate]()

    h_out = layer.horizontal_out(gated(h_features + from_above, "horizontal"))
    add = residual == "always" or (residual is True and not layer.first)
    return gated(v_features, "vertical"), (h + h_out if add and h.shape == h_out.shape else h_out)


_GATED_MISTAKES = [  # (the variant of the reference, the hint that names it)
    (
        {"crop": False},
        "keep the first rows and the first columns of each padded output (cut the extra ones at the "
        "bottom and on the right): any other crop lets an output see rows below it or columns to its "
        "right",
    ),
    (
        {"shift_after": True},
        "move the vertical features down before the 1x1 convolution vertical_to_horizontal, not "
        "after it: the top row must receive nothing from above, not the convolution's bias",
    ),
    ({"bias_in": "vertical"}, "add the class bias in the gates of both stacks, the horizontal one too"),
    ({"bias_in": "horizontal"}, "add the class bias in the gates of both stacks, the vertical one too"),
    (
        {"shift_v": False},
        "move the vertical features one row down before they join the horizontal stack: otherwise "
        "the horizontal stack sees its own row through them, the pixel itself and what follows included",
    ),
    (
        {"shift_a": False},
        "in the first layer (type A) move the horizontal features one column to the right, so that a "
        "pixel never sees itself",
    ),
    (
        {"residual": False},
        "after the first layer the horizontal stack is residual: add the layer's input h to its output",
    ),
    (
        {"residual": "always"},
        "the first layer has no residual connection: its input is the image, not features of "
        "the same kind as its output",
    ),
    (
        {"gate": "swapped"},
        "f is the first half of the channels and goes through tanh; g, the second half, through the sigmoid",
    ),
]


def _gated_hint(**variant) -> str:
    """The hint of the mistake ``variant`` of :func:`_gated_reference` (its keyword arguments)."""
    return next(text for v, text in _GATED_MISTAKES if v == variant)


def _gated_dependencies(layer: nn.Module, c_in: int, rows: int = 6, cols: int = 7) -> dict[str, torch.Tensor]:
    """Which inputs (v or h, by position) reach each stack's output at the centre position, by autograd."""
    v = torch.rand(1, c_in, rows, cols, requires_grad=True)
    h = torch.rand(1, c_in, rows, cols, requires_grad=True)
    r, c = rows // 2, cols // 2
    out = {}
    for name, k in (("v_out", 0), ("h_out", 1)):
        result = layer(v, h)[k]
        grads = torch.autograd.grad(result[0, :, r, c].sum(), (v, h), allow_unused=True)
        out[name + " from v"], out[name + " from h"] = (
            torch.zeros(rows, cols) if g is None else (g[0].abs().sum(0) > 0).float() for g in grads
        )
    return out


def check_gated_layer(GatedLayer: type) -> Report:
    """``GatedLayer(c_in, channels, k, first, n_classes)``: ``gate`` and ``forward`` of one gated PixelCNN layer."""
    g = torch.Generator().manual_seed(0)

    def build(first: bool, n_classes: int | None = None, c_in: int = 3) -> nn.Module:
        torch.manual_seed(1)
        return GatedLayer(c_in, 4, 3, first, n_classes)

    with Check("GatedLayer") as check:
        with check.case("returns both stacks, shaped like the image", required=True):
            layer = build(True)
            v, h = torch.rand(2, 3, 5, 6, generator=g), torch.rand(2, 3, 5, 6, generator=g)
            try:
                out = layer(v, h)
            except RuntimeError as err:  # fine with as many channels in as out: the input added to the output?
                square = build(True, c_in=4)
                try:
                    square(torch.rand(2, 4, 5, 6, generator=g), torch.rand(2, 4, 5, 6, generator=g))
                except RuntimeError:
                    raise err from None
                raise Mismatch(
                    "a first layer with 3 channels in and 4 out",
                    "no error",
                    f"RuntimeError: {str(err)[:80]}",
                    _gated_hint(residual="always"),
                ) from None
            expect(
                isinstance(out, (tuple, list)) and len(out) == 2,
                "forward should return (v_out, h_out)",
                "a pair",
                type(out).__name__,
            )
            expect_shape(
                out[0],
                (2, 4, 5, 6),
                "v_out of the first layer (3 channels in, 4 out, a 5 x 6 image)",
                "crop each convolution's output back to the image's rows and columns",
            )
            expect_shape(out[1], (2, 4, 5, 6), "h_out of the first layer")
            expect_shape(build(False, c_in=4)(out[0], out[1])[1], (2, 4, 5, 6), "h_out of a later layer")
        with check.case("causal: each stack sees only the past it should"):
            rows, cols, r, c = 6, 7, 3, 3
            row, col = torch.arange(rows)[:, None].expand(rows, cols), torch.arange(cols)[None, :].expand(rows, cols)
            for first in (True, False):
                layer = build(first, c_in=3 if first else 4)
                seen = _gated_dependencies(layer, 3 if first else 4, rows, cols)
                kind = "first layer (type A)" if first else "later layer (type B)"
                allowed = {
                    # the vertical 2 x 3 kernel covers rows r - 1 and r; shifted down, rows r - 2 and r - 1
                    "v_out from v": (row <= r) & (row >= r - 1) & ((col - c).abs() <= 1),
                    "v_out from h": torch.zeros(rows, cols, dtype=torch.bool),
                    "h_out from v": (row < r) & (row >= r - 2) & ((col - c).abs() <= 1),
                    # the 1 x 2 kernel covers columns c - 1 and c; type A moves it one column to the left of c
                    "h_out from h": (row == r) & ((col < c) & (col >= c - 2) if first else (col <= c) & (col >= c - 1)),
                }
                for key, ok in allowed.items():
                    leak = (seen[key] > 0) & ~ok
                    if bool(leak.any()):
                        where = [tuple(int(i) for i in p) for p in leak.nonzero()[:3]]
                        relative = (
                            "below"
                            if any(p[0] > r for p in where)
                            else "its own row"
                            if key == "h_out from v"
                            else "the pixel itself"
                            if (r, c) in where
                            else "to the right"
                        )
                        hints = {
                            "below": _gated_hint(crop=False),
                            "its own row": _gated_hint(shift_v=False),
                            "the pixel itself": _gated_hint(shift_a=False),
                            "to the right": _gated_hint(crop=False),
                        }
                        raise Mismatch(
                            f"{kind}: {key.replace(' from ', ' at (3, 3) depends on input ')} at {where}",
                            "only the past",
                            f"{relative}",
                            hints[relative],
                        )
                for key in ("v_out from v", "h_out from v", "h_out from h"):
                    missing = ~(seen[key] > 0) & allowed[key]
                    expect(
                        not bool(missing.any()),
                        f"{kind}: {key} reaches every position its kernel covers",
                        "all of them",
                        f"missing {[tuple(int(i) for i in p) for p in missing.nonzero()[:3]]}",
                        "crop the convolutions' outputs, do not mask or zero their inputs",
                    )
        with check.case("the gated activations, the shift and the residual"):
            for first, n_classes, c_in in ((True, None, 3), (False, None, 4), (False, 5, 4), (True, 5, 4)):
                layer = build(first, n_classes, c_in)
                v, h = torch.randn(2, c_in, 5, 6, generator=g), torch.randn(2, c_in, 5, 6, generator=g)
                y = torch.tensor([1, 4]) if n_classes else None
                with torch.no_grad():
                    got = layer(v, h, y) if n_classes else layer(v, h)
                    want = _gated_reference(layer, v, h, y)
                    hint = ""
                    for variant, text in _GATED_MISTAKES:
                        other = _gated_reference(layer, v, h, y, **variant)
                        if all(torch.allclose(a, b, atol=1e-5) for a, b in zip(got, other)):
                            hint = text
                            break
                    if (
                        not hint
                        and n_classes
                        and all(
                            torch.allclose(a, b, atol=1e-5) for a, b in zip(got, _gated_reference(layer, v, h, None))
                        )
                    ):
                        hint = "add the class embedding to both stacks' pre-activations, inside the gate"
                what = f"{'first' if first else 'later'} layer{f', {n_classes} classes' if n_classes else ''}"
                a = torch.randn(2, 8, 3, 3, generator=g)
                gate_right = torch.allclose(
                    layer.gate(a, None), torch.tanh(a[:, :4]) * torch.sigmoid(a[:, 4:]), atol=1e-6
                )
                expect_close(
                    got[0],
                    want[0],
                    f"v_out of a {what}",
                    hint=hint
                    or (
                        "v_out is the gate of the cropped vertical features, with the class bias"
                        if gate_right
                        else "gate: tanh of the first half of the channels times the sigmoid of the second"
                    ),
                )
                expect_close(got[1], want[1], f"h_out of a {what}", hint=hint)
    return check.report


def check_pixel_nll(
    pixel_nll: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    bits_per_dim: Callable[[torch.Tensor, int], torch.Tensor],
) -> Report:
    """``pixel_nll(logits N x L x H x W, x N x 1 x H x W levels)``: −log p(x) per image (nats); and bits/dim."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 4, 4, generator=g)
    x = torch.randint(5, (3, 1, 4, 4), generator=g)
    expected = F.cross_entropy(logits, x[:, 0], reduction="none").flatten(1).sum(1)
    with Check("pixel_nll and bits_per_dim") as check:
        with check.case("one value per image", required=True):
            expect_shape(
                pixel_nll(logits, x), (3,), "pixel_nll for 3 images", "one value per image: sum over pixels only"
            )
        with check.case("value on random logits"):
            got = pixel_nll(logits, x)
            hint = (
                "sum the per-pixel cross-entropies of an image (do not average them)"
                if torch.allclose(got, expected / 16, atol=1e-4)
                else "−log softmax(logits)[level] at each pixel: F.cross_entropy(..., reduction='none')"
            )
            expect_close(got, expected, "−log p(x) per image", hint=hint)
        with check.case("uniform model"):
            got = pixel_nll(torch.zeros(2, 17, 8, 8), torch.zeros(2, 1, 8, 8, dtype=torch.long))
            expect_close(got, torch.full((2,), 64 * math.log(17)), "uniform logits over 17 levels: 64 log 17 nats")
        with check.case("bits per dimension"):
            got = bits_per_dim(torch.tensor([64 * math.log(17)]), 64)
            expect_close(
                got,
                torch.tensor([math.log2(17)]),
                "bits_per_dim of a uniform model over 17 levels (log2 17)",
                hint="divide the nats by the number of dimensions and by ln 2",
            )
            expect_close(
                bits_per_dim(torch.tensor([math.log(2) * 128]), 64),
                torch.tensor([2.0]),
                "bits_per_dim(128 ln 2 nats, 64)",
            )
    return check.report


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
    with Check("sample") as check:
        with check.case("returns integer images of the right shape", required=True):
            out = expect_tensor(sample(_Counter(), 2, shape=(1, 3, 4), levels=17), "the samples")
            expect_shape(out, (2, 1, 3, 4), "samples of 2 images of shape (1, 3, 4)")
            expect(
                out.dtype == torch.long,
                "samples should be integer levels (torch.long)",
                "torch.int64",
                out.dtype,
                "sample level indices with torch.multinomial or torch.distributions.Categorical",
            )
        with check.case("raster order, one conditional at a time"):
            model = _Counter()
            out = sample(model, 2, shape=(1, 3, 4), levels=17)
            expected = ((3 + torch.arange(12)) % 17).view(1, 1, 3, 4).expand(2, 1, 3, 4)
            expect(
                torch.equal(out, expected),
                "a model that counts up in raster order should yield 3, 4, 5, ...",
                expected[0, 0].tolist(),
                out[0, 0].tolist(),
                "loop over rows, then columns; call the model on the current x and sample only pixel (i, j)",
            )
            expect(
                model.calls == 12,
                "one model call per pixel",
                12,
                model.calls,
                "call the model once per pixel on the whole batch (not once per image)",
            )
        with check.case("the first pixel follows the model's marginal"):
            probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
            torch.manual_seed(0)
            out = sample(_Marginal(probs), 4000, shape=(1, 1, 2), levels=4)
            freq = torch.bincount(out[:, 0, 0, 0], minlength=4).float() / 4000
            expect(
                bool((freq - probs).abs().max() < 0.03),
                "the first pixel's frequencies should follow the model's probabilities",
                [round(p, 3) for p in probs.tolist()],
                [round(f, 3) for f in freq.tolist()],
                "sample from softmax(logits), do not take the argmax",
            )
        with check.case("completes the given pixels of x from start on"):
            model, start = _Counter(), 5
            given = torch.randint(17, (2, 1, 3, 4), generator=torch.Generator().manual_seed(0))
            out = expect_tensor(
                sample(model, 2, shape=(1, 3, 4), levels=17, x=given.clone(), start=start), "the samples"
            )
            expected = _counted(given, start, 17)
            if not torch.equal(out, expected):
                fresh = ((3 + torch.arange(12)) % 17).view(1, 1, 3, 4).expand(2, 1, 3, 4)
                if torch.equal(out, fresh):
                    hint = (
                        "the pixels before start were drawn again: they are given in x and must be kept; "
                        "draw only the pixels from raster index start on"
                    )
                elif out.shape == given.shape and not out.flatten(1)[:, :start].any():
                    hint = (
                        "the pixels before start should come from x: begin from a "
                        "copy of the given x, not an empty image"
                    )
                else:
                    hint = "keep x's pixels before raster index start, then draw start, start + 1, ... in raster order"
                expect(
                    False,
                    "completing 2 images given their first 5 pixels (start=5), with a model that counts up",
                    expected.flatten(1).tolist(),
                    out.flatten(1).tolist(),
                    hint,
                )
            expect(
                model.calls == 12 - start,
                "one model call per pixel drawn (7 from start=5)",
                12 - start,
                model.calls,
                "do not run the model for the pixels before start",
            )
    return check.report


def _counted(given: torch.Tensor, start: int, levels: int) -> torch.Tensor:
    """What a sampler gives with :class:`_Counter` (start level 3) from ``given``.

    Its first ``start`` pixels, then +1 each.
    """
    flat = given.clone().long().flatten(1)
    for i in range(start, flat.shape[1]):
        flat[:, i] = 3 % levels if i == 0 else (flat[:, i - 1] + 1) % levels
    return flat.view(given.shape)


#: Graded on the model the notebook trained (see :class:`course_utils.checks.Trained`).
TRAINED: dict[str, Trained] = {
    "check-trained-pixelcnn": Trained(
        "03_pixelcnn",
        "GatedPixelCNN()",
        "the bits per dimension (17 grey levels) of 90 digits that no notebook loads",
        full=1.85,
        zero=2.3,
    ),
}


def check_trained(GatedPixelCNN: type, path: str | None = None) -> Report:
    """The gated PixelCNN trained with your gated layer: its saved weights load into ``GatedPixelCNN``."""
    return check_weights_file(TRAINED["check-trained-pixelcnn"], {"GatedPixelCNN": GatedPixelCNN}, path)

"""Probes for lesson 03 (PixelCNN): see :mod:`course_tools.probes`."""

from __future__ import annotations

import torch

from course_tools.probes import Probe
from course_utils.checks.pixelcnn import _Counter, _gated_dependencies, _Marginal

#: what the reference's definitions need that the lecture configuration sets (the number of grey levels)
REFERENCE_CONTEXT = {"LEVELS": 17}


# ------------------------------------------------------------------------------------------------
# Inputs (drawn in the grader's process from the grading seed)
# ------------------------------------------------------------------------------------------------
def _input_3x8x8(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"x": torch.randn(2, 3, 8, 8, generator=g)}


def _input_2x6x6(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"x": torch.randn(2, 2, 6, 6, generator=g)}


def _input_and_update(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"x": torch.randn(2, 2, 7, 7, generator=g), "dw": torch.randn(3, 2, 5, 5, generator=g)}


def _logits_and_levels(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"logits": 2 * torch.randn(4, 17, 8, 8, generator=g), "x": torch.randint(17, (4, 1, 8, 8), generator=g)}


def _start_level(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"start": torch.randint(17, (), generator=g)}


def _given_pixels(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {
        "first": torch.randint(17, (), generator=g),
        "x": torch.randint(17, (2, 1, 3, 5), generator=g),
        "start": torch.randint(1, 15, (), generator=g),
    }


def _marginal(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"probs": torch.softmax(torch.randn(5, generator=g), 0)}


def _stacks(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"v": torch.randn(2, 4, 5, 6, generator=g), "h": torch.randn(2, 4, 5, 6, generator=g)}


def _stacks_and_classes(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {
        "v": torch.randn(2, 4, 6, 5, generator=g),
        "h": torch.randn(2, 4, 6, 5, generator=g),
        "y": torch.randint(3, (2,), generator=g),
    }


# ------------------------------------------------------------------------------------------------
# Properties compared where an answer may legitimately differ (in the grader's process)
# ------------------------------------------------------------------------------------------------
def _first_pixel(raw: list) -> float:
    images, probs = raw
    freq = torch.bincount(images[:, 0, 0, 0].long(), minlength=len(probs)).double() / len(images)
    return float((freq - probs.double()).abs().max() < 0.03)


# ------------------------------------------------------------------------------------------------
# The probes (run in the student's kernel and on the reference)
# ------------------------------------------------------------------------------------------------
def masks(inp, causal_mask):
    return [causal_mask(k, t).float() for k in (3, 5, 7) for t in "AB"]


def conv_a(inp, MaskedConv2d):
    return MaskedConv2d(3, 4, 5, "A")(inp["x"])


def conv_b(inp, MaskedConv2d):
    return MaskedConv2d(2, 3, 3, "B")(inp["x"])


def conv_a_after_update(inp, MaskedConv2d):
    m = MaskedConv2d(2, 3, 5, "A")
    m.weight.data.add_(inp["dw"])
    return m(inp["x"])


def nll_and_bits(inp, pixel_nll, bits_per_dim):
    x = inp["x"].long()
    return [pixel_nll(inp["logits"], x), bits_per_dim(pixel_nll(inp["logits"], x), 64)]


def raster_order(inp, sample):
    return sample(_Counter(17, int(inp["start"])), 2, shape=(1, 3, 5), levels=17)


def completion(inp, sample):
    model = _Counter(17, int(inp["first"]))
    return sample(model, 2, shape=(1, 3, 5), levels=17, x=inp["x"], start=int(inp["start"]))


def first_pixel(inp, sample):
    return [sample(_Marginal(inp["probs"]), 4000, shape=(1, 1, 2), levels=5), inp["probs"]]


def gated_first(inp, GatedLayer):
    return GatedLayer(4, 4, 3, True)(inp["v"], inp["h"])


def gated_later(inp, GatedLayer):
    return GatedLayer(4, 4, 3, False, 3)(inp["v"], inp["h"], inp["y"])


def gated_reach(inp, GatedLayer):
    return [list(_gated_dependencies(GatedLayer(c, 4, 3, first), c).values()) for first, c in ((True, 2), (False, 4))]


PROBES: dict[str, list[Probe]] = {
    "check-causal-mask": [
        Probe("masks A and B for k = 3, 5, 7", masks),
    ],
    "check-masked-conv": [
        Probe("output of a masked convolution on random input", conv_a, _input_3x8x8),
        Probe("type B on random input", conv_b, _input_2x6x6),
        Probe("type A after a weight update (the mask holds at every call)", conv_a_after_update, _input_and_update),
    ],
    "check-pixel-nll": [
        Probe("nll per image and bits per dimension", nll_and_bits, _logits_and_levels),
    ],
    "check-sample": [
        Probe("raster order with a counting model", raster_order, _start_level),
        Probe("completing given pixels from start on, with a counting model", completion, _given_pixels),
        Probe("the first pixel follows the model's marginal", first_pixel, _marginal, check=_first_pixel),
    ],
    "check-gated-layer": [
        Probe("both stacks of a first layer on random input", gated_first, _stacks),
        Probe("both stacks of a later layer with 3 classes", gated_later, _stacks_and_classes),
        Probe("which inputs reach the centre output of a first and a later layer", gated_reach),
    ],
}

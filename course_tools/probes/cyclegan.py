"""Probes for lesson 06 (CycleGAN): see :mod:`course_tools.probes`."""

from __future__ import annotations

import random

import torch
from torch import nn

from course_tools.probes import Probe
from course_utils.checks.cyclegan import update_outputs


# ------------------------------------------------------------------------------------------------
# Inputs (drawn in the grader's process from the grading seed)
# ------------------------------------------------------------------------------------------------
def _domains(g: torch.Generator) -> dict[str, torch.Tensor]:
    """x in X = [0, 1] and y in Y = [2, 3]."""
    return {"x": torch.rand(4, 1, 8, 8, generator=g), "y": 2 + torch.rand(4, 1, 8, 8, generator=g)}


def _domains_and_slopes(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {**_domains(g), "a": 0.5 + torch.rand((), generator=g), "c": 0.5 + torch.rand((), generator=g)}


def _dim_y(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"x": torch.rand(4, 1, 8, 8, generator=g), "y": 0.3 * torch.rand(4, 1, 8, 8, generator=g)}


def _image_pair(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"x": torch.rand(4, 1, 8, 8, generator=g), "y": torch.rand(4, 1, 8, 8, generator=g)}


def _update_inputs(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {
        name: torch.rand(4, 1, 8, 8, generator=g) * scale
        for name, scale in (("x", 1.0), ("y", 0.5), ("old_x", 1.0), ("old_y", 1.0))
    }


# ------------------------------------------------------------------------------------------------
# Properties compared where an answer may legitimately differ (in the grader's process)
# ------------------------------------------------------------------------------------------------
def _buffer_properties(raw: list) -> list:
    """Properties of 60 batches of 4 equal images (value k in batch k) through ImageBuffer(10)."""
    first, batches, outputs = raw
    filling_ok = float(torch.equal(first, batches[0][: len(first)]))
    values = [float(b[0, 0, 0, 0]) for b in batches]
    returned = [float(v) for out in outputs[1:] for v in out[:, 0, 0, 0]]
    new_values = [v for k, b in enumerate(batches[1:], 1) for v in [float(b[0, 0, 0, 0])] * len(b)]
    old = sum(r != n for r, n in zip(returned, new_values))
    all_known = float(all(r in values for r in returned))
    # the stored images returned in the last 20 batches were pushed after the pool filled (batch 3 on), not the first 10
    late_old = [float(v) for k, out in enumerate(outputs[40:], 40) for v in out[:, 0, 0, 0] if float(v) != k]
    recent = float(bool(late_old) and sum(v >= 3 for v in late_old) / len(late_old) > 0.9)
    return [filling_ok, all_known, float(0.3 < old / max(len(returned), 1) < 0.7), recent]


def _buffer_ages(raw: list) -> list:
    """Properties of 50 batches of 3 distinct images (values 3k, 3k + 1, 3k + 2 in batch k) through ImageBuffer(6)."""
    returned = [(k, float(v)) for k, out in enumerate(raw) for v in out[:, 0, 0, 0]]
    pushed = float(all(v == round(v) and 0 <= v <= 3 * k + 2 for k, v in returned))  # new ones or earlier ones
    old = [(k, v) for k, v in returned[18:] if v < 3 * k]  # from batch 6 on (it is full from batch 2): from the pool
    mixes = float(0.3 < len(old) / max(len(returned[18:]), 1) < 0.7)
    # a stored image survives a batch with probability (11/12)³ ≈ 0.77: in the last 20 batches, the images it
    # returns are a few batches old (a pool that stopped storing returns images 29 batches old or more)
    ages = [k - int(v) // 3 for k, v in old if k >= 30]
    young = float(bool(ages) and sum(ages) / len(ages) < 15)
    return [pushed, mixes, young]


# ------------------------------------------------------------------------------------------------
# The probes (run in the student's kernel and on the reference)
# ------------------------------------------------------------------------------------------------
def _into_domains() -> tuple:
    """Two random networks, each of which lands in its own domain: G in Y = (2, 3), F in X = (0, 1). On x in X and
    y in Y, a round trip in the wrong order (G∘F on x, F∘G on y) ends in the wrong domain."""
    g = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Sigmoid())
    f = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Tanh(), nn.Conv2d(2, 1, 1), nn.Sigmoid())
    return (lambda t: 2 + g(t)), f


def cycle_between_domains(inp, cycle_loss):
    G, F_ = _into_domains()
    return cycle_loss(G, F_, inp["x"], inp["y"])


def cycle_of_translations(inp, cycle_loss):
    # G(t) = a·max(t, 0) + 2 and F(t) = max(t − 2, 0) / c between X = [0, 1] and Y = [2, 3]: G∘F sends X to 2
    G = lambda t: inp["a"] * t.clamp(min=0) + 2  # noqa: E731 - a map, as the lesson writes one
    F_ = lambda t: (t - 2).clamp(min=0) / inp["c"]  # noqa: E731
    return cycle_loss(G, F_, inp["x"], inp["y"])


def identity_of_convolutions(inp, identity_loss):
    G, F_ = nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, padding=1)
    return identity_loss(G, F_, inp["x"], inp["y"])


def buffer_fills_then_mixes(inp, ImageBuffer):
    random.seed(torch.initial_seed())  # Python's random (which an ImageBuffer may use), seeded from the probe's seed
    buffer = ImageBuffer(10)
    batches = [torch.full((4, 1, 8, 8), float(k)) for k in range(60)]
    return [buffer(batches[0]), batches, [batches[0]] + [buffer(b) for b in batches[1:]]]


def buffer_returns_recent(inp, ImageBuffer):
    random.seed(torch.initial_seed())
    buffer = ImageBuffer(6)
    batch = lambda k: torch.arange(3 * k, 3 * k + 3, dtype=torch.float32).view(3, 1, 1, 1).expand(3, 1, 8, 8).clone()  # noqa: E731
    return [buffer(batch(k)) for k in range(50)]


def _critic() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 1))


def _terms(out: dict) -> list:
    return [out["loss"], out["adversarial"], out["cycle"], out["identity"]]


def objective_of_random_networks(inp, generator_objective):
    G, F_, D_X, D_Y = nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, padding=1), _critic(), _critic()
    return _terms(generator_objective(G, F_, D_X, D_Y, inp["x"], inp["y"], lambda_cycle=7.0, lambda_identity=2.0))


def objective_between_domains(inp, generator_objective):
    # G lands in Y = (2, 3) and F in X = (0, 1), as in _into_domains: a cycle term in the wrong order is far off
    g = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Sigmoid())
    F_ = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Sigmoid())
    D_X, D_Y = _critic(), _critic()
    out = generator_objective(
        lambda t: 2 + g(t), F_, D_X, D_Y, inp["x"], inp["y"], lambda_cycle=7.0, lambda_identity=2.0
    )
    return _terms(out)


def one_update(inp, cyclegan_update):
    return update_outputs(cyclegan_update, 0, inp["x"], inp["y"], inp["old_x"], inp["old_y"])


def three_updates(inp, cyclegan_update):
    return update_outputs(cyclegan_update, 0, inp["x"], inp["y"], inp["old_x"], inp["old_y"], 3)


PROBES: dict[str, list[Probe]] = {
    "check-cycle-loss": [
        Probe("cycle loss of two random networks between X = [0, 1] and Y = [2, 3]", cycle_between_domains, _domains),
        Probe(
            "cycle loss of translations between two domains, where the order of the round trip matters",
            cycle_of_translations,
            _domains_and_slopes,
        ),
    ],
    "check-identity-loss": [
        Probe("identity loss of two random convolutions", identity_of_convolutions, _dim_y),
    ],
    "check-image-buffer": [
        Probe(
            "fills, then mixes old and new half and half, and keeps storing",
            buffer_fills_then_mixes,
            check=_buffer_properties,
        ),
        Probe("once full, the images it returns are recent ones", buffer_returns_recent, check=_buffer_ages),
    ],
    "check-generator-objective": [
        Probe("loss and terms for random networks", objective_of_random_networks, _image_pair),
        Probe(
            "loss and terms for random networks between X = [0, 1] and Y = [2, 3]", objective_between_domains, _domains
        ),
    ],
    "check-cyclegan-update": [
        Probe("weights of all four networks and the returned values after one step", one_update, _update_inputs),
        Probe("the same after three steps", three_updates, _update_inputs),
    ],
}

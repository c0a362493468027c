"""Probes for lesson 01 (autoencoders): see :mod:`course_tools.probes`."""

from __future__ import annotations

import torch

from course_tools.probes import Probe
from course_utils.checks.autoencoder import _code_inputs, _one_class


# ------------------------------------------------------------------------------------------------
# Inputs (drawn in the grader's process from the grading seed)
# ------------------------------------------------------------------------------------------------
def _images(g: torch.Generator, n: int = 6) -> torch.Tensor:
    return torch.rand(n, 1, 8, 8, generator=g)


def _image_pairs(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"x": _images(g), "x_hat": _images(g)}


def _vector_pairs(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"x": torch.rand(7, 64, generator=g), "x_hat": torch.rand(7, 64, generator=g)}


def _small_image_pairs(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"x": _images(g, 4), "x_hat": _images(g, 4)}


def _autoencoder_inputs(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {
        "x": _images(g, 5),
        "z": torch.randn(5, 4, generator=g),
        "a": 3 * torch.randn(1, 4, generator=g),
        "b": 3 * torch.randn(1, 4, generator=g),
    }


def _varied_images(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"x": _code_inputs(g)}


def _sizes(g: torch.Generator) -> dict[str, torch.Tensor]:
    i, k = torch.randint(4, 30, (12,), generator=g), torch.randint(1, 6, (12,), generator=g)
    s, p = torch.randint(1, 4, (12,), generator=g), torch.randint(0, 3, (12,), generator=g)
    return {"cfg": torch.stack([i.maximum(k + 1), k, s, p], 1)}


def _labels(g: torch.Generator) -> dict[str, torch.Tensor]:
    y = torch.cat([torch.arange(10).repeat(4), torch.randint(10, (40,), generator=g)])
    return {"y": y[torch.randperm(len(y), generator=g)]}


def _blobs(g: torch.Generator) -> dict[str, torch.Tensor]:
    centres = 20 * torch.randn(10, 5, generator=g)
    y_train, y_test = torch.arange(10).repeat(3), torch.arange(10).repeat(10)
    return {
        "f_train": centres[y_train] + 0.1 * torch.randn(30, 5, generator=g),
        "y_train": y_train,
        "f_test": centres[y_test] + 0.1 * torch.randn(100, 5, generator=g),
        "y_test": y_test,
        "noise_train": torch.randn(30, 20, generator=g),
        "noise_test": torch.randn(400, 20, generator=g),
        "noise_y_train": torch.arange(10).repeat(3),
        "noise_y_test": torch.arange(10).repeat(40),
    }


# ------------------------------------------------------------------------------------------------
# Properties compared where an answer may legitimately differ (in the grader's process)
# ------------------------------------------------------------------------------------------------
def _autoencoder_properties(raw: list) -> list:
    """From [encode(x), decode(z), forward(x), decode(encode(x)), decode(mid), decode(a), decode(b)]."""
    encoded, decoded, forward, through, mid, a, b = raw
    return [
        torch.tensor(encoded.shape),
        torch.tensor(decoded.shape),
        torch.tensor(forward.shape),
        float(((forward >= 0) & (forward <= 1)).all()),
        float(torch.allclose(forward, through, atol=1e-6)),
        float((mid - (a + b) / 2).abs().max() > 1e-4),
    ]


def _label_properties(raw: list) -> list:
    idx, again, y = raw
    return [
        torch.bincount(y[idx.long()], minlength=10),
        float(len(set(idx.tolist())) == len(idx)),
        float(torch.equal(idx, again)),
    ]


def _takes_both_signs(codes: torch.Tensor) -> float:
    return float(bool((codes < 0).any()))


def _near_chance(accuracy: torch.Tensor) -> float:
    return float(float(accuracy) < 0.3)


# ------------------------------------------------------------------------------------------------
# The probes (run in the student's kernel and on the reference)
# ------------------------------------------------------------------------------------------------
def reconstruction_value(inp, reconstruction_loss):
    return reconstruction_loss(inp["x"], inp["x_hat"])


def reconstruction_gradient(inp, reconstruction_loss):
    x_hat = inp["x_hat"].clone().requires_grad_()
    return torch.autograd.grad(reconstruction_loss(inp["x"], x_hat), x_hat)[0]


def autoencoder_outputs(inp, Autoencoder):
    m = Autoencoder(4, (1, 8, 8), 24)
    x, a, b = inp["x"], inp["a"], inp["b"]
    return [
        m.encode(x),
        m.decode(inp["z"]),
        m(x),
        m.decode(m.encode(x)),
        m.decode((a + b) / 2),
        m.decode(a),
        m.decode(b),
    ]


def fresh_codes(inp, Autoencoder):
    return Autoencoder(16, (1, 8, 8), 24).encode(inp["x"])


def conv_sizes(inp, conv_output_size):
    return [conv_output_size(*[int(v) for v in c]) for c in inp["cfg"]]


def conv_transpose_sizes(inp, conv_transpose_output_size):
    return [conv_transpose_output_size(*[int(v) for v in c]) for c in inp["cfg"]]


def label_subsets(inp, label_subset):
    return [label_subset(inp["y"], 3, 5), label_subset(inp["y"], 3, 5), inp["y"]]


def accuracy_separable(inp, probe_accuracy):
    return probe_accuracy(inp["f_train"], inp["y_train"], inp["f_test"], inp["y_test"])


def accuracy_on_noise(inp, probe_accuracy):
    return probe_accuracy(inp["noise_train"], inp["noise_y_train"], inp["noise_test"], inp["noise_y_test"])


def accuracy_one_class(inp, probe_accuracy):
    tests = (torch.cat([inp["near"], inp["far"]]), inp["near"], inp["far"])
    return [probe_accuracy(inp["f_train"], inp["y_train"], t, torch.ones(len(t), dtype=torch.long)) for t in tests]


PROBES: dict[str, list[Probe]] = {
    "check-reconstruction-loss": [
        Probe("value on random images", reconstruction_value, _image_pairs),
        Probe("value on flat vectors", reconstruction_value, _vector_pairs),
        Probe("gradient with respect to x_hat", reconstruction_gradient, _small_image_pairs),
    ],
    "check-autoencoder": [
        Probe(
            "shapes, outputs in [0, 1], forward = decode(encode(x)), a nonlinear decoder",
            autoencoder_outputs,
            _autoencoder_inputs,
            check=_autoencoder_properties,
        ),
        Probe(
            "codes of a fresh model take both signs (no activation after the code layer)",
            fresh_codes,
            _varied_images,
            check=_takes_both_signs,
        ),
    ],
    "check-output-sizes": [
        Probe("conv_output_size on random layers", conv_sizes, _sizes),
        Probe("conv_transpose_output_size on random layers", conv_transpose_sizes, _sizes),
    ],
    "check-label-subset": [
        Probe("n per class, distinct, reproducible", label_subsets, _labels, check=_label_properties),
    ],
    "check-probe-accuracy": [
        Probe("perfect on separable features", accuracy_separable, _blobs),
        Probe("near chance on noise", accuracy_on_noise, _blobs, check=_near_chance),
        Probe(
            "a one-class test set, far beyond its training cluster: standardised with training statistics",
            accuracy_one_class,
            _one_class,
        ),
    ],
}

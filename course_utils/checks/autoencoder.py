"""Checks for lesson 01 (autoencoders). Each ``check_*`` takes the student's object."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from . import Check, Mismatch, Report, expect, expect_close, expect_scalar, expect_shape, expect_tensor

__all__ = [
    "check_reconstruction_loss",
    "check_autoencoder",
    "check_output_sizes",
    "check_label_subset",
    "check_probe_accuracy",
]


# ------------------------------------------------------------------------------------------------
def check_reconstruction_loss(reconstruction_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Report:
    """L(x, x̂) = (1/N) Σ_n ||x_n − x̂_n||², summed over the pixels of each image."""
    x = torch.zeros(2, 1, 2, 2)
    x_hat = torch.tensor([[[[0.5, 0.5], [0.5, 0.5]]], [[[1.0, 1.0], [0.0, 0.0]]]])
    with Check("reconstruction_loss") as check:
        with check.case("returns a scalar tensor"):
            expect_scalar(
                reconstruction_loss(x, x_hat), hint="reduce over pixels and images, e.g. with .sum(...) and .mean()"
            )
        with check.case("value on a fixed batch"):
            got = float(reconstruction_loss(x, x_hat))
            hints = {
                0.375: "you averaged over the pixels too: sum over the pixels of each image, then average over images",
                3.0: "you summed over the images: average over the N images of the batch",
            }
            hint = next((h for v, h in hints.items() if abs(got - v) < 1e-6), "")
            expect_close(got, 1.5, "loss of two 2x2 images with squared errors 1.0 and 2.0", hint=hint)
        with check.case("zero when x̂ = x"):
            x_rand = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(1))
            expect_close(reconstruction_loss(x_rand, x_rand.clone()), 0.0, "loss of a perfect reconstruction")
        with check.case("works on flat vectors"):
            a = torch.rand(4, 64, generator=torch.Generator().manual_seed(2))
            b = torch.rand(4, 64, generator=torch.Generator().manual_seed(3))
            expect_close(
                reconstruction_loss(a, b),
                ((a - b) ** 2).sum(1).mean(),
                "loss of flat N x 64 inputs",
                hint="the same formula must hold for flat inputs: add up over every dimension but the batch one, "
                "whatever their number",
            )
        with check.case("gradient matches 2(x̂ − x)/N"):
            a = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(4))
            b = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(5)).requires_grad_()
            loss = reconstruction_loss(a, b)
            expect(
                loss.requires_grad,
                "the loss should carry a gradient to x_hat",
                True,
                False,
                "do not call .item(), .detach() or NumPy inside the loss",
            )
            loss.backward()
            expect_close(b.grad, 2 * (b.detach() - a) / 3, "gradient dL/dx̂ = 2(x̂ − x)/N")
    return check.report


# ------------------------------------------------------------------------------------------------
def _code_inputs(g: torch.Generator) -> torch.Tensor:
    """64 varied images (uniform noise, then sparse binary strokes): a linear code layer gives codes of both signs."""
    return torch.cat([torch.rand(32, 1, 8, 8, generator=g), (torch.rand(32, 1, 8, 8, generator=g) < 0.3).float()])


def check_autoencoder(Autoencoder: type) -> Report:
    """The MLP autoencoder: ``Autoencoder(d_latent, image_shape, d_hidden)`` with encode/decode."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 1, 8, 8, generator=g)
    with Check("Autoencoder") as check:
        with check.case("Autoencoder(d_latent=3, image_shape=(1, 8, 8), d_hidden=32) builds", required=True):
            torch.manual_seed(0)
            model = Autoencoder(d_latent=3, image_shape=(1, 8, 8), d_hidden=32)
            expect(
                isinstance(model, nn.Module),
                "Autoencoder(...) should be an nn.Module",
                "nn.Module",
                type(model).__name__,
            )
            n = sum(p.numel() for p in model.parameters())
            expect(n > 0, "the model should have trainable parameters", "> 0", n)
        with check.case("encode maps images to d_latent numbers"):
            expect_shape(
                model.encode(x),
                (5, 3),
                "encode(x) for x of shape (5, 1, 8, 8)",
                "a linear layer takes vectors: flatten each image first, and end the encoder with d_latent outputs",
            )
        with check.case("decode maps codes back to images"):
            z = torch.randn(5, 3, generator=g)
            expect_shape(
                model.decode(z),
                (5, 1, 8, 8),
                "decode(z) for z of shape (5, 3)",
                "the decoder's outputs are flat: give them the shape of a batch of images (image_shape)",
            )
        with check.case("forward returns images in [0, 1]"):
            with torch.no_grad():
                x_hat = model(x)
            expect_shape(x_hat, x.shape, "forward(x)")
            lo, hi = float(x_hat.min()), float(x_hat.max())
            expect(
                0.0 <= lo and hi <= 1.0,
                "pixel values of forward(x) should lie in [0, 1]",
                "[0, 1]",
                f"[{lo:.3g}, {hi:.3g}]",
                "end the decoder with a sigmoid: pixels are intensities in [0, 1]",
            )
        with check.case("forward(x) = decode(encode(x))"):
            expect_close(
                model(x),
                model.decode(model.encode(x)),
                "forward(x) against decode(encode(x))",
                hint="forward must go through the bottleneck: decode what encode gives, nothing else",
            )
        with check.case("the decoder is nonlinear"):
            z1, z2 = torch.randn(2, 1, 3, generator=g) * 3
            with torch.no_grad():
                midpoint = model.decode((z1 + z2) / 2)
                average = (model.decode(z1) + model.decode(z2)) / 2
            gap = float((midpoint - average).abs().max())
            expect(
                gap > 1e-4,
                "the decoder should be nonlinear (decode of the mean ≠ mean of the decodes)",
                "a gap > 1e-4",
                f"{gap:.2g}",
                "put an activation such as nn.ReLU() between the linear layers",
            )
        with check.case("codes take both signs"):
            torch.manual_seed(1)
            wide = Autoencoder(d_latent=16, image_shape=(1, 8, 8), d_hidden=32)
            with torch.no_grad():
                codes = expect_tensor(wide.encode(_code_inputs(g)), "the codes")
            lo = float(codes.min())
            expect(
                lo < 0,
                "smallest code of a fresh model (d_latent=16) on 64 images",
                "< 0",
                lo,
                "the codes are never negative: leave the code layer linear, with no activation such as ReLU or "
                "sigmoid after it, so that a code can take any real value",
            )
        with check.case("gradients reach every parameter"):
            model.zero_grad()
            ((model(x) - x) ** 2).sum().backward()
            missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
            expect(
                not missing,
                "every parameter should receive a gradient",
                "none missing",
                missing,
                "every layer must be used in forward, and every step kept inside autograd (nothing detached)",
            )
    return check.report


# ------------------------------------------------------------------------------------------------
_SIZES = [(8, 3, 1, 1), (8, 3, 2, 1), (28, 5, 1, 0), (28, 4, 2, 1), (7, 3, 2, 0), (9, 2, 3, 2), (4, 1, 1, 0)]


def check_output_sizes(
    conv_output_size: Callable[[int, int, int, int], int],
    conv_transpose_output_size: Callable[[int, int, int, int], int],
) -> Report:
    """Output sizes against what ``nn.Conv2d`` / ``nn.ConvTranspose2d`` really produce."""

    def compare(fn: Callable[[int, int, int, int], int], layer: type, name: str, formula: str) -> None:
        for i, k, s, p in _SIZES:
            with torch.no_grad():
                true = layer(1, 1, k, stride=s, padding=p)(torch.zeros(1, 1, i, i)).shape[-1]
            got = fn(i, k, s, p)
            expect(
                isinstance(got, int),
                f"{name} should return an int",
                "int",
                type(got).__name__,
                "use integer division // so the result is an int",
            )
            if got != true:
                raise Mismatch(f"{name}(i={i}, k={k}, s={s}, p={p})", true, got, formula)

    with Check("output sizes") as check:
        with check.case("conv_output_size matches nn.Conv2d"):
            compare(conv_output_size, nn.Conv2d, "conv_output_size", "o = ⌊(i + 2p − k) / s⌋ + 1")
        with check.case("conv_transpose_output_size matches nn.ConvTranspose2d"):
            compare(
                conv_transpose_output_size,
                nn.ConvTranspose2d,
                "conv_transpose_output_size",
                "o = (i − 1)·s − 2p + k: the transposed conv inverts the conv's size map",
            )
    return check.report


# ------------------------------------------------------------------------------------------------
def check_label_subset(label_subset: Callable[[torch.Tensor, int, int], torch.Tensor]) -> Report:
    """``label_subset(y, n_per_class, seed)``: indices of ``n_per_class`` examples of every class."""
    y = torch.arange(10).repeat_interleave(torch.arange(5, 15))  # class c has 5 + c examples
    y = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))]
    with Check("label_subset") as check:
        with check.case("returns int64 indices of the right length", required=True):
            idx = expect_tensor(label_subset(y, 3, 0), "the indices")
            expect(idx.dtype == torch.long, "indices should be int64 (torch.long)", "torch.int64", idx.dtype)
            expect_shape(idx, (30,), "indices for 3 per class and 10 classes")
        with check.case("exactly n_per_class of each class"):
            counts = torch.bincount(y[idx], minlength=10)
            expect(
                bool((counts == 3).all()),
                "each class should appear exactly 3 times",
                [3] * 10,
                counts.tolist(),
                "for each class, pick among the indices of that class only",
            )
        with check.case("no index repeated"):
            expect(
                len(set(idx.tolist())) == len(idx),
                "indices should be distinct (no example picked twice)",
                len(idx),
                len(set(idx.tolist())),
                "sample without replacement, e.g. with torch.randperm",
            )
        with check.case("deterministic for a seed"):
            a, b, c = label_subset(y, 2, 7), label_subset(y, 2, 7), label_subset(y, 2, 8)
            expect(
                torch.equal(a, b),
                "the same seed should give the same subset",
                True,
                False,
                "make a torch.Generator().manual_seed(seed) and pass it to torch.randperm",
            )
            expect(not torch.equal(a, c), "different seeds should give different subsets", True, False)
        with check.case("works when a class has exactly n examples"):
            idx = label_subset(y, 5, 0)
            expect(len(idx) == 50, "5 per class should work when the smallest class has exactly 5", 50, len(idx))
    return check.report


# ------------------------------------------------------------------------------------------------
def _one_class(g: torch.Generator, d: int = 5) -> dict[str, torch.Tensor]:
    """Two training clusters (12 of class 0, 10 of class 1), and test examples of class 1 only: 10 near
    its cluster and 10 far beyond it, on the side away from class 0. Standardised with the training
    statistics, every test example is clearly class 1; standardised with statistics of the test
    features, they are not (the near ones move to the middle, or the training clusters shrink together)."""
    direction = torch.randn(d, generator=g)
    direction = 3 * direction / direction.norm()
    c0 = 2 * torch.randn(d, generator=g)
    c1 = c0 + direction
    y_train = torch.tensor([0] * 12 + [1] * 10)
    f_train = torch.where(y_train[:, None] == 0, c0, c1) + 0.3 * torch.randn(22, d, generator=g)
    near = c1 + 0.3 * torch.randn(10, d, generator=g)
    far = c1 + 100 * (1 + torch.rand(10, 1, generator=g)) * direction + 0.3 * torch.randn(10, d, generator=g)
    return {"f_train": f_train, "y_train": y_train, "near": near, "far": far, "ones": torch.ones(10, dtype=torch.long)}


def check_probe_accuracy(probe_accuracy: Callable[..., float]) -> Report:
    """``probe_accuracy(f_train, y_train, f_test, y_test)``: test accuracy of a linear classifier."""
    g = torch.Generator().manual_seed(0)
    centres = 10 * torch.randn(10, 6, generator=g)
    y_train, y_test = torch.arange(10).repeat(3), torch.arange(10).repeat(20)
    f_train = centres[y_train] + 0.1 * torch.randn(30, 6, generator=g)
    f_test = centres[y_test] + 0.1 * torch.randn(200, 6, generator=g)
    with Check("probe_accuracy") as check:
        with check.case("returns a float in [0, 1]", required=True):
            acc = probe_accuracy(f_train, y_train, f_test, y_test)
            expect(
                isinstance(acc, float),
                "the accuracy should be a Python float",
                "float",
                type(acc).__name__,
                "return float(...) of the fraction of correct test predictions",
            )
            expect(
                0.0 <= acc <= 1.0,
                "the accuracy should be a fraction in [0, 1]",
                "[0, 1]",
                acc,
                "return the fraction of correct predictions, not a percentage or a count",
            )
        with check.case("perfect on separable features"):
            expect_close(
                acc,
                1.0,
                "accuracy on well-separated clusters",
                hint="fit on (f_train, y_train), predict f_test, compare with y_test",
            )
        with check.case("near chance on noise"):
            h = torch.Generator().manual_seed(1)  # 30 examples in 20 dimensions: the training set is easy to fit
            acc = probe_accuracy(
                torch.randn(30, 20, generator=h),
                torch.arange(10).repeat(3),
                torch.randn(500, 20, generator=h),
                torch.arange(10).repeat(50),
            )
            expect(
                acc < 0.3,
                "on pure-noise features accuracy should be near chance (0.1)",
                "< 0.3",
                acc,
                "the classifier fits these 30 training examples almost perfectly: score it on the test set, never "
                "on the training set"
                if acc > 0.8
                else "",
            )
        with check.case("test features scaled with the training statistics"):
            data = _one_class(torch.Generator().manual_seed(3))
            f_tr, y_tr, near, far, ones = data["f_train"], data["y_train"], data["near"], data["far"], data["ones"]
            acc = probe_accuracy(f_tr, y_tr, torch.cat([near, far]), torch.cat([ones, ones]))
            expect_close(
                acc,
                1.0,
                "accuracy on a test set of one class, half of it far beyond its training cluster",
                hint=_scaling_hint(probe_accuracy, data, acc),
            )
    return check.report


def _scaling_hint(probe_accuracy: Callable[..., float], data: dict[str, torch.Tensor], acc: float) -> str:
    """What went wrong when a one-class test set, half of it far beyond its cluster, is not classified right."""
    if abs(acc - 1.0) < 1e-6:
        return ""
    f_tr, y_tr, ones = data["f_train"], data["y_train"], data["ones"]
    near_acc, far_acc = probe_accuracy(f_tr, y_tr, data["near"], ones), probe_accuracy(f_tr, y_tr, data["far"], ones)
    if abs(acc - (near_acc + far_acc) / 2) > 1e-6:
        return (
            f"the test predictions change with the other test examples ({near_acc:.2f} on the near half "
            f"alone, {far_acc:.2f} on the far half alone, {acc:.2f} on both): the standardisation used "
            "statistics of the test features. Fit it on the training features only, and apply that same "
            "shift and scale to the test features"
        )
    return (
        "every test example lies on class 1's side of the training clusters: a logistic regression "
        "fitted on the standardised training features (default regularisation) labels them all 1"
    )

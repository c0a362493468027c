"""Checks for lesson 01 (autoencoders). Each ``check_*`` takes the student's object."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from . import Case, Mismatch, Report, expect, expect_close, expect_shape, expect_tensor, run_cases

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
    __tracebackhide__ = True
    x = torch.zeros(2, 1, 2, 2)
    x_hat = torch.tensor([[[[0.5, 0.5], [0.5, 0.5]]], [[[1.0, 1.0], [0.0, 0.0]]]])

    def scalar() -> None:
        out = expect_tensor(reconstruction_loss(x, x_hat))
        expect(
            out.dim() == 0,
            "the loss should be a 0-dimensional tensor",
            "shape ()",
            f"shape {tuple(out.shape)}",
            "reduce over pixels and images, e.g. with .sum(...) and .mean()",
        )

    def value() -> None:
        got = float(reconstruction_loss(x, x_hat))
        hints = {
            0.375: "you averaged over the pixels too: sum over the pixels of each image, then average over images",
            3.0: "you summed over the images: average over the N images of the batch",
        }
        hint = next((h for v, h in hints.items() if abs(got - v) < 1e-6), "")
        expect_close(got, 1.5, "loss of two 2x2 images with squared errors 1.0 and 2.0", hint=hint)

    def zero() -> None:
        x_rand = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(1))
        expect_close(reconstruction_loss(x_rand, x_rand.clone()), 0.0, "loss of a perfect reconstruction")

    def flat() -> None:
        a = torch.rand(4, 64, generator=torch.Generator().manual_seed(2))
        b = torch.rand(4, 64, generator=torch.Generator().manual_seed(3))
        expect_close(
            reconstruction_loss(a, b),
            ((a - b) ** 2).sum(1).mean(),
            "loss of flat N x 64 inputs",
            hint="the same formula must hold for flat inputs: add up over every dimension but the batch one, "
            "whatever their number",
        )

    def gradient() -> None:
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

    return run_cases(
        "reconstruction_loss",
        [
            Case("returns a scalar tensor", scalar),
            Case("value on a fixed batch", value),
            Case("zero when x̂ = x", zero),
            Case("works on flat vectors", flat),
            Case("gradient matches 2(x̂ − x)/N", gradient),
        ],
    )


# ------------------------------------------------------------------------------------------------
def _code_inputs(g: torch.Generator) -> torch.Tensor:
    """64 varied images (uniform noise, then sparse binary strokes): a linear code layer gives codes of both signs."""
    return torch.cat([torch.rand(32, 1, 8, 8, generator=g), (torch.rand(32, 1, 8, 8, generator=g) < 0.3).float()])


def check_autoencoder(Autoencoder: type) -> Report:
    """The MLP autoencoder: ``Autoencoder(d_latent, image_shape, d_hidden)`` with encode/decode."""
    __tracebackhide__ = True
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 1, 8, 8, generator=g)
    state: dict[str, nn.Module] = {}

    def build() -> None:
        torch.manual_seed(0)
        model = Autoencoder(d_latent=3, image_shape=(1, 8, 8), d_hidden=32)
        expect(
            isinstance(model, nn.Module), "Autoencoder(...) should be an nn.Module", "nn.Module", type(model).__name__
        )
        n = sum(p.numel() for p in model.parameters())
        expect(n > 0, "the model should have trainable parameters", "> 0", n)
        state["model"] = model

    def encode_shape() -> None:
        expect_shape(
            state["model"].encode(x),
            (5, 3),
            "encode(x) for x of shape (5, 1, 8, 8)",
            "a linear layer takes vectors: flatten each image first, and end the encoder with d_latent outputs",
        )

    def decode_shape() -> None:
        z = torch.randn(5, 3, generator=g)
        expect_shape(
            state["model"].decode(z),
            (5, 1, 8, 8),
            "decode(z) for z of shape (5, 3)",
            "the decoder's outputs are flat: give them the shape of a batch of images (image_shape)",
        )

    def output_range() -> None:
        with torch.no_grad():
            x_hat = state["model"](x)
        expect_shape(x_hat, x.shape, "forward(x)")
        lo, hi = float(x_hat.min()), float(x_hat.max())
        expect(
            0.0 <= lo and hi <= 1.0,
            "pixel values of forward(x) should lie in [0, 1]",
            "[0, 1]",
            f"[{lo:.3g}, {hi:.3g}]",
            "end the decoder with a sigmoid: pixels are intensities in [0, 1]",
        )

    def bottleneck() -> None:
        model = state["model"]
        expect_close(
            model(x),
            model.decode(model.encode(x)),
            "forward(x) against decode(encode(x))",
            hint="forward must go through the bottleneck: decode what encode gives, nothing else",
        )

    def nonlinear() -> None:
        model = state["model"]
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

    def signed_codes() -> None:
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

    def gradients() -> None:
        model = state["model"]
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

    return run_cases(
        "Autoencoder",
        [
            Case("Autoencoder(d_latent=3, image_shape=(1, 8, 8), d_hidden=32) builds", build, required=True),
            Case("encode maps images to d_latent numbers", encode_shape),
            Case("decode maps codes back to images", decode_shape),
            Case("forward returns images in [0, 1]", output_range),
            Case("forward(x) = decode(encode(x))", bottleneck),
            Case("the decoder is nonlinear", nonlinear),
            Case("codes take both signs", signed_codes),
            Case("gradients reach every parameter", gradients),
        ],
    )


# ------------------------------------------------------------------------------------------------
_SIZES = [(8, 3, 1, 1), (8, 3, 2, 1), (28, 5, 1, 0), (28, 4, 2, 1), (7, 3, 2, 0), (9, 2, 3, 2), (4, 1, 1, 0)]


def check_output_sizes(
    conv_output_size: Callable[[int, int, int, int], int],
    conv_transpose_output_size: Callable[[int, int, int, int], int],
) -> Report:
    """Output sizes against what ``nn.Conv2d`` / ``nn.ConvTranspose2d`` really produce."""
    __tracebackhide__ = True

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

    return run_cases(
        "output sizes",
        [
            Case(
                "conv_output_size matches nn.Conv2d",
                lambda: compare(conv_output_size, nn.Conv2d, "conv_output_size", "o = ⌊(i + 2p − k) / s⌋ + 1"),
            ),
            Case(
                "conv_transpose_output_size matches nn.ConvTranspose2d",
                lambda: compare(
                    conv_transpose_output_size,
                    nn.ConvTranspose2d,
                    "conv_transpose_output_size",
                    "o = (i − 1)·s − 2p + k: the transposed conv inverts the conv's size map",
                ),
            ),
        ],
    )


# ------------------------------------------------------------------------------------------------
def check_label_subset(label_subset: Callable[[torch.Tensor, int, int], torch.Tensor]) -> Report:
    """``label_subset(y, n_per_class, seed)``: indices of ``n_per_class`` examples of every class."""
    __tracebackhide__ = True
    y = torch.arange(10).repeat_interleave(torch.arange(5, 15))  # class c has 5 + c examples
    y = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))]
    state: dict[str, torch.Tensor] = {}

    def basic() -> None:
        idx = expect_tensor(label_subset(y, 3, 0), "the indices")
        expect(idx.dtype == torch.long, "indices should be int64 (torch.long)", "torch.int64", idx.dtype)
        expect_shape(idx, (30,), "indices for 3 per class and 10 classes")
        state["idx"] = idx

    def per_class() -> None:
        counts = torch.bincount(y[state["idx"]], minlength=10)
        expect(
            bool((counts == 3).all()),
            "each class should appear exactly 3 times",
            [3] * 10,
            counts.tolist(),
            "for each class, pick among the indices of that class only",
        )

    def distinct() -> None:
        idx = state["idx"]
        expect(
            len(set(idx.tolist())) == len(idx),
            "indices should be distinct (no example picked twice)",
            len(idx),
            len(set(idx.tolist())),
            "sample without replacement, e.g. with torch.randperm",
        )

    def seeded() -> None:
        a, b, c = label_subset(y, 2, 7), label_subset(y, 2, 7), label_subset(y, 2, 8)
        expect(
            torch.equal(a, b),
            "the same seed should give the same subset",
            True,
            False,
            "make a torch.Generator().manual_seed(seed) and pass it to torch.randperm",
        )
        expect(not torch.equal(a, c), "different seeds should give different subsets", True, False)

    def all_labels() -> None:
        idx = label_subset(y, 5, 0)
        expect(len(idx) == 50, "5 per class should work when the smallest class has exactly 5", 50, len(idx))

    return run_cases(
        "label_subset",
        [
            Case("returns int64 indices of the right length", basic, required=True),
            Case("exactly n_per_class of each class", per_class),
            Case("no index repeated", distinct),
            Case("deterministic for a seed", seeded),
            Case("works when a class has exactly n examples", all_labels),
        ],
    )


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
    __tracebackhide__ = True
    g = torch.Generator().manual_seed(0)
    centres = 10 * torch.randn(10, 6, generator=g)
    y_train, y_test = torch.arange(10).repeat(3), torch.arange(10).repeat(20)
    f_train = centres[y_train] + 0.1 * torch.randn(30, 6, generator=g)
    f_test = centres[y_test] + 0.1 * torch.randn(200, 6, generator=g)
    state: dict[str, float] = {}

    def number() -> None:
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
        state["acc"] = acc

    def separable() -> None:
        expect_close(
            state["acc"],
            1.0,
            "accuracy on well-separated clusters",
            hint="fit on (f_train, y_train), predict f_test, compare with y_test",
        )

    def noise() -> None:
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

    def training_statistics() -> None:
        data = _one_class(torch.Generator().manual_seed(3))
        f_tr, y_tr, near, far, ones = data["f_train"], data["y_train"], data["near"], data["far"], data["ones"]
        acc = probe_accuracy(f_tr, y_tr, torch.cat([near, far]), torch.cat([ones, ones]))
        if abs(acc - 1.0) < 1e-6:
            return
        near_acc, far_acc = probe_accuracy(f_tr, y_tr, near, ones), probe_accuracy(f_tr, y_tr, far, ones)
        if abs(acc - (near_acc + far_acc) / 2) > 1e-6:
            hint = (
                f"the test predictions change with the other test examples ({near_acc:.2f} on the near half "
                f"alone, {far_acc:.2f} on the far half alone, {acc:.2f} on both): the standardisation used "
                "statistics of the test features. Fit it on the training features only, and apply that same "
                "shift and scale to the test features"
            )
        else:
            hint = (
                "every test example lies on class 1's side of the training clusters: a logistic regression "
                "fitted on the standardised training features (default regularisation) labels them all 1"
            )
        expect_close(
            acc, 1.0, "accuracy on a test set of one class, half of it far beyond its training cluster", hint=hint
        )

    return run_cases(
        "probe_accuracy",
        [
            Case("returns a float in [0, 1]", number, required=True),
            Case("perfect on separable features", separable),
            Case("near chance on noise", noise),
            Case("test features scaled with the training statistics", training_statistics),
        ],
    )


# ------------------------------------------------------------------------------------------------
# Probes for the auto-grader (inputs drawn at grading time; compared with the reference solution)
# ------------------------------------------------------------------------------------------------
from . import Probe  # noqa: E402


def _images(g: torch.Generator, n: int = 6) -> torch.Tensor:
    return torch.rand(n, 1, 8, 8, generator=g)


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


_AE_RAW = (
    "(lambda m: [m.encode(inp['x']), m.decode(inp['z']), m(inp['x']), m.decode(m.encode(inp['x'])), "
    "m.decode((inp['a'] + inp['b']) / 2), m.decode(inp['a']), m.decode(inp['b'])])(Autoencoder(4, (1, 8, 8), 24))"
)


def _label_properties(raw: list) -> list:
    idx, again, y = raw
    return [
        torch.bincount(y[idx.long()], minlength=10),
        float(len(set(idx.tolist())) == len(idx)),
        float(torch.equal(idx, again)),
    ]


PROBES: dict[str, list[Probe]] = {
    "check-reconstruction-loss": [
        Probe(
            "value on random images",
            "reconstruction_loss(inp['x'], inp['x_hat'])",
            lambda g: {"x": _images(g), "x_hat": _images(g)},
        ),
        Probe(
            "value on flat vectors",
            "reconstruction_loss(inp['x'], inp['x_hat'])",
            lambda g: {"x": torch.rand(7, 64, generator=g), "x_hat": torch.rand(7, 64, generator=g)},
        ),
        Probe(
            "gradient with respect to x_hat",
            "(lambda xh: torch.autograd.grad(reconstruction_loss(inp['x'], xh), "
            "xh)[0])(inp['x_hat'].clone().requires_grad_())",
            lambda g: {"x": _images(g, 4), "x_hat": _images(g, 4)},
        ),
    ],
    "check-autoencoder": [
        Probe(
            "shapes, outputs in [0, 1], forward = decode(encode(x)), a nonlinear decoder",
            _AE_RAW,
            lambda g: {
                "x": _images(g, 5),
                "z": torch.randn(5, 4, generator=g),
                "a": 3 * torch.randn(1, 4, generator=g),
                "b": 3 * torch.randn(1, 4, generator=g),
            },
            check=_autoencoder_properties,
        ),
        Probe(
            "codes of a fresh model take both signs (no activation after the code layer)",
            "Autoencoder(16, (1, 8, 8), 24).encode(inp['x'])",
            lambda g: {"x": _code_inputs(g)},
            check=lambda codes: float(bool((codes < 0).any())),
        ),
    ],
    "check-output-sizes": [
        Probe(
            "conv_output_size on random layers", "[conv_output_size(*[int(v) for v in c]) for c in inp['cfg']]", _sizes
        ),
        Probe(
            "conv_transpose_output_size on random layers",
            "[conv_transpose_output_size(*[int(v) for v in c]) for c in inp['cfg']]",
            _sizes,
        ),
    ],
    "check-label-subset": [
        Probe(
            "n per class, distinct, reproducible",
            "[label_subset(inp['y'], 3, 5), label_subset(inp['y'], 3, 5), inp['y']]",
            _labels,
            check=_label_properties,
        ),
    ],
    "check-probe-accuracy": [
        Probe(
            "perfect on separable features",
            "probe_accuracy(inp['f_train'], inp['y_train'], inp['f_test'], inp['y_test'])",
            _blobs,
        ),
        Probe(
            "near chance on noise",
            "probe_accuracy(inp['noise_train'], inp['noise_y_train'], inp['noise_test'], inp['noise_y_test'])",
            _blobs,
            check=lambda accuracy: float(float(accuracy) < 0.3),
        ),
        Probe(
            "a one-class test set, far beyond its training cluster: standardised with training statistics",
            "[probe_accuracy(inp['f_train'], inp['y_train'], t, torch.ones(len(t), dtype=torch.long)) "
            "for t in (torch.cat([inp['near'], inp['far']]), inp['near'], inp['far'])]",
            _one_class,
        ),
    ],
}

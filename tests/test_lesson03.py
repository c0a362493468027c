"""Lesson 03: masks are causal (checked by gradients), the gated stack has no blind spot, the sampler is right."""

from __future__ import annotations

import pytest
import torch

from course_tools.build import lesson_namespace

IDS = [
    "ex-causal-mask",
    "ex-masked-conv",
    "lib-pixelcnn-model",
    "ex-gated-layer",
    "lib-gated-model",
    "ex-pixel-nll",
    "ex-sample",
]


@pytest.fixture(scope="module")
def solution():
    return lesson_namespace("03_pixelcnn", IDS, constants={"LEVELS": 17})


def _dependencies(model, position, size=8, channels_in=1):
    x = torch.rand(1, channels_in, size, size, requires_grad=True)
    model(x * 16)[0, :, position[0], position[1]].sum().backward()
    return x.grad[0].abs().sum(0)


def _past(position, size=8):
    raster = torch.arange(size * size).view(size, size)
    return raster < position[0] * size + position[1]


@pytest.mark.parametrize("kind", ["A", "B"])
def test_masked_conv_is_autoregressive_by_gradients(solution, kind):
    torch.manual_seed(0)
    layer = solution["MaskedConv2d"](3, 5, 5, kind)
    for r in range(7):
        for c in range(7):
            x = torch.randn(1, 3, 7, 7, requires_grad=True)
            layer(x)[0, :, r, c].sum().backward()
            seen = x.grad[0].abs().sum(0) > 0
            allowed = _past((r, c), 7)
            if kind == "B":
                allowed[r, c] = True
            assert not (seen & ~allowed).any(), (kind, r, c)


@pytest.mark.parametrize(
    "model_name,kwargs", [("PixelCNN", {}), ("GatedPixelCNN", {}), ("GatedPixelCNN", {"n_classes": 10})]
)
def test_whole_models_never_see_the_present_or_future(solution, model_name, kwargs):
    torch.manual_seed(1)
    model = solution[model_name](channels=6, n_layers=3, **kwargs)
    if kwargs:
        model = (lambda m: lambda x: m(x, torch.tensor([3])))(model)
    for position in [(0, 0), (0, 5), (3, 3), (4, 0), (7, 7)]:
        seen = _dependencies(model, position) > 0
        assert not (seen & ~_past(position)).any(), position


def test_plain_stack_has_a_blind_spot_and_the_gated_stack_none(solution):
    torch.manual_seed(2)
    position = (6, 3)
    plain = solution["PixelCNN"](channels=6, n_layers=4, first_kernel=3)
    gated = solution["GatedPixelCNN"](channels=6, n_layers=4, first_kernel=3)
    plain_seen = _dependencies(plain, position) > 0
    gated_seen = _dependencies(gated, position) > 0
    past = _past(position)
    # upper right of the output, within reach of the layers: the blind spot of the masked stack
    assert not plain_seen[5, 5:].any() and not plain_seen[3, 7]
    assert gated_seen[past].all(), "every past pixel reaches the gated stack's output"
    # and on the full-size models of the lesson, every past pixel of every position is seen
    big = solution["GatedPixelCNN"](channels=6, n_layers=5)
    for position in [(7, 7), (4, 2), (1, 6)]:
        assert (_dependencies(big, position) > 0)[_past(position)].all(), position


def test_sampler_first_pixel_follows_the_models_marginal(solution):
    torch.manual_seed(3)
    model = solution["GatedPixelCNN"](channels=8, n_layers=2).eval()
    with torch.no_grad():
        marginal = model(torch.zeros(1, 1, 8, 8, dtype=torch.long))[0, :, 0, 0].softmax(0)
    # the first pixel's distribution cannot depend on the input: any input gives the same marginal
    with torch.no_grad():
        other = model(torch.randint(17, (1, 1, 8, 8)))[0, :, 0, 0].softmax(0)
    assert torch.allclose(marginal, other, atol=1e-6)
    n = 3000
    images = solution["sample"](model, n, shape=(1, 1, 2), generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(images[:, 0, 0, 0], minlength=17).float()
    expected = marginal * n
    chi2 = float(((counts - expected) ** 2 / expected.clamp_min(1e-9)).sum())
    assert chi2 < 45, chi2  # 16 degrees of freedom: p ≈ 2e-4 at 45


def test_sampler_completes_and_conditions(solution):
    torch.manual_seed(4)
    model = solution["GatedPixelCNN"](channels=8, n_layers=2, n_classes=10).eval()
    kept = torch.randint(17, (3, 1, 8, 8))
    out = solution["sample"](
        model, 3, x=kept, start=32, y=torch.tensor([1, 2, 3]), generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(out[:, :, :4], kept[:, :, :4]) and out.dtype == torch.long
    assert int(out.min()) >= 0 and int(out.max()) <= 16


def test_nll_matches_the_chain_rule(solution):
    """Σ_i −log p(x_i | x_<i) from one pass equals the sum of the sampler's conditionals one by one."""
    torch.manual_seed(5)
    model = solution["GatedPixelCNN"](channels=8, n_layers=2).eval()
    x = torch.randint(17, (2, 1, 8, 8))
    with torch.no_grad():
        one_pass = solution["pixel_nll"](model(x), x)
        total = torch.zeros(2)
        for i in range(64):
            r, c = divmod(i, 8)
            prefix = x.clone()
            prefix.view(2, -1)[:, i:] = 0  # the future is unknown: any value gives the same conditional
            log_probs = model(prefix)[:, :, r, c].log_softmax(-1)
            total -= log_probs.gather(1, x[:, 0, r, c].unsqueeze(1)).squeeze(1)
    assert torch.allclose(one_pass, total, atol=1e-3)
    assert solution["bits_per_dim"](one_pass, 64).shape == (2,)

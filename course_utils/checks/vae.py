"""Checks for lesson 02 (variational autoencoders). Each ``check_*`` takes the student's function."""

from __future__ import annotations

import math
from typing import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from . import (
    Check,
    Mismatch,
    Report,
    Trained,
    check_weights_file,
    expect,
    expect_close,
    expect_keys,
    expect_scalar,
    expect_shape,
    seeded,
)

__all__ = [
    "check_reparameterize",
    "check_gaussian_kl",
    "check_negative_elbo",
    "check_vae",
    "check_iwae_bound",
    "check_gumbel_softmax",
    "check_trained",
    "TRAINED",
]


_SHARED_BY_DIMS = (
    "the latent dimensions of z move together: one noise value is shared by all the dimensions of "
    "an example, but every dimension needs its own independent draw (noise shaped like mu)"
)
_SHARED_BY_BATCH = (
    "every example needs its own noise: one draw shared by the whole batch makes all the codes "
    "move together (noise shaped like mu)"
)


# ------------------------------------------------------------------------------------------------
def check_reparameterize(reparameterize: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Report:
    """z = mu + sigma ⊙ eps with sigma = exp(log_var / 2) and eps ~ N(0, I)."""
    with Check("reparameterize") as check:
        with check.case("returns z with the shape of mu", required=True):
            mu, log_var = torch.zeros(4, 3), torch.zeros(4, 3)
            expect_shape(
                reparameterize(mu, log_var), (4, 3), "z for mu of shape (4, 3)", "draw eps with torch.randn_like(mu)"
            )
        with check.case("z has mean mu and standard deviation sigma"):
            mu = torch.full((200_000, 1), 2.0)
            log_var = torch.full((200_000, 1), math.log(9.0))  # sigma = 3
            z = reparameterize(mu, log_var).detach()
            std = float(z.std())
            expect(
                std > 1e-3,
                "the codes of 200,000 examples with the same mu and log_var should differ",
                "a spread",
                "all equal",
                _SHARED_BY_BATCH,
            )
            expect_close(z.mean(), 2.0, "mean of z for mu = 2", atol=0.05)
            hint = (
                "sigma = exp(log_var / 2), not exp(log_var)"
                if abs(std - 9.0) < 0.3
                else ("sigma multiplies eps; do not add log_var" if abs(std - 1.0) < 0.1 else "")
            )
            expect_close(std, 3.0, "standard deviation of z for log_var = log 9", atol=0.05, hint=hint)
        with check.case("fresh noise at every call"):
            mu, log_var = torch.zeros(2, 5), torch.zeros(2, 5)
            a, b = reparameterize(mu, log_var), reparameterize(mu, log_var)
            expect(
                not torch.equal(a, b),
                "two calls should draw different eps",
                "different",
                "identical",
                "draw fresh noise at every call (torch.randn_like), do not fix eps",
            )
        with check.case("independent noise for every example and every latent dimension"):
            mu, log_var = torch.zeros(20_000, 3), torch.zeros(20_000, 3)
            z = reparameterize(mu, log_var).detach().double()
            expect(
                not bool((z[1:] == z[:1]).all()),
                "different examples should get different noise",
                "different rows",
                "identical rows",
                _SHARED_BY_BATCH,
            )
            corr = torch.corrcoef(z.T)
            off = float((corr - torch.eye(3, dtype=corr.dtype)).abs().max())
            expect(
                math.isfinite(off) and off < 0.05,
                "the latent dimensions of z should be uncorrelated (largest correlation between two of them)",
                "below 0.05",
                round(off, 3),
                _SHARED_BY_DIMS if off > 0.9 else "",
            )
        with check.case("gradients flow to mu and log_var"):
            mu = torch.randn(3, 2, generator=seeded(0)).requires_grad_()
            log_var = torch.randn(3, 2, generator=seeded(1)).requires_grad_()
            z = reparameterize(mu, log_var)
            expect(
                z.requires_grad,
                "z should depend differentiably on mu and log_var",
                True,
                False,
                "build z from mu and log_var with torch operations; .sample() cuts the gradient",
            )
            z.sum().backward()
            expect(
                mu.grad is not None and log_var.grad is not None,
                "both mu and log_var should receive gradients",
                True,
                False,
            )
            expect_close(mu.grad, torch.ones(3, 2), "dz/dmu (should be 1)")
            expect_close(
                log_var.grad,
                0.5 * (z.detach() - mu.detach()),
                "dz/dlog_var (should be eps·sigma/2)",
                hint="z = mu + exp(0.5 * log_var) * eps",
            )
    return check.report


# ------------------------------------------------------------------------------------------------
def _kl(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    return 0.5 * (mu**2 + log_var.exp() - 1 - log_var).sum(-1)


_KL_DIMS = "add the terms of the latent dimensions up: the KL of a diagonal Gaussian is a sum over them, not an average"
_KL_SIGMA = (
    "sigma² = exp(log_var) is the variance, and log sigma² = log_var enters the formula as it is: "
    "check which of sigma, sigma² and log sigma² each term uses"
)


def _kl_hint(got: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor) -> str:
    """The hint for the mistake whose value ``got`` matches (one KL per row), or none."""
    kl = _kl(mu, log_var)
    sq, var = mu**2, log_var.exp()
    mistakes = [
        (2 * kl, "do not forget the factor ½"),
        (kl / mu.shape[-1], _KL_DIMS),
        (-kl, "a KL divergence is never negative: check the sign of the closed form"),
        (0.5 * (sq + (0.5 * log_var).exp() - 1 - log_var).sum(-1), _KL_SIGMA),  # sigma where sigma² belongs
        (0.5 * (sq + var - 1 - 0.5 * log_var).sum(-1), _KL_SIGMA),  # log sigma where log sigma² belongs
        (0.5 * (sq + var**2 - 1 - log_var).sum(-1), _KL_SIGMA),  # exp(log_var) squared
    ]
    try:
        got = got.detach().double().reshape(kl.shape)
    except (AttributeError, RuntimeError):
        return ""
    for value, hint in mistakes:
        if torch.allclose(got, value.double(), atol=1e-4, rtol=1e-4):
            return hint
    return ""


def check_gaussian_kl(gaussian_kl: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Report:
    """KL(N(mu, diag sigma²) || N(0, I)) = ½ Σ_j (mu_j² + sigma_j² − 1 − log sigma_j²), one value per row."""
    with Check("gaussian_kl") as check:
        with check.case("one KL per example", required=True):
            expect_shape(
                gaussian_kl(torch.zeros(5, 3), torch.zeros(5, 3)),
                (5,),
                "KL for a batch of 5 codes of size 3",
                "sum over the latent dimension only (dim=-1): one KL per example",
            )
        with check.case("zero when q = p"):
            expect_close(gaussian_kl(torch.zeros(2, 4), torch.zeros(2, 4)), torch.zeros(2), "KL of N(0, I) from itself")
        with check.case("value on a fixed example"):
            mu, log_var = torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, math.log(2.0), 0.0]])
            got = float(gaussian_kl(mu, log_var)[0])
            expected = 0.5 * (1.0 + (2.0 - 1.0 - math.log(2.0)))
            expect_close(
                got,
                expected,
                "KL for mu = (1, 0, 0), sigma² = (1, 2, 1)",
                hint=_kl_hint(torch.tensor([got]), mu, log_var),
            )
        with check.case("matches the closed form on random inputs"):
            mu, log_var = torch.randn(6, 4, generator=seeded(2)), torch.randn(6, 4, generator=seeded(3))
            got = gaussian_kl(mu, log_var)
            expect_close(got, _kl(mu, log_var), "KL on random mu and log_var", hint=_kl_hint(got, mu, log_var))
        with check.case("gradient dKL/dmu = mu"):
            mu = torch.randn(2, 3, generator=seeded(4)).requires_grad_()
            kl = gaussian_kl(mu, torch.zeros(2, 3))
            expect(kl.requires_grad, "the KL should carry a gradient", True, False, "use torch operations only")
            kl.sum().backward()
            hint = _KL_DIMS if mu.grad is not None and torch.allclose(mu.grad, mu.detach() / 3, atol=1e-5) else ""
            expect_close(mu.grad, mu.detach(), "dKL/dmu (should be mu)", hint=hint)
    return check.report


# ------------------------------------------------------------------------------------------------
_BATCH_SUM = (
    "average over the images of the batch, do not add them up: the loss and its terms are batch means, "
    "so that their scale does not depend on the batch size"
)


def check_negative_elbo(negative_elbo: Callable[..., Mapping[str, torch.Tensor]]) -> Report:
    """−ELBO = E_q[−log p(x|z)] + beta·KL(q(z|x) || p(z)), averaged over the batch, with its two terms."""
    g = seeded(5)
    x = (torch.rand(4, 1, 2, 3, generator=g) > 0.5).float()  # 4 images of 6 pixels: a mix-up of the two shows
    logits = torch.randn(4, 1, 2, 3, generator=g)
    mu, log_var = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    n, pixels = len(x), x[0].numel()
    recon = (F.softplus(logits) - x * logits).flatten(1).sum(1).mean()  # BCE with logits, written out
    kl = _kl(mu, log_var).mean()

    def near(got: torch.Tensor, value: torch.Tensor | float) -> bool:
        return math.isclose(float(got), float(value), rel_tol=1e-4, abs_tol=1e-5)

    with Check("negative_elbo") as check:
        with check.case("returns a dict of scalars loss, recon, kl", required=True):
            out = negative_elbo(x, logits, mu, log_var)
            out = expect_keys(out, ["loss", "recon", "kl"], "what negative_elbo returns")
            for key in ("loss", "recon", "kl"):
                expect_scalar(out[key], f"out[{key!r}] (a batch mean)", "average over the batch with .mean()")
        with check.case("the reconstruction term"):
            got = out["recon"]
            hint = (
                "sum the pixel terms of each image, then average over the images: a mean over all pixels "
                "divides by the number of pixels too"
                if near(got, recon / pixels)
                else _BATCH_SUM
                if near(got, recon * n)
                else "the decoder outputs logits (any real number), not probabilities: the log of a negative "
                "number is not defined"
                if not math.isfinite(float(got))
                else ""
            )
            expect_close(got, recon, "recon = −log p(x|z), summed over pixels, mean over images", hint=hint)
        with check.case("the KL term"):
            got = out["kl"]
            hint = (
                _BATCH_SUM
                if near(got, kl * n)
                else "add the latent dimensions up; average over the images only"
                if near(got, kl / mu.shape[1])
                else ""
            )
            expect_close(got, kl, "kl = KL(q(z|x) || p(z)), mean over images", hint=hint)
        with check.case("loss = recon + beta·kl"):
            expect_close(out["loss"], recon + kl, "loss = recon + kl (beta = 1)")
            weighted = negative_elbo(x, logits, mu, log_var, beta=4.0)
            hint = (
                "beta weighs the KL term, not the reconstruction term"
                if near(weighted["loss"], 4.0 * recon + kl)
                else ""
            )
            expect_close(weighted["loss"], recon + 4.0 * kl, "loss with beta = 4", hint=hint)
            expect_close(weighted["kl"], kl, "kl with beta = 4 (the logged term is unweighted)")
        with check.case("gradients flow through both terms"):
            beta = 2.0
            leaves = [t.clone().requires_grad_() for t in (logits, mu, log_var)]
            loss = negative_elbo(x, *leaves, beta=beta)["loss"]
            expect(
                isinstance(loss, torch.Tensor) and loss.requires_grad,
                "the loss should carry a gradient",
                True,
                False,
                "keep both terms in the autograd graph: the loss is what the optimiser differentiates",
            )
            grads = torch.autograd.grad(loss, leaves, allow_unused=True)
            g_logits, g_mu, g_log_var = (torch.zeros_like(t) if gr is None else gr for gr, t in zip(grads, leaves))
            want_logits = (torch.sigmoid(logits) - x) / n  # d recon / d logits
            want_mu, want_log_var = beta * mu / n, beta * 0.5 * (log_var.exp() - 1) / n  # d beta·kl / d (mu, log_var)
            dead_kl = bool((g_mu == 0).all() and (g_log_var == 0).all())
            expect(
                not dead_kl,
                "the loss should have a gradient with respect to mu and log_var",
                "non-zero",
                "zero",
                "the KL term carries no gradient: its value is right, but it was cut from the graph (detached or "
                "turned into a plain number), so the loss cannot pull the encoder towards the prior",
            )
            expect(
                not bool((g_logits == 0).all()),
                "the loss should have a gradient with respect to the logits",
                "non-zero",
                "zero",
                "the reconstruction term carries no gradient: it was cut from the graph (detached "
                "or turned into a plain number), so the decoder cannot learn",
            )
            batch = _BATCH_SUM if torch.allclose(g_logits, want_logits * n, atol=1e-6) else ""
            expect_close(g_logits, want_logits, "d loss / d logits (should be (sigmoid(logits) − x) / N)", hint=batch)
            batch = _BATCH_SUM if torch.allclose(g_mu, want_mu * n, atol=1e-6) else ""
            expect_close(g_mu, want_mu, "d loss / d mu with beta = 2 (should be beta·mu / N)", hint=batch)
            expect_close(
                g_log_var,
                want_log_var,
                "d loss / d log_var with beta = 2 (should be beta·(sigma² − 1) / 2N)",
                hint=batch,
            )
        with check.case("numerically stable for large logits"):
            big = torch.full((2, 1, 2, 2), 200.0)
            out = negative_elbo(torch.zeros(2, 1, 2, 2), big, torch.zeros(2, 3), torch.zeros(2, 3))
            expect(
                bool(torch.isfinite(out["loss"])),
                "the loss should stay finite for confident logits (±200)",
                "a finite number",
                float(out["loss"]),
                "work with logits (…_with_logits), never with sigmoid then log",
            )
            expect_close(out["recon"], 4 * 200.0, "recon for logits 200 on black pixels", rtol=1e-3)
    return check.report


# ------------------------------------------------------------------------------------------------
def check_iwae_bound(iwae_bound: Callable[[torch.Tensor], torch.Tensor]) -> Report:
    """log (1/K) Σ_k w_k from log-weights of shape K x N, computed stably: one value per example."""
    with Check("iwae_bound") as check:
        with check.case("one value per example", required=True):
            expect_shape(
                iwae_bound(torch.zeros(7, 3)),
                (3,),
                "bound for log-weights of shape (K=7, N=3)",
                "reduce over the first dimension (the K samples)",
            )
        with check.case("equals the log-weight when K = 1"):
            log_w = torch.randn(1, 5, generator=seeded(6))
            expect_close(iwae_bound(log_w), log_w[0], "K = 1: the bound is the single log-weight (the ELBO estimate)")
        with check.case("log-mean-exp on a fixed example"):
            log_w = torch.tensor([[0.0], [math.log(3.0)]])
            got = float(iwae_bound(log_w)[0])
            hint = (
                "average the weights, not the log-weights"
                if abs(got - 0.5 * math.log(3)) < 1e-4
                else ("divide by K inside the log: subtract log K" if abs(got - math.log(4.0)) < 1e-4 else "")
            )
            expect_close(got, math.log(2.0), "log of the mean of weights 1 and 3", hint=hint)
        with check.case("stable for very large and very small weights"):
            log_w = torch.tensor([[-1000.0, 800.0], [-1000.0, 800.0]])
            got = iwae_bound(log_w)
            expect(
                bool(torch.isfinite(got).all()),
                "should be finite for log-weights of −1000 and 800",
                "finite",
                got.tolist(),
                "use torch.logsumexp(log_w, dim=0) − log K: exp(−1000) underflows to 0",
            )
            expect_close(got, torch.tensor([-1000.0, 800.0]), "bound for equal log-weights", rtol=1e-6)
    return check.report


# ------------------------------------------------------------------------------------------------
_GUMBEL_PI = torch.tensor([0.45, 0.25, 0.15, 0.10, 0.05])


def _one_hot(y: torch.Tensor) -> bool:
    """Rows of 0s and one 1, up to the rounding of the straight-through sum (1 + y - y is not always 1)."""
    y = y.double()
    return (
        bool(((y - y.round()).abs() < 1e-5).all())
        and bool(((y.round() == 0) | (y.round() == 1)).all())
        and bool((y.round().sum(-1) == 1).all())
    )


def check_gumbel_softmax(gumbel_softmax: Callable[..., torch.Tensor]) -> Report:
    """softmax((logits + g) / tau) with g standard Gumbel noise; hard=True: one-hot forward, soft gradient."""
    logits = _GUMBEL_PI.log()
    with Check("gumbel_softmax") as check:
        with check.case("relaxed samples lie in the simplex", required=True):
            y = gumbel_softmax(logits.expand(6, -1).clone(), 1.0)
            expect_shape(
                y,
                (6, 5),
                "a relaxed sample for logits of shape (6, 5)",
                "one relaxed sample per row: the softmax runs over the last dimension",
            )
            y = y.detach()
            expect(
                bool((y >= 0).all()) and bool(torch.allclose(y.sum(-1), torch.ones(6), atol=1e-5)),
                "every relaxed sample should lie in the simplex (entries >= 0 that sum to 1)",
                "sums of 1",
                [round(float(v), 3) for v in y.sum(-1)],
                "normalise with a softmax over the categories",
            )
        with check.case("the largest entry follows the probabilities"):
            torch.manual_seed(0)
            y = gumbel_softmax(logits.expand(40_000, -1).clone(), 1.0).detach()
            shares = F.one_hot(y.argmax(-1), 5).double().mean(0)
            hint = (
                "the noise is not Gumbel noise: turn a uniform u into -log(-log u); other noise (Gaussian, "
                "uniform) does not make the largest entry follow the probabilities"
            )
            if float(shares.max()) > 0.99:
                hint = "add noise to the logits: without it every sample picks the most likely category"
            expect(
                bool((shares - _GUMBEL_PI.double()).abs().max() < 0.015),
                "the largest entry of 40,000 samples should follow the probabilities (Gumbel-max)",
                [round(float(v), 3) for v in _GUMBEL_PI],
                [round(float(v), 3) for v in shares],
                hint,
            )
        with check.case("the temperature sharpens and flattens"):
            torch.manual_seed(1)
            cold = gumbel_softmax(logits.expand(2000, -1).clone(), 0.05).detach().max(-1).values.mean()
            hot = gumbel_softmax(logits.expand(2000, -1).clone(), 50.0).detach().max(-1).values.mean()
            expect(
                float(cold) > 0.9 and float(hot) < 0.3,
                "mean largest entry at tau = 0.05 (near one-hot) and at tau = 50 (near uniform, 0.2)",
                "> 0.9 and < 0.3",
                f"{float(cold):.2f} and {float(hot):.2f}",
                "divide the noisy logits by the temperature before the softmax (not after, not multiplied)",
            )
        with check.case("hard samples are one-hot"):
            torch.manual_seed(2)
            y = gumbel_softmax(logits.expand(50, -1).clone(), 0.5, hard=True).detach()
            expect(
                _one_hot(y),
                "hard samples should be exactly one-hot in the forward pass (up to rounding)",
                "rows of 0s and one 1",
                [round(float(v), 3) for v in y[0]],
                "take the one-hot vector of the largest entry of the relaxed sample",
            )
        with check.case("straight-through gradient"):
            w = torch.randn(8, 5, generator=seeded(3))
            gradients = []
            for is_hard in (False, True):
                leaf = logits.expand(8, -1).clone().requires_grad_(True)
                torch.manual_seed(4)  # the same noise for both calls
                y = gumbel_softmax(leaf, 0.5, hard=is_hard)
                (grad,) = torch.autograd.grad((y * w).sum(), leaf, allow_unused=True)
                gradients.append(torch.zeros_like(leaf) if grad is None else grad)
            soft, hard_grad = gradients
            hint = (
                "straight-through: the forward value is the one-hot vector, but its gradient must be the relaxed "
                "sample's; a one-hot vector alone is cut from the graph"
            )
            if float(hard_grad.abs().max()) > 0 and not torch.allclose(hard_grad, soft, atol=1e-6):
                hint = "the hard sample's gradient should be exactly the relaxed sample's, drawn with the same noise"
            expect_close(
                hard_grad,
                soft,
                "gradient of a hard sample = gradient of the relaxed one (same noise)",
                atol=1e-6,
                hint=hint,
            )
    return check.report


# ------------------------------------------------------------------------------------------------
def vae_shapes(d_latent: int, image_shape: tuple[int, ...], d_hidden: int) -> list[tuple[int, ...]]:
    """The shapes of lesson 02's VAE parameters, in order: what a student's model must match to be graded
    on its weights (encoder d -> h -> h -> 2k, decoder k -> h -> h -> d, each a weight and a bias)."""
    d = math.prod(image_shape)
    layers = [
        (d, d_hidden),
        (d_hidden, d_hidden),
        (d_hidden, 2 * d_latent),
        (d_latent, d_hidden),
        (d_hidden, d_hidden),
        (d_hidden, d),
    ]
    return [shape for d_in, d_out in layers for shape in ((d_out, d_in), (d_out,))]


def vae_weights(d_latent: int, image_shape: tuple[int, ...], d_hidden: int, g: torch.Generator) -> list[torch.Tensor]:
    """Random weights for that architecture, large enough that the outputs spread over both signs."""
    return [
        torch.randn(shape, generator=g) / math.sqrt(shape[-1] if len(shape) == 2 else 4)
        for shape in vae_shapes(d_latent, image_shape, d_hidden)
    ]


def _vae_reference(
    weights: list[torch.Tensor], x: torch.Tensor | None, z: torch.Tensor | None, image_shape: tuple[int, ...]
) -> dict[str, torch.Tensor]:
    """mu, log_var of x and the logits of z under the lesson's architecture with ``weights``."""

    def mlp(h: torch.Tensor, ws: list[torch.Tensor]) -> torch.Tensor:
        for k in range(0, len(ws), 2):
            h = F.linear(h, ws[k], ws[k + 1])
            h = F.relu(h) if k < len(ws) - 2 else h
        return h

    out = {}
    if x is not None:
        out["mu"], out["log_var"] = mlp(x.flatten(1), weights[:6]).chunk(2, dim=-1)
    if z is not None:
        out["logits"] = mlp(z, weights[6:]).view(-1, *image_shape)
    return out


def _load(model: nn.Module, weights: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for p, w in zip(model.parameters(), weights):
            p.copy_(w)


def _elbo_terms(
    x: torch.Tensor, logits: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    log_likelihood = x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)  # Bernoulli, per pixel
    return -log_likelihood.flatten(1).sum(1).mean(), _kl(mu, log_var).mean()


_VAE_ARCHITECTURE = (
    "the layers, in the order the lesson lists them: encoder d -> d_hidden -> d_hidden -> 2 d_latent, "
    "decoder d_latent -> d_hidden -> d_hidden -> d, each an nn.Linear with its bias"
)
_NO_LAST_ACTIVATION = (
    "no activation after the last layers: mu and log_var take any real value, and decode returns "
    "logits (the loss and mean_image apply the sigmoid themselves)"
)


class _Spy:
    """A stand-in for the VAE inside the loss: fixed (mu, log_var) that require gradients, a fixed linear
    decoder, and the code ``z`` it was asked to decode, so the check can look at the draw itself."""

    def __init__(self, mu: torch.Tensor, log_var: torch.Tensor, g: torch.Generator):
        self.mu, self.log_var = mu.requires_grad_(True), log_var.requires_grad_(True)
        self.weight = torch.randn(mu.shape[1], 64, generator=g)
        self.z: torch.Tensor | None = None

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        return (z @ self.weight).view(-1, 1, 8, 8)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mu, self.log_var

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        self.z = z
        return self.logits(z)

    def mean_image(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode(z))


def _expected_gradients(
    z: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor, weight: torch.Tensor, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """d(-ELBO)/d mu and d(-ELBO)/d log_var for the spy's linear decoder, given the code z that was drawn:
    through z = mu + sigma * eps (eps read back from z), and through the KL's closed form."""
    z = z.clone().requires_grad_(True)
    recon, _ = _elbo_terms(x, (z @ weight).view(-1, 1, 8, 8), mu, log_var)
    (grad_z,) = torch.autograd.grad(recon, z)
    sigma = (0.5 * log_var).exp()
    eps = (z.detach() - mu) / sigma
    return grad_z + mu / len(mu), grad_z * eps * sigma / 2 + (log_var.exp() - 1) / (2 * len(mu))


def check_vae(VAE: type, vae_loss: Callable[..., Callable]) -> Report:
    """``VAE(d_latent, image_shape, d_hidden)`` with ``encode`` -> (mu, log_var) and ``decode`` -> logits, and
    ``vae_loss(beta, deterministic)`` -> ``loss_fn(model, batch)`` that returns the negative ELBO's terms."""
    g = seeded(0)
    shape = (1, 8, 8)
    x = (torch.rand(6, *shape, generator=g) > 0.5).float()
    z = 2 * torch.randn(6, 3, generator=g)
    weights = vae_weights(3, shape, 16, g)
    with Check("VAE and vae_loss") as check:
        with check.case("builds", required=True):
            torch.manual_seed(0)
            model = VAE(3, shape, d_hidden=16)
            expect(isinstance(model, nn.Module), "VAE(...) should be an nn.Module", "nn.Module", type(model).__name__)
        with check.case("encode gives (mu, log_var), decode gives images", required=True):
            out = model.encode(x)
            expect(
                isinstance(out, (tuple, list)) and len(out) == 2,
                "encode(x) should return a pair (mu, log_var)",
                "a pair",
                type(out).__name__,
                "the encoder's outputs hold both, side by side: cut them in two",
            )
            expect_shape(out[0], (6, 3), "mu for 6 images and d_latent = 3")
            expect_shape(out[1], (6, 3), "log_var for 6 images and d_latent = 3")
            expect_shape(model.decode(z), (6, *shape), "decode(z) for 6 codes", "reshape the logits to image_shape")
            hint = "take the number of pixels and the output shape from image_shape"
            try:
                other = VAE(2, (1, 5, 6), d_hidden=8)
                logits = other.decode(torch.randn(4, 2, generator=g))
                other.encode(torch.rand(4, 1, 5, 6, generator=g))
            except RuntimeError as err:
                raise Mismatch(
                    "VAE(2, (1, 5, 6), d_hidden=8) on images of 5 x 6 pixels",
                    "no error",
                    f"{type(err).__name__}: {str(err)[:80]}",
                    hint,
                ) from None
            expect_shape(logits, (4, 1, 5, 6), "decode for image_shape = (1, 5, 6)", hint)
        with check.case("the lesson's layers, in order", required=True):
            got = [tuple(p.shape) for p in model.parameters()]
            want = vae_shapes(3, shape, 16)
            expect(
                got == want,
                "the parameters' shapes, in order (d = 64, d_hidden = 16, d_latent = 3)",
                want,
                got,
                _VAE_ARCHITECTURE,
            )
        with check.case("computes the lesson's encoder and decoder"):
            _load(model, weights)
            want = _vae_reference(weights, x, z, shape)
            with torch.no_grad():
                mu, log_var = model.encode(x)
                logits = model.decode(z)
            swapped = torch.allclose(mu, want["log_var"], atol=1e-5) and torch.allclose(log_var, want["mu"], atol=1e-5)
            activated = any(
                torch.allclose(t, f(w), atol=1e-5)
                for t, w in ((mu, want["mu"]), (log_var, want["log_var"]), (logits, want["logits"]))
                for f in (torch.sigmoid, torch.exp, F.softplus, F.relu, torch.tanh)
            )
            hint = (
                "mu is the first d_latent outputs of the encoder and log_var the last d_latent"
                if swapped
                else _NO_LAST_ACTIVATION
                if activated
                else "compare your layers with the lesson's list: their order, their sizes, and ReLU between them"
            )
            expect_close(mu, want["mu"], "mu with the lesson's layers and given weights", hint=hint)
            expect_close(log_var, want["log_var"], "log_var with the same weights", hint=hint)
            expect_close(logits, want["logits"], "decode(z) with the same weights", hint=hint)
        with check.case("the loss at z = mu, with beta"):
            spy = _Spy(torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g), g)
            got = vae_loss(0.5, True)(spy, (x,))
            expect(
                isinstance(got, dict) and {"loss", "recon", "kl"} <= set(got),
                "loss_fn(model, (x,)) should return negative_elbo's dict",
                "{'loss', 'recon', 'kl'}",
                sorted(got) if isinstance(got, dict) else type(got).__name__,
            )
            expect(
                spy.z is not None and torch.equal(spy.z.detach(), spy.mu.detach()),
                "with deterministic=True, the code decoded is mu itself",
                "z = mu",
                "another z",
                "with deterministic=True the code is mu itself, with no noise",
            )
            recon, kl = _elbo_terms(x, spy.logits(spy.mu), spy.mu, spy.log_var)
            as_probabilities, _ = _elbo_terms(x, torch.sigmoid(spy.logits(spy.mu)), spy.mu, spy.log_var)
            expect_close(
                got["recon"],
                recon,
                "recon with deterministic=True (z = mu)",
                hint="pass the decoder's logits to negative_elbo, not probabilities"
                if math.isclose(
                    float(torch.as_tensor(got["recon"]).detach()), float(as_probabilities.detach()), rel_tol=1e-5
                )
                else "",
            )
            expect_close(got["kl"], kl, "kl with deterministic=True", hint="the KL is computed from mu and log_var")
            expect_close(got["loss"], recon + 0.5 * kl, "loss with beta = 0.5", hint="pass beta on to negative_elbo")
        with check.case("the loss samples z"):
            spy = _Spy(torch.randn(5000, 3, generator=g), torch.randn(5000, 3, generator=g) - 1, g)
            vae_loss(1.0)(spy, (x[:1].expand(5000, *shape),))
            expect(
                spy.z is not None and not torch.equal(spy.z.detach(), spy.mu.detach()),
                "with deterministic=False, the code is drawn from q(z|x)",
                "z != mu",
                "z = mu",
                "without deterministic, draw z with your reparameterize: mu plus scaled noise",
            )
            eps = ((spy.z - spy.mu) / (0.5 * spy.log_var).exp()).detach()
            spread = float(eps.std())
            expect(
                abs(float(eps.mean())) < 0.05 and abs(spread - 1) < 0.05,
                "the noise of z, (z - mu) / exp(log_var / 2), over 5,000 draws: mean 0, spread 1",
                "about 0 and 1",
                f"{float(eps.mean()):.3f} and {spread:.3f}",
                "z = mu + sigma * eps with sigma = exp(log_var / 2): use your reparameterize",
            )
        with check.case("gradients flow through the sampled code to mu, log_var and every weight"):
            spy = _Spy(torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g), g)
            vae_loss(1.0)(spy, (x,))["loss"].backward()
            want_mu, want_log_var = _expected_gradients(
                spy.z.detach(), spy.mu.detach(), spy.log_var.detach(), spy.weight, x
            )
            mu, log_var = spy.mu.detach(), spy.log_var.detach()
            hint = (
                "the code must stay a differentiable function of mu and log_var: that is the reparameterisation trick"
            )
            expect(
                spy.mu.grad is not None and spy.log_var.grad is not None,
                "the loss has gradients in mu and log_var",
                "both",
                "missing",
                hint,
            )
            kl_only = (mu / len(mu), (log_var.exp() - 1) / (2 * len(mu)))  # what is left when z is cut from the graph
            for got, want, only, what in (
                (spy.mu.grad, want_mu, kl_only[0], "d loss / d mu"),
                (spy.log_var.grad, want_log_var, kl_only[1], "d loss / d log_var"),
            ):
                expect_close(got, want, what, atol=1e-5, hint=hint if torch.allclose(got, only, atol=1e-6) else "")
            torch.manual_seed(0)
            model = VAE(3, shape, d_hidden=16)
            _load(model, weights)
            vae_loss(1.0)(model, (x,))["loss"].backward()
            missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
            expect(
                not missing,
                "every parameter of the VAE gets a gradient from the loss",
                "none missing",
                missing,
                "keep every step of the loss inside autograd (no .detach(), no torch.no_grad())",
            )
    return check.report


#: Graded on the model the notebook trained (see :class:`course_utils.checks.Trained`).
TRAINED: dict[str, Trained] = {
    "check-trained-vae": Trained(
        "02_vae",
        "VAE(8, (1, 8, 8))",
        "the importance-weighted bound -L_K (K = 1000, nats per image) of 90 digits that no notebook loads",
        full=17.5,
        zero=22.0,
    ),
}


def check_trained(VAE: type, path: str | None = None) -> Report:
    """The VAE of exercise 4 as trained in section 6: its saved weights load into your ``VAE``."""
    return check_weights_file(TRAINED["check-trained-vae"], {"VAE": VAE}, path)

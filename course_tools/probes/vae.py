"""Probes for lesson 02 (VAEs): see :mod:`course_tools.probes`."""

from __future__ import annotations

import torch

from course_tools.probes import Probe
from course_utils.checks.vae import _expected_gradients, _one_hot, _Spy, vae_weights


# ------------------------------------------------------------------------------------------------
# Inputs (drawn in the grader's process from the grading seed)
# ------------------------------------------------------------------------------------------------
def _categorical(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"logits": torch.log_softmax(torch.randn(6, generator=g), 0)}


def _logits_and_weights(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"logits": torch.randn(4, 6, generator=g), "w": torch.randn(4, 6, generator=g)}


def _one_code(g: torch.Generator, k: int = 3) -> dict[str, torch.Tensor]:
    return {"mu": torch.randn(1, k, generator=g), "log_var": torch.randn(1, k, generator=g)}


def _one_code_of_four(g: torch.Generator) -> dict[str, torch.Tensor]:
    return _one_code(g, 4)


def _codes(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"mu": torch.randn(6, 5, generator=g), "log_var": torch.randn(6, 5, generator=g)}


def _elbo_inputs(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {
        "x": (torch.rand(5, 1, 8, 8, generator=g) > 0.5).float(),
        "logits": 3 * torch.randn(5, 1, 8, 8, generator=g),
        "mu": torch.randn(5, 4, generator=g),
        "log_var": torch.randn(5, 4, generator=g),
    }


def _confident_elbo_inputs(g: torch.Generator) -> dict[str, torch.Tensor]:
    """As :func:`_elbo_inputs`, with a third of the logits 30 to 130 away from zero (either sign), where σ
    rounds to 0 or 1 in float32: a decoder sure of a pixel, right or wrong."""
    inp = _elbo_inputs(g)
    far = torch.rand(5, 1, 8, 8, generator=g) < 1 / 3
    sign = torch.where(torch.rand(5, 1, 8, 8, generator=g) < 0.5, -1.0, 1.0)
    inp["logits"] = torch.where(far, sign * (30 + 100 * torch.rand(5, 1, 8, 8, generator=g)), inp["logits"])
    return inp


def _log_weights(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"log_w": 50 * torch.randn(20, 7, generator=g)}


def _huge_log_weights(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"log_w": torch.randn(5, 3, generator=g) - 2000.0}


def _vae_inputs(
    g: torch.Generator, d_latent: int = 3, shape: tuple[int, ...] = (1, 8, 8), d_hidden: int = 12, n: int = 5
) -> dict[str, torch.Tensor]:
    weights = vae_weights(d_latent, shape, d_hidden, g)
    return {
        "x": (torch.rand(n, *shape, generator=g) > 0.5).float(),
        "z": 2 * torch.randn(n, d_latent, generator=g),
        **{f"w{k}": w for k, w in enumerate(weights)},
    }


def _vae_inputs_5x6(g: torch.Generator) -> dict[str, torch.Tensor]:
    return _vae_inputs(g, 2, (1, 5, 6), 8)


def _spy_inputs(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {
        "mu": torch.randn(4000, 3, generator=g),
        "log_var": torch.randn(4000, 3, generator=g) - 1,
        "x": (torch.rand(4000, 1, 8, 8, generator=g) > 0.5).float(),
    }


# ------------------------------------------------------------------------------------------------
# Properties compared where an answer may legitimately differ (in the grader's process)
# ------------------------------------------------------------------------------------------------
def _gumbel_properties(raw: list) -> list:
    """Shares of the largest entry (hard samples), simplex and one-hot flags, sharpness per temperature."""
    hard, soft_cold, soft_hot = (t.double() for t in raw)
    simplex = float(
        bool((soft_cold >= 0).all())
        and bool(torch.allclose(soft_cold.sum(-1), torch.ones(len(soft_cold), dtype=torch.float64), atol=1e-5))
    )
    return [
        hard.mean(0),
        float(_one_hot(hard)),
        simplex,
        soft_cold.max(-1).values.mean(),
        soft_hot.max(-1).values.mean(),
    ]


def _straight_through_properties(raw: list) -> list:
    """The straight-through gradient minus the relaxed one (zero), and whether the gradient is not zero."""
    return [raw[1] - raw[0], raw[0].abs().sum() > 0]


def _moments(raw: list) -> list:
    z, mu, log_var, grad_mu = raw
    std = (0.5 * log_var).exp()
    return [
        torch.tensor(z.shape),
        float(((z.mean(0) - mu).abs() < 0.05 * (1 + std)).all()),
        float(((z.std(0) - std).abs() < 0.05 * std + 0.01).all()),
        grad_mu,
    ]


def _independent(z: torch.Tensor) -> list:
    """Whether the draws are independent: no two rows equal, no two latent dimensions correlated."""
    z = z.double()
    corr = torch.corrcoef(z.T)
    off = (corr - torch.eye(len(corr), dtype=corr.dtype)).abs().max()
    return [torch.tensor(z.shape), float(not (z[1:] == z[:1]).all(dim=1).any()), float(bool(off < 0.05))]


def _spy_properties(raw: list) -> list:
    """Whether the code was drawn as z = mu + exp(log_var / 2) * eps with standard normal eps, and whether the
    gradients flowed through it."""
    z, mu, log_var, grad_mu, grad_log_var, weight, x = raw
    eps = (z - mu) / (0.5 * log_var).exp()
    want_mu, want_log_var = _expected_gradients(z, mu, log_var, weight, x)
    return [
        float(abs(float(eps.mean())) < 0.05),
        float(abs(float(eps.std()) - 1) < 0.05),
        float(grad_mu is not None and torch.allclose(grad_mu, want_mu, atol=1e-5)),
        float(grad_log_var is not None and torch.allclose(grad_log_var, want_log_var, atol=1e-5)),
    ]


# ------------------------------------------------------------------------------------------------
# The probes (run in the student's kernel and on the reference)
# ------------------------------------------------------------------------------------------------
def gumbel_samples(inp, gumbel_softmax):
    many = inp["logits"]
    return [
        gumbel_softmax(many.expand(30000, -1).clone(), 1.0, hard=True).detach(),
        gumbel_softmax(many.expand(3000, -1).clone(), 0.1).detach(),
        gumbel_softmax(many.expand(3000, -1).clone(), 20.0).detach(),
    ]


def gumbel_straight_through(inp, gumbel_softmax):
    grads = []
    for hard in (False, True):
        logits = inp["logits"].clone().requires_grad_(True)
        torch.manual_seed(5)  # the same Gumbel noise for the relaxed and the straight-through sample
        grads.append(torch.autograd.grad((gumbel_softmax(logits, 0.7, hard=hard) * inp["w"]).sum(), logits)[0])
    return grads


def reparameterized_moments(inp, reparameterize):
    mu, log_var = inp["mu"].clone().requires_grad_(), inp["log_var"]
    many = reparameterize(mu.expand(100000, -1), log_var.expand(100000, -1)).detach()
    return [many, mu.detach()[0], log_var[0], torch.autograd.grad(reparameterize(mu, log_var).sum(), mu)[0]]


def reparameterized_draws(inp, reparameterize):
    return reparameterize(inp["mu"].expand(20000, -1), inp["log_var"].expand(20000, -1)).detach()


def kl_value(inp, gaussian_kl):
    return gaussian_kl(inp["mu"], inp["log_var"])


def elbo_terms(inp, negative_elbo):
    out = negative_elbo(inp["x"], inp["logits"], inp["mu"], inp["log_var"], beta=2.0)
    return [out["loss"], out["recon"], out["kl"]]


def elbo_gradients(inp, negative_elbo):
    leaves = [inp["logits"].requires_grad_(), inp["mu"].requires_grad_(), inp["log_var"].requires_grad_()]
    loss = negative_elbo(inp["x"], *leaves, beta=2.0)["loss"]
    return [torch.zeros(()) if d is None else d for d in torch.autograd.grad(loss, leaves, allow_unused=True)]


def iwae_value(inp, iwae_bound):
    return iwae_bound(inp["log_w"])


def _vae_with_weights(VAE, inp, d_latent: int, shape: tuple[int, ...], d_hidden: int):
    """The student's VAE with the inputs' weights loaded, in the order of its parameters."""
    model = VAE(d_latent, shape, d_hidden)
    for k, p in enumerate(model.parameters()):
        p.data.copy_(inp[f"w{k}"])
    return model


def vae_outputs(inp, VAE):
    m = _vae_with_weights(VAE, inp, 3, (1, 8, 8), 12)
    return [*m.encode(inp["x"]), m.decode(inp["z"])]


def vae_outputs_5x6(inp, VAE):
    m = _vae_with_weights(VAE, inp, 2, (1, 5, 6), 8)
    return [*m.encode(inp["x"]), m.decode(inp["z"])]


def vae_loss_terms(inp, VAE, vae_loss):
    m = _vae_with_weights(VAE, inp, 3, (1, 8, 8), 12)
    terms = vae_loss(0.3, True)(m, (inp["x"],))
    return [terms["loss"], terms["recon"], terms["kl"]]


def vae_loss_draw(inp, vae_loss):
    """``vae_loss(1.0)`` run on a spy model (fixed mu and log_var, a fixed linear decoder): the code it drew, mu,
    log_var, their gradients and the decoder's weight."""
    spy = _Spy(inp["mu"].clone(), inp["log_var"].clone(), torch.Generator().manual_seed(0))
    vae_loss(1.0)(spy, (inp["x"],))["loss"].backward()
    return [spy.z.detach(), spy.mu.detach(), spy.log_var.detach(), spy.mu.grad, spy.log_var.grad, spy.weight, inp["x"]]


PROBES: dict[str, list[Probe]] = {
    "check-gumbel-softmax": [
        Probe(
            "hard and relaxed samples: frequencies, simplex, one-hot, temperature",
            gumbel_samples,
            _categorical,
            atol=0.015,
            rtol=0.0,
            check=_gumbel_properties,
        ),
        Probe(
            "straight-through gradient equals the relaxed sample's",
            gumbel_straight_through,
            _logits_and_weights,
            atol=1e-5,
            check=_straight_through_properties,
        ),
    ],
    "check-reparameterize": [
        Probe("mean, spread and gradient of z", reparameterized_moments, _one_code, check=_moments),
        Probe(
            "independent noise in every latent dimension", reparameterized_draws, _one_code_of_four, check=_independent
        ),
    ],
    "check-gaussian-kl": [
        Probe("KL on random codes", kl_value, _codes),
    ],
    "check-negative-elbo": [
        Probe("loss, recon and kl with beta = 2", elbo_terms, _elbo_inputs),
        Probe("gradients of the loss with respect to logits, mu and log_var, beta = 2", elbo_gradients, _elbo_inputs),
        Probe("loss, recon and kl with logits far from zero", elbo_terms, _confident_elbo_inputs),
    ],
    "check-iwae-bound": [
        Probe("bound on random log-weights", iwae_value, _log_weights),
        Probe("bound on huge log-weights", iwae_value, _huge_log_weights),
    ],
    "check-vae-model": [
        Probe("mu, log_var and decode(z) with given weights", vae_outputs, _vae_inputs),
        Probe("the same on images of 5 x 6 pixels", vae_outputs_5x6, _vae_inputs_5x6),
        Probe("the loss's terms at z = mu with beta = 0.3", vae_loss_terms, _vae_inputs, atol=1e-4, rtol=1e-5),
        Probe(
            "the code drawn for 4,000 images (its noise standard normal) and the gradients through it",
            vae_loss_draw,
            _spy_inputs,
            check=_spy_properties,
        ),
    ],
}

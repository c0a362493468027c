"""Lesson 02: the VAE's pieces are right, and the checks catch typical mistakes."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from course_tools.build import lesson_namespace


@pytest.fixture(scope="module")
def solution():
    return lesson_namespace(
        "02_vae",
        ["ex-reparameterize", "ex-gaussian-kl", "ex-negative-elbo", "ex-iwae-bound", "ex-vae-model", "lib-log-weights"],
    )


def test_kl_closed_form_matches_monte_carlo(solution):
    torch.manual_seed(0)
    mu, log_var = torch.tensor([[0.7, -1.1, 0.2]]), torch.tensor([[-0.4, 0.6, -1.3]])
    std = (0.5 * log_var).exp()
    z = mu + std * torch.randn(400_000, 3)
    q = torch.distributions.Normal(mu, std)
    p = torch.distributions.Normal(0.0, 1.0)
    monte_carlo = (q.log_prob(z) - p.log_prob(z)).sum(1)
    exact = solution["gaussian_kl"](mu, log_var).item()
    assert abs(monte_carlo.mean().item() - exact) < 4 * monte_carlo.std().item() / math.sqrt(len(z))
    expected = torch.distributions.kl_divergence(q, torch.distributions.Normal(torch.zeros(3), torch.ones(3))).sum()
    assert exact == pytest.approx(expected.item(), rel=1e-6)


def test_reparameterised_gradient_is_unbiased(solution):
    """d/dmu E[z²] = 2 mu and d/dlog_var E[z²] = sigma² (z ~ N(mu, sigma²)), through the samples."""
    torch.manual_seed(1)
    mu = torch.tensor([0.8], requires_grad=True)
    log_var = torch.tensor([math.log(0.5)], requires_grad=True)
    z = solution["reparameterize"](mu.expand(400_000, 1), log_var.expand(400_000, 1))
    (z**2).mean().backward()
    assert mu.grad.item() == pytest.approx(1.6, abs=0.01)
    assert log_var.grad.item() == pytest.approx(0.5, abs=0.01)
    sampled = torch.distributions.Normal(mu, 1.0).sample((10,))
    assert not sampled.requires_grad  # what the lesson shows: a plain sample cuts the graph


def test_importance_weighted_bound_rises_with_k(solution):
    """E[L_K] ≥ E[L_1] = ELBO, and E[L_K] does not fall as K grows (Burda et al. 2016, Theorem 1)."""
    torch.manual_seed(0)
    model = solution["VAE"](3, (1, 4, 4), d_hidden=16).eval()
    with torch.no_grad():  # make p(x|z) depend strongly on z, so q(z|x) is a poor posterior: a wide gap
        model.decoder[-1].weight.mul_(20)
    x = (torch.rand(5, 1, 4, 4) > 0.5).float()
    bound, spread = {}, {}
    for k in (1, 5, 50):
        log_w = solution["log_weights"](model, x, k * 400).view(400, k, 5)  # 400 independent L_K per image
        estimates = torch.stack([solution["iwae_bound"](log_w[r]) for r in range(400)])
        bound[k], spread[k] = estimates.mean(0), estimates.std(0) / math.sqrt(400)
    assert (bound[5] > bound[1]).all() and (bound[50] > bound[5]).all()
    # and with a single sample the estimate is the ELBO: E_q[log p(x|z)] − KL
    torch.manual_seed(3)
    mu, log_var = model.encode(x)
    z = mu + (0.5 * log_var).exp() * torch.randn(20_000, *mu.shape)
    logits = model.decode(z.flatten(0, 1)).view(20_000, 5, -1)
    log_px = -F.binary_cross_entropy_with_logits(logits, x.flatten(1).expand_as(logits), reduction="none").sum(-1)
    elbo = log_px.mean(0) - solution["gaussian_kl"](mu, log_var)
    assert ((bound[1] - elbo.detach()).abs() < 4 * spread[1]).all()

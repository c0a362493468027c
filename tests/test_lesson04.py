"""Lesson 04: the optimal discriminator and the JSD identity, and a reproducible 2D run."""

from __future__ import annotations

import math

import pytest
import torch

from course_utils import data, metrics, train
from course_utils.checks import gan as checks
from course_utils.build import lesson_namespace


@pytest.fixture(scope="module")
def solution():
    return lesson_namespace("04_gan", ["ex-discriminator-loss", "ex-generator-loss", "ex-gan-step",
                                       "ex-modes-captured", "gan-2d-models"])


def test_checks_pass_on_the_solution(solution, capsys):
    assert checks.check_discriminator_loss(solution["discriminator_loss"])
    assert checks.check_generator_loss(solution["generator_loss"])
    assert checks.check_gan_step(solution["gan_step"])
    assert checks.check_modes_captured(solution["modes_captured"])


def _jsd(p: torch.Tensor, q: torch.Tensor) -> float:
    m = (p + q) / 2
    kl = lambda a, b: float(torch.where(a > 0, a * (a / b).log(), torch.zeros_like(a)).sum())  # noqa: E731
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def test_optimal_discriminator_and_jsd_identity_on_discrete_distributions():
    """V(D*, G) = 2 JSD − 2 log 2 exactly, and D* maximises V (any other D does worse)."""
    p = torch.tensor([0.5, 0.3, 0.2, 0.0], dtype=torch.float64)
    q = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    d_star = p / (p + q)
    value = lambda d: float((p * d.clamp_min(1e-300).log()).sum() + (q * (1 - d).clamp_min(1e-300).log()).sum())  # noqa: E731
    assert value(d_star) == pytest.approx(2 * _jsd(p, q) - 2 * math.log(2), abs=1e-12)
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        other = (d_star + 0.2 * torch.rand(4, generator=generator, dtype=torch.float64) - 0.1).clamp(1e-6, 1 - 1e-6)
        assert value(other) <= value(d_star) + 1e-12
    assert _jsd(p, p) == 0.0 and value(torch.full((4,), 0.5, dtype=torch.float64)) == pytest.approx(-2 * math.log(2))


def test_jsd_identity_on_gaussians_by_monte_carlo():
    p_data, p_g = torch.distributions.Normal(1.5, 0.5), torch.distributions.Normal(-0.5, 1.0)
    grid = torch.linspace(-12, 12, 200_001, dtype=torch.float64)
    dx = float(grid[1] - grid[0])
    jsd = _jsd(p_data.log_prob(grid).double().exp() * dx, p_g.log_prob(grid).double().exp() * dx)
    torch.manual_seed(0)
    real, fake = p_data.sample((400_000,)), p_g.sample((400_000,))
    log_d = lambda x: p_data.log_prob(x) - torch.logaddexp(p_data.log_prob(x), p_g.log_prob(x))  # noqa: E731
    log_one_minus_d = lambda x: p_g.log_prob(x) - torch.logaddexp(p_data.log_prob(x), p_g.log_prob(x))  # noqa: E731
    value = float(log_d(real).mean() + log_one_minus_d(fake).mean())
    assert value == pytest.approx(2 * jsd - 2 * math.log(2), abs=0.005)


def test_disjoint_supports_give_log_2():
    p = torch.tensor([0.5, 0.5, 0.0, 0.0], dtype=torch.float64)
    for q in (torch.tensor([0.0, 0.0, 1.0, 0.0], dtype=torch.float64), torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64)):
        assert _jsd(p, q) == pytest.approx(math.log(2))


def _ring_run(solution, seed: int, remedy: bool = False):
    ring = data.load("ring", n=5000, seed=0)
    torch.manual_seed(seed)
    G = solution["mlp"](2, 2, hidden=32)
    D = solution["MinibatchDiscriminator"](hidden=32) if remedy else solution["mlp"](2, 1, hidden=32)
    z_fixed = torch.randn(300, 2, generator=torch.Generator().manual_seed(99))
    _, snapshots = train.fit_gan(solution["gan_step"], G, D, ring.x, steps=60, z_dim=2, batch_size=64, lr_G=5e-4,
                                 lr_D=5e-4, seed=seed, snapshot_every=20, snapshot=lambda i: G(z_fixed).detach(),
                                 device="cpu", progress=False)
    return snapshots


def test_the_same_seed_gives_the_same_run(solution):
    first, again, other = _ring_run(solution, 1), _ring_run(solution, 1), _ring_run(solution, 2)
    assert len(first) == 4 and all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[-1], other[-1])
    remedy = _ring_run(solution, 1, remedy=True)
    assert all(torch.equal(a, b) for a, b in zip(remedy, _ring_run(solution, 1, remedy=True)))


def test_minibatch_discriminator_sees_the_batch_spread(solution):
    torch.manual_seed(0)
    D = solution["MinibatchDiscriminator"](hidden=16)
    spread_out = torch.randn(64, 2)
    collapsed = torch.zeros(64, 2) + 0.01 * torch.randn(64, 2)
    x = spread_out[:1]
    # the same point gets a different logit depending on the batch it is judged with
    assert not torch.allclose(D.field(x, reference=spread_out), D.field(x, reference=collapsed))
    assert torch.allclose(D(spread_out)[:1], D.field(x, reference=spread_out))


def test_coverage_on_hand_made_samples_through_the_exercise(solution):
    grid = data.load("grid", n=2500, seed=1)
    assert solution["modes_captured"](grid.x, grid.modes, grid.std) == 25
    collapsed = grid.modes[7] + grid.std * torch.randn(2500, 2)
    assert solution["modes_captured"](collapsed, grid.modes, grid.std) == 1
    assert metrics.mode_coverage(collapsed, grid.modes, grid.std).modes_captured == 1

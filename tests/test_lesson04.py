"""Lesson 04: the optimal discriminator and the JSD identity, and a reproducible 2D run."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from course_tools.build import lesson_namespace
from course_utils import data, gan2d, metrics


@pytest.fixture(scope="module")
def solution():
    return lesson_namespace(
        "04_gan", ["ex-discriminator-loss", "ex-generator-loss", "ex-gan-step", "ex-modes-captured", "lib-gan-2d-run"]
    )


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
    for q in (
        torch.tensor([0.0, 0.0, 1.0, 0.0], dtype=torch.float64),
        torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64),
    ):
        assert _jsd(p, q) == pytest.approx(math.log(2))


def _ring_run(solution, seed: int, remedy: bool = False):
    torch.manual_seed(seed)
    G = gan2d.mlp(2, 2, hidden=32)
    D = gan2d.Packed(m=solution["PACK"], hidden=32) if remedy else gan2d.mlp(2, 1, hidden=32)
    recipe = gan2d.Recipe(steps={"ring": 60}, z_dim={"ring": 2}, batch=64, snapshots=3)
    return gan2d.train_2d("ring", solution["gan_step"], G, D, recipe, seed=seed, label="test", progress=False)


def test_lesson_05_baseline_is_lesson_04s_algorithm(solution):
    """Lesson 05 trains its GAN rows with gan2d.gan_step.

    The cache is shared only if it does what the lesson's step does.
    """
    torch.manual_seed(0)
    for z_dim, D in ((16, gan2d.mlp(2, 1, hidden=16)), (2, gan2d.Packed(m=solution["PACK"], hidden=16))):
        G = gan2d.mlp(z_dim, 2, hidden=16)
        lesson, library = (gan2d.behaviour(step, G, D, z_dim) for step in (solution["gan_step"], gan2d.gan_step))
        assert gan2d.same_behaviour(lesson, library)
    swapped = gan2d.behaviour(lambda G, D, oG, oD, real, z: solution["gan_step"](G, D, oG, oD, z[:, :2], z), G, D, 2)
    assert not gan2d.same_behaviour(swapped, library)


def test_the_same_seed_gives_the_same_run_and_a_second_run_loads_it(solution, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    first = _ring_run(solution, 1)
    again, other = _ring_run(solution, 1), _ring_run(solution, 2)
    assert not first.cached and again.cached and not other.cached
    assert len(first.snapshots) == 4 and all(
        torch.equal(a.samples, b.samples) for a, b in zip(first.snapshots, again.snapshots)
    )
    assert torch.equal(first.samples, again.samples) and not torch.equal(first.samples, other.samples)
    monkeypatch.setenv("COURSE_SEED", "1")  # the lesson seed shifts every seed: another run, not the cached one
    shifted = _ring_run(solution, 1)
    assert not shifted.cached and not torch.equal(first.samples, shifted.samples)
    monkeypatch.delenv("COURSE_SEED")
    remedy = _ring_run(solution, 1, remedy=True)
    assert not remedy.cached and torch.equal(remedy.samples, _ring_run(solution, 1, remedy=True).samples)


def test_coverage_on_hand_made_samples_through_the_exercise(solution):
    grid = data.load("grid", n=2500, seed=1)
    assert solution["modes_captured"](grid.x, grid.modes, grid.std) == 25
    collapsed = grid.modes[7] + grid.std * torch.randn(2500, 2)
    assert solution["modes_captured"](collapsed, grid.modes, grid.std) == 1
    assert metrics.mode_coverage(collapsed, grid.modes, grid.std).modes_captured == 1


def test_conditional_networks_take_their_labels_as_arguments():
    """No labels kept as state: a call without y fails loudly, and a step sees only its own batch's labels."""
    ns = lesson_namespace("04_gan", ["ex-discriminator-loss", "ex-generator-loss", "ex-gan-step", "lib-dcgan-models"])
    torch.manual_seed(0)
    G, D = ns["Generator"](n_classes=10), ns["Discriminator"](n_classes=10)
    z, y = torch.randn(6, ns["Z_IMAGE"]), torch.arange(6)
    with pytest.raises(ValueError, match=r"needs the labels y of its batch"):
        G(z)
    with pytest.raises(ValueError, match=r"of shape \(6,\), not \(3,\)"):
        D(torch.rand(6, 1, 8, 8), y[:3])
    G.eval()
    x = G(z, y)
    assert x.shape == (6, 1, 8, 8) and not torch.equal(x, G(z, (y + 1) % 10))  # the label changes the digit
    assert not hasattr(G, "labels") and not hasattr(D, "labels")
    opt_G, opt_D = torch.optim.Adam(G.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3)
    G.train()
    losses = ns["conditional_step"](G, D, opt_G, opt_D, torch.rand(6, 1, 8, 8), z, y)
    assert set(losses) >= {"loss_D", "loss_G"} and not hasattr(G, "y") and not hasattr(D, "y")


def test_the_r1_optimiser_adds_the_penalty_to_the_discriminators_loss(solution):
    """gan_step with WithR1 makes the same update as one written with gamma/2 E||grad_x D||^2 in loss_D."""
    torch.manual_seed(0)
    G, D = gan2d.mlp(2, 2, hidden=8), gan2d.mlp(2, 1, hidden=8)
    real, z = torch.randn(32, 2), torch.randn(32, 2)
    gamma = 0.7

    def by_hand(G, D, real, z):
        opt_D = torch.optim.SGD(D.parameters(), lr=0.1)
        x = real.clone().requires_grad_(True)
        logits = D(x)
        (grad_x,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
        loss_D = solution["discriminator_loss"](logits, D(G(z).detach())) + gamma / 2 * grad_x.pow(2).sum(1).mean()
        opt_D.zero_grad()
        loss_D.backward()
        opt_D.step()
        return [p.detach().clone() for p in D.parameters()]

    G1, D1, G2, D2 = copy.deepcopy(G), copy.deepcopy(D), copy.deepcopy(G), copy.deepcopy(D)
    want = by_hand(G1, D1, real, z)
    step = solution["r1_step"](gamma)
    step(G2, D2, torch.optim.SGD(G2.parameters(), lr=0.1), torch.optim.SGD(D2.parameters(), lr=0.1), real, z)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(want, D2.parameters()))
    # and without the penalty the step differs: the term is really there
    G3, plain = copy.deepcopy(G), copy.deepcopy(D)
    solution["gan_step"](
        G3, plain, torch.optim.SGD(G3.parameters(), lr=0.1), torch.optim.SGD(plain.parameters(), lr=0.1), real, z
    )
    assert not all(torch.allclose(a, b, atol=1e-6) for a, b in zip(want, plain.parameters()))


def test_run_2d_names_its_methods(solution):
    with pytest.raises(ValueError, match="method must be one of"):
        solution["run_2d"]("ring", True)

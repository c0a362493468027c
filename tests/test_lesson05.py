"""Lesson 05: the gradient penalty, the transport linear program, and the parallel-lines values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import linprog
from torch import nn

from course_tools.build import lesson_namespace
from course_utils import gan2d


@pytest.fixture(scope="module")
def solution():
    return lesson_namespace(
        "05_wgan", ["ex-wasserstein-1d", "ex-critic-losses", "ex-clip-weights", "ex-gradient-penalty", "ex-wgan-step"]
    )


class Rotation(nn.Module):
    """f(x) = |x| rotated: a function whose gradient has norm exactly 1 wherever it exists."""

    def forward(self, x):
        return x.flatten(1).norm(dim=1, keepdim=True)


@pytest.mark.parametrize("shape", [(256, 2), (64, 1, 8, 8)])
def test_gradient_penalty_zero_for_unit_gradient_positive_otherwise(solution, shape):
    torch.manual_seed(0)
    real, fake = torch.randn(shape) + 3, torch.randn(shape)
    penalty = solution["gradient_penalty"]
    assert penalty(Rotation(), real, fake).item() == pytest.approx(0.0, abs=1e-10)
    halved = lambda x: 0.5 * Rotation()(x)  # noqa: E731  gradient norm ½: penalty (½ − 1)² = ¼
    assert penalty(halved, real, fake).item() == pytest.approx(0.25, abs=1e-6)
    net = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(shape[1:])), 16), nn.Tanh(), nn.Linear(16, 1))
    assert penalty(net, real, fake).item() > 0


def _lp_wasserstein(p: np.ndarray, q: np.ndarray, positions: np.ndarray) -> float:
    n = len(positions)
    cost = np.abs(positions[:, None] - positions[None, :]).ravel()
    a_eq = np.vstack([np.kron(np.eye(n), np.ones(n)), np.kron(np.ones(n), np.eye(n))])
    return float(linprog(cost, A_eq=a_eq, b_eq=np.concatenate([p, q]), bounds=(0, None), method="highs").fun)


@pytest.mark.parametrize("seed", range(5))
def test_linear_program_matches_the_1d_closed_form(solution, seed):
    rng = np.random.default_rng(seed)
    positions = np.sort(rng.uniform(0, 10, 7))
    p, q = rng.dirichlet(np.ones(7)), rng.dirichlet(np.ones(7))
    closed_form = float(np.sum(np.abs(np.cumsum(p) - np.cumsum(q))[:-1] * np.diff(positions)))
    assert _lp_wasserstein(p, q, positions) == pytest.approx(closed_form, abs=1e-8)
    # and the sorted-sample formula agrees on samples drawn in those proportions
    counts_p, counts_q = np.round(p * 20000).astype(int), np.round(q * 20000).astype(int)
    m = min(counts_p.sum(), counts_q.sum())
    u = torch.from_numpy(np.repeat(positions, counts_p)[:m])
    v = torch.from_numpy(np.repeat(positions, counts_q)[:m])
    assert solution["wasserstein_1d"](u, v).item() == pytest.approx(closed_form, abs=0.01)


def test_parallel_lines(solution):
    """P0 = (0, Z), P_theta = (theta, Z): JS = log 2 for theta ≠ 0 (0 at 0), W = |theta|."""
    z = torch.rand(10_000, generator=torch.Generator().manual_seed(0))
    for theta in (-0.7, -0.1, 0.0, 0.3, 1.0):
        line_0, line_theta = torch.stack([torch.zeros_like(z), z], 1), torch.stack([torch.full_like(z, theta), z], 1)
        # W in 2D equals the 1D W of the x coordinates here (moving each point straight across is optimal)
        assert solution["wasserstein_1d"](line_0[:, 0], line_theta[:, 0]).item() == pytest.approx(abs(theta), abs=1e-6)
        p = torch.tensor([1.0, 0.0], dtype=torch.float64)
        q = p if theta == 0 else torch.tensor([0.0, 1.0], dtype=torch.float64)
        m = (p + q) / 2
        js = 0.5 * float((p[p > 0] * (p[p > 0] / m[p > 0]).log()).sum()) + 0.5 * float(
            (q[q > 0] * (q[q > 0] / m[q > 0]).log()).sum()
        )
        assert js == pytest.approx(0.0 if theta == 0 else math.log(2))


def test_wgan_step_gives_each_critic_step_its_own_batch(solution):
    seen = []

    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Linear(2, 1)

        def forward(self, x):
            seen.append(x.detach().clone())
            return self.w(x)

    torch.manual_seed(0)
    G, C = gan2d.mlp(2, 2, hidden=8), Spy()
    opt_G, opt_C = torch.optim.Adam(G.parameters()), torch.optim.Adam(C.parameters())
    real = torch.arange(24.0).view(12, 2)
    out = solution["wgan_step"](3, clip=0.1)(G, C, opt_G, opt_C, real, torch.randn(12, 2))
    real_batches = seen[0:6:2]  # each critic step scores a real batch, then a fake one
    assert [b.shape[0] for b in real_batches] == [4, 4, 4]
    assert torch.equal(torch.cat(real_batches), real) and set(out) == {"W_estimate", "loss_G"}
    assert all(float(p.detach().abs().max()) <= 0.1 + 1e-7 for p in C.parameters())

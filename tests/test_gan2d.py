"""The shared 2D GAN experiment: packing, the library's baseline step, the cached training loop."""

from __future__ import annotations

import tempfile
from functools import partial

import pytest
import torch
import torch.nn.functional as F

from course_utils import data, gan2d
from course_utils.checks import gan as gan_checks


def test_packed_discriminator_judges_packs_of_consecutive_samples():
    torch.manual_seed(0)
    D = gan2d.Packed(m=2, hidden=8)
    x = torch.randn(6, 2)
    assert D(x).shape == (3, 1)
    # a pack's verdict depends on both of its samples and on nothing else
    y = x.clone()
    y[1] += 1.0
    changed = (D(x) != D(y)).flatten().tolist()
    assert changed == [True, False, False]
    with pytest.raises(ValueError, match="packs of 2"):
        D(torch.randn(5, 2))


def test_the_library_step_is_lesson_04s_algorithm():
    assert gan_checks.check_gan_step(gan2d.gan_step)


def test_mixtures_carry_their_plotting_extent():
    ring, grid = data.load("ring", n=10), data.load("grid", n=10)
    assert ring.extent == pytest.approx((-2.7, 2.7, -2.7, 2.7))
    assert grid.extent == pytest.approx((-5.5, 5.5, -5.5, 5.5))
    assert float(ring.modes.norm(dim=1).max()) == pytest.approx(2.0) and ring.std == 0.02


def test_a_changed_algorithm_trains_again_and_the_same_one_written_differently_does_not(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    recipe = gan2d.Recipe(steps={"grid": 20}, z_dim={"grid": 2}, batch=32, snapshots=2)

    def run(step):
        torch.manual_seed(0)
        return gan2d.train_2d(
            "grid", step, gan2d.mlp(2, 2, hidden=8), gan2d.mlp(2, 1, hidden=8), recipe, label="test", progress=False
        )

    def same_step(G, D, opt_G, opt_D, real, z):  # lesson 04's algorithm in other words, as a student writes it
        ones, zeros = torch.ones(len(real), 1), torch.zeros(len(z), 1)
        loss_D = F.binary_cross_entropy_with_logits(D(real), ones) + F.binary_cross_entropy_with_logits(
            D(G(z).detach()), zeros
        )
        opt_D.zero_grad()
        loss_D.backward()
        opt_D.step()
        loss_G = F.binary_cross_entropy_with_logits(D(G(z)), ones)
        opt_G.zero_grad()
        loss_G.backward()
        opt_G.step()
        return {"loss_G": loss_G, "loss_D": loss_D}

    def saturating_step(G, D, opt_G, opt_D, real, z):  # a different generator loss
        out = gan2d.gan_step(G, D, opt_G, opt_D, real, z)
        loss_G = -F.softplus(D(G(z))).mean()
        opt_G.zero_grad()
        loss_G.backward()
        opt_G.step()
        return out

    first = run(gan2d.gan_step)
    assert not first.cached and run(gan2d.gan_step).cached
    again = run(same_step)
    assert again.cached and torch.equal(again.samples, first.samples)
    assert not run(saturating_step).cached  # and it replaced the cache: the library's step trains again
    assert not run(gan2d.gan_step).cached
    caches = sorted(tmp_path.glob("2d-grid-test-*.pt"))
    assert len(caches) == 1
    for cache in caches:
        cache.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="could not be loaded"):
        assert len(run(gan2d.gan_step).snapshots) == 3  # every 10 steps, and the last


def test_runs_trained_side_by_side_are_the_runs_trained_here(tmp_path, monkeypatch):
    recipe = gan2d.Recipe(steps={"grid": 30, "ring": 30}, z_dim={"grid": 2, "ring": 4}, batch=32, snapshots=2)

    def run(name):
        torch.manual_seed(0)
        G, D = gan2d.mlp(recipe.z_dim[name], 2, hidden=8), gan2d.mlp(2, 1, hidden=8)
        return gan2d.train_2d(name, gan2d.gan_step, G, D, recipe, label="test", progress=False)

    calls = {name: partial(run, name) for name in ("grid", "ring")}
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path / "workers"))
    side_by_side = gan2d.train_all(calls, workers=2)
    assert not any(r.cached for r in side_by_side.values())
    assert all(r.cached for r in gan2d.train_all(calls, workers=2).values())
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path / "here"))
    here = {name: call() for name, call in calls.items()}
    for name in calls:
        assert torch.equal(side_by_side[name].samples, here[name].samples)
        assert side_by_side[name].history.step == here[name].history.step


def test_a_decaying_learning_rate_reaches_its_final_value():
    recipe = gan2d.Recipe(steps={"grid": 10}, z_dim={"grid": 2}, batch=8, snapshots=1, decay_from=0.5, lr_final=0.1)
    seen = []

    def step(G, D, opt_G, opt_D, real, z):
        seen.append((opt_G.param_groups[0]["lr"], opt_D.param_groups[0]["lr"]))
        return gan2d.gan_step(G, D, opt_G, opt_D, real, z)

    with pytest.MonkeyPatch.context() as mp, tempfile.TemporaryDirectory() as folder:
        mp.setenv("COURSE_CHECKPOINT_DIR", folder)
        gan2d.train_2d("grid", step, gan2d.mlp(2, 2, hidden=4), gan2d.mlp(2, 1, hidden=4), recipe, progress=False)
    lr = [g for g, d in seen[-10:]]  # the training steps (the first calls measure the step's behaviour)
    assert lr[:5] == [1e-3] * 5 and lr[-1] == pytest.approx(1e-4)
    assert all(a >= b for a, b in zip(lr, lr[1:])) and all(g == d for g, d in seen[-10:])

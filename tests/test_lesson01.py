"""Lesson 01: the checks catch typical mistakes, and the solution beats PCA on held-out digits."""

from __future__ import annotations

import pytest
import torch

from course_tools.build import lesson_namespace
from course_utils import data, train


@pytest.fixture(scope="module")
def solution():
    return lesson_namespace("01_autoencoder")


@pytest.mark.slow
def test_autoencoder_beats_pca_on_held_out_digits(solution):
    """The quality floor of the lesson: a nonlinear code beats PCA at k = 2 and k = 5."""
    train_set, test_set = data.load("digits"), data.load("digits", "test")
    loss = solution["reconstruction_loss"]
    x_flat = train_set.flat()
    for k in (2, 5):
        model = solution["Autoencoder"](k, train_set.shape)
        train.fit(
            model,
            lambda m, b: loss(b[0], m(b[0])),
            train_set,
            epochs=40,
            lr=2e-3,
            device="cpu",
            progress=False,
            live_plot=False,
        )
        mu = x_flat.mean(0)
        V = torch.linalg.svd(x_flat - mu, full_matrices=False)[2][:k].T
        with torch.no_grad():
            ae = loss(test_set.x, model(test_set.x)).item()
            pca = loss(test_set.flat(), (test_set.flat() - mu) @ V @ V.T + mu).item()
        assert ae < 0.8 * pca, (k, ae, pca)

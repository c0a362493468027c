"""Lesson 01: the checks catch typical mistakes, and the solution beats PCA on held-out digits."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_tools.build import lesson_namespace
from course_utils import data, train
from course_utils.checks import CheckFailed, NotDone
from course_utils.checks import autoencoder as checks


@pytest.fixture(scope="module")
def solution():
    return lesson_namespace("01_autoencoder")


def test_checks_pass_on_the_solution(solution, capsys):
    assert checks.check_reconstruction_loss(solution["reconstruction_loss"])
    assert checks.check_autoencoder(solution["Autoencoder"])
    assert checks.check_output_sizes(solution["conv_output_size"], solution["conv_transpose_output_size"])
    assert checks.check_label_subset(solution["label_subset"])
    assert checks.check_probe_accuracy(solution["probe_accuracy"])


@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")
@pytest.mark.parametrize(
    "loss,hint",
    [
        (lambda x, x_hat: ((x - x_hat) ** 2).mean(), "averaged over the pixels too"),
        (lambda x, x_hat: ((x - x_hat) ** 2).sum(), "average over the N images"),
        (lambda x, x_hat: float(((x - x_hat) ** 2).flatten(1).sum(1).mean()), "torch.Tensor"),
        (lambda x, x_hat: ((x - x_hat) ** 2).detach().flatten(1).sum(1).mean(), "carry a gradient"),
        (lambda x, x_hat: ((x - x_hat) ** 2).sum((1, 2, 3)).mean(), "works on flat vectors"),
    ],
)
def test_reconstruction_loss_mistakes_are_named(loss, hint, capsys):
    with pytest.raises(CheckFailed):
        checks.check_reconstruction_loss(loss)
    assert hint in capsys.readouterr().out


def test_autoencoder_mistakes_are_named(solution, capsys):
    Autoencoder = solution["Autoencoder"]

    class NoSigmoid(Autoencoder):
        def decode(self, z):
            return self.decoder[:-1](z).view(-1, *self.image_shape)

    class Linear(Autoencoder):
        def __init__(self, d_latent, image_shape=(1, 8, 8), d_hidden=128):
            super().__init__(d_latent, image_shape, d_hidden)
            self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(64, d_latent))
            self.decoder = nn.Sequential(nn.Linear(d_latent, 64))

    class Shortcut(Autoencoder):
        def forward(self, x):
            return x.clamp(0, 1)

    for broken, message in [
        (NoSigmoid, "end the decoder with a sigmoid"),
        (Linear, "should be nonlinear"),
        (Shortcut, "through the bottleneck"),
    ]:
        with pytest.raises(CheckFailed):
            checks.check_autoencoder(broken)
        assert message in capsys.readouterr().out, broken.__name__

    class Crashes(nn.Module):
        def __init__(self, **kwargs):
            raise TypeError("unexpected keyword")

    with pytest.raises(CheckFailed):
        checks.check_autoencoder(Crashes)
    out = capsys.readouterr().out
    assert "raised TypeError: unexpected keyword" in out and "later tests need this one" in out


def test_output_size_mistakes_are_named(solution, capsys):
    conv_t = solution["conv_transpose_output_size"]
    with pytest.raises(CheckFailed):
        checks.check_output_sizes(lambda i, k, s=1, p=0: (i + p - k) // s + 1, conv_t)
    assert "expected" in capsys.readouterr().out
    with pytest.raises(CheckFailed):
        checks.check_output_sizes(lambda i, k, s=1, p=0: (i + 2 * p - k) / s + 1, conv_t)
    assert "should return an int" in capsys.readouterr().out


def test_label_subset_and_probe_mistakes_are_named(capsys):
    with pytest.raises(CheckFailed):
        checks.check_label_subset(lambda y, n, seed=0: torch.arange(n * 10))
    assert "exactly 3 times" in capsys.readouterr().out
    with pytest.raises(CheckFailed):
        checks.check_probe_accuracy(lambda f_train, y_train, f_test, y_test: 100.0)
    assert "not a percentage" in capsys.readouterr().out


def test_stubs_read_as_not_done(capsys):
    def stub(*args, **kwargs):
        raise NotImplementedError("square the difference")

    for check, n_args in [
        (checks.check_reconstruction_loss, 1),
        (checks.check_autoencoder, 1),
        (checks.check_output_sizes, 2),
        (checks.check_label_subset, 1),
        (checks.check_probe_accuracy, 1),
    ]:
        with pytest.raises(NotDone):
            check(*[stub] * n_args)
        assert "not done yet" in capsys.readouterr().out


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

"""Numbers that compare generative models.

* :func:`bits_per_dim`: a likelihood in nats per example, per dimension in bits.
* :func:`mode_coverage`: how many modes of a 2D Gaussian mixture a generator covers, and how well
  (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018).
* :func:`inception_score` and :func:`frechet_distance` on the features of :class:`DigitClassifier`,
  a small classifier this project trains itself on the digits (an "Inception" for 8x8 digits).
  Such scores are comparable only between runs that use the *same* classifier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .device import unshifted_seeds

__all__ = [
    "bits_per_dim",
    "Coverage",
    "mode_coverage",
    "DigitClassifier",
    "digit_classifier",
    "shifted_cross_entropy",
    "track_classifier",
    "inception_score",
    "frechet_distance",
    "classifier_scores",
]


def bits_per_dim(nll_nats: float, dims: int) -> float:
    """Convert a negative log-likelihood per example (nats) into bits per dimension: nll / (D · ln 2)."""
    if dims <= 0:
        raise ValueError(f"dims must be positive, got {dims}")
    return nll_nats / (dims * math.log(2.0))


# ------------------------------------------------------------------------------------------------
# Mode coverage on 2D mixtures
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Coverage:
    """Mode coverage of a sample set (see :func:`mode_coverage`)."""

    modes_captured: int
    n_modes: int
    high_quality: float  #: fraction of samples within ``threshold`` standard deviations of a mode
    kl_to_uniform: float  #: KL(mode histogram of high-quality samples || uniform), nats
    counts: tuple[int, ...]  #: high-quality samples per mode

    def __str__(self) -> str:
        return (
            f"{self.modes_captured}/{self.n_modes} modes, {100 * self.high_quality:.1f}% high quality, "
            f"KL {self.kl_to_uniform:.3f}"
        )


def mode_coverage(
    samples: torch.Tensor, modes: torch.Tensor, std: float, threshold: float = 3.0, min_count: int = 20
) -> Coverage:
    """Coverage metrics as in VEEGAN and PacGAN, for samples of a mixture with equal-std modes.

    A sample is *high quality* if it lies within ``threshold`` standard deviations of its nearest
    mode (in 2D, a perfect sampler scores 1 − exp(−9/2) = 98.9% at the default of 3). A mode is
    *captured* if at least ``min_count`` high-quality samples fall to it (PacGAN uses 20 of 2,500
    samples). The KL divergence compares the histogram of high-quality samples
    over modes with the uniform distribution (0 when every mode gets the same share).
    """
    samples = torch.as_tensor(samples, dtype=torch.float32).cpu()
    modes = torch.as_tensor(modes, dtype=torch.float32).cpu()
    if samples.ndim != 2 or samples.shape[1] != modes.shape[1]:
        raise ValueError(f"samples must be N x {modes.shape[1]}, got {tuple(samples.shape)}")
    distance = torch.cdist(samples, modes)
    nearest_distance, nearest = distance.min(dim=1)
    good = nearest_distance <= threshold * std
    counts = torch.bincount(nearest[good], minlength=len(modes))
    n_good = int(good.sum())
    if n_good:
        p = counts.double() / n_good
        nonzero = p > 0
        kl = float((p[nonzero] * (p[nonzero] * len(modes)).log()).sum())
    else:
        kl = math.log(len(modes))
    return Coverage(
        int((counts >= min_count).sum()), len(modes), n_good / max(len(samples), 1), kl, tuple(int(c) for c in counts)
    )


# ------------------------------------------------------------------------------------------------
# Classifier-based scores on digits
# ------------------------------------------------------------------------------------------------
class DigitClassifier(nn.Module):
    """A small CNN for ``side`` x ``side`` digits (8 by default; 28 for MNIST); ``features`` is its 64-d
    penultimate layer (used for Fréchet distances)."""

    def __init__(self, n_classes: int = 10, side: int = 8):
        super().__init__()
        half = (side + 1) // 2
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(),  # 8 -> 4
            nn.Flatten(),
            nn.Linear(64 * half * half, 64),
            nn.ReLU(),
        )
        self.head = nn.Linear(64, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def shifted_cross_entropy(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """The classifiers' training loss: cross-entropy on the batch ``(x, y)`` rolled by one random shift
    of -1, 0 or 1 pixels down and across, so that a classifier judges shapes, not exact pixels."""
    x, y = batch
    dx, dy = torch.randint(-1, 2, (2,)).tolist()
    x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
    return nn.functional.cross_entropy(model(x), y)


def digit_classifier(epochs: int = 30, seed: int = 0, images: Any = None) -> DigitClassifier:
    """The project's digit classifier, trained on the training digits on first use, then loaded.

    It is trained with small random shifts so that it judges shapes rather than exact pixels;
    its held-out accuracy is about 98%. Always the same weights for the same ``epochs`` and ``seed``.
    ``images`` (an :class:`~course_utils.data.Images` with labels) trains it on other images instead,
    e.g. the 28x28 MNIST of the mnist track; its checkpoint is keyed by their name, size and shape.
    """
    from . import data, train

    digits = images if images is not None else data.load("digits", "train")

    config = {"epochs": epochs, "seed": seed, "lr": 2e-3, "augment": "roll1"}
    if images is not None:
        config["data"] = [digits.name, len(digits), *digits.shape]
    with unshifted_seeds():  # an instrument: the same classifier scores every lesson seed's samples
        model, _ = train.load_or_train(
            "digit-classifier",
            config,
            build=lambda: DigitClassifier(side=digits.shape[-1]),
            train=lambda m: train.fit(
                m,
                shifted_cross_entropy,
                digits,
                epochs=epochs,
                lr=2e-3,
                seed=seed,
                live_plot=False,
                progress=False,
                desc="digit classifier",
            ),
        )
    return model.eval()


def track_classifier(images: Any) -> DigitClassifier:
    """The classifier that scores samples shaped as ``images`` (labelled :class:`~course_utils.data.Images`
    of the current track): for 8x8 images, the shared :func:`digit_classifier` of the digits, so that
    every lesson's numbers are comparable; for others (the mnist track's 28x28), a
    :func:`digit_classifier` of 15 epochs trained on ``images`` themselves."""
    if images.shape[-1] == 8:
        return digit_classifier()
    return digit_classifier(epochs=15, images=images)


def inception_score(probs: torch.Tensor) -> float:
    """exp(E_x KL(p(y|x) || p(y))) from class probabilities N x C (Salimans et al. 2016).

    Between 1 (every image looks like the same class, or nothing is confident) and C (confident
    and balanced over all classes).
    """
    probs = probs.double().clamp_min(1e-12)
    marginal = probs.mean(0, keepdim=True)
    return float(torch.exp((probs * (probs.log() - marginal.log())).sum(1).mean()))


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """||mu_a − mu_b||² + Tr(S_a + S_b − 2 (S_a S_b)^½) between Gaussians fitted to two feature sets.

    The Fréchet (2-Wasserstein) distance of Heusel et al. 2017 (FID), on whichever features are given.
    Tr (S_a S_b)^½ is computed as Tr (S_a^½ S_b S_a^½)^½ from symmetric eigendecompositions, which
    stays real and stable when a covariance is singular (e.g. a collapsed generator).
    """
    a = features_a.detach().double().cpu().numpy()
    b = features_b.detach().double().cpu().numpy()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(values.clip(min=0))) @ vectors.T
    middle = np.linalg.eigvalsh(root_a @ cov_b @ root_a).clip(min=0)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.sqrt(middle).sum())


@torch.no_grad()
def classifier_scores(
    images: torch.Tensor, reference: torch.Tensor, classifier: DigitClassifier | None = None
) -> dict[str, float]:
    """Inception-style score of ``images`` and their Fréchet distance to ``reference``, both on the digit classifier.

    Images are N x 1 x H x W in [0, 1], the size the classifier was built for.
    Returns ``{"inception_score", "frechet_distance"}``.
    """
    classifier = classifier or digit_classifier()
    classifier = classifier.cpu().eval()
    images, reference = images.float().cpu(), reference.float().cpu()
    probs = classifier(images).softmax(-1)
    return {
        "inception_score": inception_score(probs),
        "frechet_distance": frechet_distance(classifier.features(images), classifier.features(reference)),
    }

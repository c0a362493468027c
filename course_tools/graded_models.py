"""The grader's measurements of students' trained models (the :class:`~course_utils.checks.Trained` exercises).

Lessons 02, 03 and 04 each save the model they trained (:func:`course_utils.train.save_weights`).
The grader loads the file into its own copy of the architecture (built from the reference solution,
in its own process: nothing the student wrote runs here), measures it on the 90 ``"grading"`` digits
that no lesson loads, and turns the number into credit with the exercise's thresholds:

* ``02_vae``: the importance-weighted negative log-likelihood, K = 1,000, nats per binarised image
  (an upper bound on −log p(x) whatever the encoder: a bad encoder makes it looser, never lower);
* ``03_pixelcnn``: bits per dimension over 17 grey levels (exact: the model's softmaxes are normalised);
* ``04_gan``: the Fréchet distance of 1,000 samples to the grading digits, on the course's digit classifier.

Every measurement draws its noise from a fixed seed, so a file scores the same every time. This is
tooling: it is not part of the student library.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from course_utils import data, metrics
from course_utils.checks import Trained
from course_utils.train import WeightsError, load_weights

__all__ = [
    "GradingData",
    "importance_weighted_nll",
    "pixel_bits_per_dim",
    "sample_frechet_distance",
    "MEASURES",
    "measure_weights",
    "grade_weights",
    "grade_weights_isolated",
    "weights_file_for",
    "main",
]

N_SAMPLES_FD = 1000  #: samples a generator draws for its Fréchet distance
K_IWAE = 1000  #: importance samples per image


@dataclass
class GradingData:
    """What the measurements need, made once per batch before any grading thread starts."""

    binary: torch.Tensor = field(default_factory=lambda: data.load("digits", "grading", binarize=True).x)
    images: torch.Tensor = field(default_factory=lambda: data.load("digits", "grading").x)
    _classifier: Any = None

    def classifier(self) -> nn.Module:
        """The course's digit classifier (trained on the training digits on first use, then loaded)."""
        if self._classifier is None:
            self._classifier = metrics.digit_classifier().cpu().eval()
        return self._classifier


@torch.no_grad()
def importance_weighted_nll(model: nn.Module, x: torch.Tensor, samples: int = K_IWAE, seed: int = 0) -> float:
    """−(1/N) Σ_n log (1/K) Σ_k p(x_n|z_k) p(z_k) / q(z_k|x_n), z_k ~ q(z|x_n), in nats per image.

    ``model`` has ``encode(x) -> (mu, log_var)`` and ``decode(z) -> logits`` (Bernoulli pixels).
    """
    noise = torch.Generator().manual_seed(seed)
    mu, log_var = model.encode(x)
    sigma = torch.exp(0.5 * log_var)
    prior = torch.distributions.Normal(0.0, 1.0)
    bounds = []
    for n in range(len(x)):
        eps = torch.randn(samples, mu.shape[1], generator=noise)
        z = mu[n] + sigma[n] * eps
        logits = model.decode(z).reshape(samples, -1)
        target = x[n].reshape(1, -1).expand_as(logits)
        log_likelihood = -F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(1)
        log_q = torch.distributions.Normal(mu[n], sigma[n]).log_prob(z).sum(1)
        log_w = log_likelihood + prior.log_prob(z).sum(1) - log_q
        bounds.append(torch.logsumexp(log_w, 0) - math.log(samples))
    return -float(torch.stack(bounds).mean())


@torch.no_grad()
def pixel_bits_per_dim(model: nn.Module, x: torch.Tensor, levels: int = 17) -> float:
    """Bits per pixel of images in [0, 1] quantised to ``levels`` grey levels.

    ``model(levels)`` gives N x L x H x W logits.
    """
    target = (x * (levels - 1)).round().long()
    logits = model(target)
    if logits.shape != (len(x), levels, *x.shape[-2:]):
        raise ValueError(f"the model gave logits of shape {tuple(logits.shape)}")
    nats = F.cross_entropy(logits, target[:, 0], reduction="none").sum((1, 2))
    return float(nats.mean() / (x[0].numel() * math.log(2)))


@torch.no_grad()
def sample_frechet_distance(
    generator: nn.Module, reference: torch.Tensor, classifier: nn.Module, n: int = N_SAMPLES_FD, seed: int = 0
) -> float:
    """The Fréchet distance of ``n`` samples of ``generator`` (z ~ N(0, I)) to ``reference`` images.

    Measured on the features of ``classifier``.
    """
    z_dim = next(m for m in generator.modules() if isinstance(m, nn.Linear)).in_features
    z = torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))
    samples = generator(z).float()
    if samples.shape[1:] != reference.shape[1:]:
        raise ValueError(f"the generator gave samples of shape {tuple(samples.shape[1:])}")
    return metrics.classifier_scores(samples, reference, classifier)["frechet_distance"]


#: lesson -> its measurement of a loaded model on the grading data
MEASURES: dict[str, Callable[[nn.Module, GradingData], float]] = {
    "02_vae": lambda model, d: importance_weighted_nll(model, d.binary),
    "03_pixelcnn": lambda model, d: pixel_bits_per_dim(model, d.images),
    "04_gan": lambda model, d: sample_frechet_distance(model, d.images, d.classifier()),
}


def weights_file_for(notebook: Path) -> Path:
    """Where a submission's weights are: ``STUDENT.weights.pt`` beside ``STUDENT.ipynb``."""
    return notebook.with_name(f"{notebook.stem}.weights.pt")


def measure_weights(path: Path, spec: Trained, reference: dict, grading: GradingData) -> float:
    """Load ``path`` into the reference's architecture and measure it on the grading digits.

    Raises :class:`~course_utils.train.WeightsError` for a file that cannot be graded (missing,
    unusable, or trained in fast mode); a measurement that fails raises its own error.
    """
    if not path.is_file():
        raise WeightsError(
            f"no weights file: hand in {spec.file}, which the notebook writes beside itself after "
            "training, together with the notebook"
        )
    model = eval(spec.build, dict(reference))  # noqa: S307 - the reference solution's class, trusted
    meta = load_weights(path, model, spec.lesson)
    if meta.get("fast") is not False:
        raise WeightsError(
            "the weights were trained in fast mode (COURSE_FAST); only the lecture configuration is graded"
        )
    return MEASURES[spec.lesson](model.eval(), grading)


def grade_weights(path: Path, spec: Trained, reference: dict, grading: GradingData) -> tuple[float, str]:
    """The fraction of an exercise's points a weights file earns, and the sentence that says why.

    Never raises: a missing, oversized, corrupt, hostile (``weights_only`` refuses anything but
    tensors and plain values), wrong-shaped, non-finite or fast-mode file earns 0 and is named.
    """
    try:
        value = measure_weights(path, spec, reference, grading)
    except WeightsError as err:
        return 0.0, str(err)
    except Exception as err:  # noqa: BLE001 - the batch never stops for one file
        return 0.0, f"the weights could not be measured ({type(err).__name__}: {str(err)[:160]})"
    return spec.credit(value), f"{spec.metric}: {value:.3f} ({spec.terms()})"


def grade_weights_isolated(
    path: Path, spec: Trained, root: Path, *, memory_mb: int = 3072, timeout: float = 300.0
) -> tuple[float, str]:
    """:func:`grade_weights` in a child process with an address-space limit and a time limit.

    The file comes from a student: whatever it does to torch's reader (a crash, a zip that expands
    to gigabytes) ends that process, not the grader's batch, and earns 0 with the reason. The child
    builds the reference architecture itself and loads the grading digits and classifier from the
    cache the parent warmed.
    """
    from .grading import _limits

    command = [
        sys.executable,
        "-m",
        "course_tools.graded_models",
        json.dumps(dataclasses.asdict(spec)),
        str(path),
        str(root),
    ]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=_limits(memory_mb),
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
    except subprocess.TimeoutExpired:
        return 0.0, f"measuring the weights took longer than {timeout:g} s"
    lines = done.stdout.strip().splitlines()
    try:
        verdict = json.loads(lines[-1])
        return float(verdict["fraction"]), str(verdict["message"])
    except (IndexError, ValueError, KeyError, TypeError):
        tail = " ".join(done.stderr.strip().splitlines()[-1:])[:160]
        return 0.0, (
            f"measuring the weights failed (the process ended with code {done.returncode}: a crash or the "
            f"memory limit{': ' + tail if tail else ''})"
        )


def main(argv: list[str] | None = None) -> int:
    """``python -m course_tools.graded_models SPEC FILE ROOT``: print ``{"fraction", "message"}`` as JSON.

    ``SPEC`` is the exercise's :class:`~course_utils.checks.Trained` as JSON (the grader's own, passed
    whole, so the child measures exactly what the parent would).
    """
    import contextlib

    from .grading import reference_namespace

    spec_json, path, root = (sys.argv[1:] if argv is None else argv)[:3]
    spec = Trained(**json.loads(spec_json))
    with contextlib.redirect_stdout(sys.stderr):  # only the verdict goes to stdout
        fraction, message = grade_weights(Path(path), spec, reference_namespace(spec.lesson, Path(root)), GradingData())
    print(json.dumps({"fraction": fraction, "message": message}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

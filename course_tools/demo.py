"""The lecture dashboard: ``course demo`` (``make demo``) serves ``dashboard/lecture.ipynb`` with Voila.

The page holds three widgets on trained models: lesson 02's latent perturbation and interpolation
on its VAE, and lesson 04's mode-collapse explorer on its GAN on the ring; and, once a run on the
MNIST track has left their checkpoints, the 28x28 VAE's perturbation and the 28x28 DCGAN's
interpolation (loaded only: the dashboard never trains or downloads them). The models are built
by the lessons' own cells (:func:`course_tools.build.lesson_namespace`), so the dashboard shows
what the students read. The VAE is loaded from the checkpoint that ``make run`` made; the GAN's
training snapshots are cached beside it. What is missing is trained on first use, by
``course demo`` in the terminal with a progress bar, before Voila starts (Voila shows a cell's
outputs only when the cell ends, so a progress bar inside the page would never be seen moving).
Voila runs the notebook in a fresh kernel for each visitor; tracebacks are shown, since the
server listens on 127.0.0.1 only, for the lecturer's own browser.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import Callable

import torch

from course_utils import data, train
from course_utils.device import get_device
from course_utils.widgets import Snapshot

from .build import lesson_namespace, repo_root

__all__ = ["LectureModels", "VAEView", "GANView", "lecture_models", "voila_command", "main"]

VAE_CELLS = ["ex-reparameterize", "ex-gaussian-kl", "ex-negative-elbo", "ex-vae-model", "lib-vae-training"]
GAN_CELLS = ["ex-discriminator-loss", "ex-generator-loss", "ex-gan-step", "lib-gan-2d-run"]
DCGAN_CELLS = ["ex-discriminator-loss", "ex-generator-loss", "ex-gan-step", "lib-dcgan-models", "lib-dcgan-training"]


@dataclass
class LectureModels:
    """What the dashboard's three widgets need."""

    decode: Callable[[torch.Tensor], torch.Tensor]  #: the VAE's E[x|z]: codes -> images in [0, 1]
    codes: torch.Tensor  #: mu_phi(x) of the held-out digits
    images: torch.Tensor  #: the held-out digits (binarised)
    labels: list[str]
    snapshots: list[Snapshot]  #: the ring GAN's training, for the explorer
    ring: torch.Tensor  #: data points of the ring, drawn behind
    extent: tuple[float, float, float, float]
    summary: str  #: one line per model: how it was trained and how good it is
    mnist: VAEView | None = None  #: lesson 02's 28x28 VAE, when a run on the MNIST track left its checkpoint
    mnist_gan: GANView | None = None  #: lesson 04's 28x28 DCGAN, likewise


@dataclass
class VAEView:
    """A VAE's decoder and the codes of held-out images: what the perturbation widget shows."""

    decode: Callable[[torch.Tensor], torch.Tensor]
    codes: torch.Tensor
    images: torch.Tensor
    labels: list[str]

    def perturbation(self, scale: int = 8):
        """The latent perturbation widget on these images (28x28 images need a smaller scale than 8x8)."""
        from course_utils.widgets import LatentPerturbation

        return LatentPerturbation(self.decode, self.codes, images=self.images, labels=self.labels, scale=scale)


@dataclass
class GANView:
    """A generator and prior codes: what the interpolation widget walks between."""

    generate: Callable[[torch.Tensor], torch.Tensor]
    codes: torch.Tensor

    def interpolation(self, scale: int = 3):
        """The interpolation widget between these codes (28x28 images need a smaller scale than 8x8)."""
        from course_utils.widgets import Interpolation

        return Interpolation(self.generate, self.codes, steps=9, start=0, end=5, scale=scale)


MNIST_K = 16  #: the code size lesson 02 uses on the MNIST track


def _mnist_vae() -> tuple[VAEView | None, str]:
    """Lesson 02's VAE of the MNIST track, if its checkpoint exists (nothing is trained or downloaded here)."""
    try:
        train_set = data.mnist_images("train", binarize=True, online=False)
        test_set = data.mnist_images("test", binarize=True, online=False)
    except (data.DatasetUnavailable, ImportError) as err:
        return None, f"28x28 VAE: no MNIST images on this machine ({err})"
    lesson = lesson_namespace("02_vae", VAE_CELLS, constants={"train_set": train_set}, quiet=True)
    try:
        with train.cached_only():
            vae, history = lesson["trained_vae"](MNIST_K)
    except train.NotCached:
        return None, "28x28 VAE: no checkpoint yet (run lesson 02 with COURSE_TRACK=mnist, e.g. `make run-mnist`)"
    with torch.no_grad():
        codes = vae.encode(test_set.x.to(get_device()))[0].cpu()
    view = VAEView(vae.mean_image, codes, test_set.x, [str(int(y)) for y in test_set.y])
    return view, f"28x28 VAE (k = {MNIST_K}, {train_set.name}): {history.seconds:.0f} s of training, loaded"


def _mnist_dcgan() -> tuple[GANView | None, str]:
    """Lesson 04's DCGAN of the MNIST track, if its checkpoint exists (nothing is trained or downloaded here)."""
    try:
        train_set = data.mnist_images("train", online=False)
    except (data.DatasetUnavailable, ImportError) as err:
        return None, f"28x28 DCGAN: no MNIST images on this machine ({err})"
    lesson = lesson_namespace("04_gan", DCGAN_CELLS, constants={"digits": train_set}, quiet=True)
    try:
        with train.cached_only():
            G, _, history = lesson["trained_gan"](conditional=False)
    except train.NotCached:
        return None, "28x28 DCGAN: no checkpoint yet (run lesson 04 with COURSE_TRACK=mnist, e.g. `make run-mnist`)"
    device = get_device()
    codes = torch.randn(16, lesson["Z_IMAGE"], generator=torch.Generator().manual_seed(7))  # 16 draws of the prior

    def generate(z: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return G(z.to(device)).cpu()

    return GANView(generate, codes), f"28x28 DCGAN ({train_set.name}): {history.seconds:.0f} s of training, loaded"


def _ring_gan() -> tuple[list[Snapshot], str, tuple[float, float, float, float]]:
    """Lesson 04's baseline GAN on the ring: its snapshots, from the cache that lesson's run filled, or trained now."""
    lesson = lesson_namespace("04_gan", GAN_CELLS, quiet=True)
    run = lesson["run_2d"]("ring", "GAN")  # gan2d.train_2d caches the run, keyed by the recipe and the code
    where = "loaded from the cache" if run.cached else "trained now"
    summary = f"GAN on the ring: trained in {run.seconds:.0f} s ({where}); after training {run.coverage}"
    return run.snapshots, summary, data.load("ring").extent


def lecture_models() -> LectureModels:
    """The dashboard's models: lesson 02's VAE (k = 8) and lesson 04's GAN on the ring.

    Loaded from the checkpoint folder (``$COURSE_CHECKPOINT_DIR``) when ``make run`` or an earlier
    ``course demo`` put them there, else trained now (about 15 s and 10 s on a laptop CPU).
    """
    device = get_device()
    vae_lesson = lesson_namespace(
        "02_vae", VAE_CELLS, constants={"train_set": data.load("digits", "train", binarize=True)}, quiet=True
    )
    vae, history = vae_lesson["trained_vae"](8)
    test_set = data.load("digits", "test", binarize=True)
    with torch.no_grad():
        codes = vae.encode(test_set.x.to(device))[0].cpu()
    snapshots, gan_summary, extent = _ring_gan()
    mnist, mnist_summary = _mnist_vae()
    mnist_gan, mnist_gan_summary = _mnist_dcgan()
    return LectureModels(
        decode=vae.mean_image,
        codes=codes,
        images=test_set.x,
        labels=[str(int(y)) for y in test_set.y],
        snapshots=snapshots,
        ring=data.load("ring", n=2000, seed=0).x,
        extent=extent,
        summary=f"VAE (k = 8): {history.seconds:.0f} s of training, checkpoint in {train.checkpoint_dir()}\n"
        f"{gan_summary}\n{mnist_summary}\n{mnist_gan_summary}",
        mnist=mnist,
        mnist_gan=mnist_gan,
    )


def voila_command(port: int = 8866, token: str | None = None, open_browser: bool = True) -> list[str]:
    """The Voila command line that serves the dashboard on 127.0.0.1:``port``."""
    notebook = repo_root() / "dashboard" / "lecture.ipynb"
    if not notebook.exists():
        raise FileNotFoundError(f"{notebook} is missing: run `make build` to generate it from dashboard/lecture.py")
    command = [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        "--Voila.ip=127.0.0.1",
        f"--port={port}",
        "--Voila.port_retries=0",
        "--progressive_rendering=True",
        "--show_tracebacks=True",
    ]
    if token is not None:
        command.append(f"--token={token}")
    if not open_browser:
        command.append("--no-browser")
    return command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course demo", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8866, help="the port on 127.0.0.1 (default 8866)")
    parser.add_argument("--token", default=None, help="ask visitors for this token (default: none, loopback only)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    args = parser.parse_args(argv)
    try:
        command = voila_command(args.port, args.token, not args.no_browser)
    except FileNotFoundError as err:
        print(f"course demo: {err}", file=sys.stderr)
        return 2
    print("preparing the dashboard's models (trained now if no checkpoint has them) ...", flush=True)
    print(lecture_models().summary, flush=True)
    print(f"starting Voila for the lecture dashboard on port {args.port} (Ctrl-C stops it) ...", flush=True)
    os.execv(command[0], command)  # Voila takes over this process: Ctrl-C stops it directly
    return 0  # not reached

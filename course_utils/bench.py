"""Speed and quality of each lesson's lecture configuration: ``python -m course_utils.bench``.

It executes a lesson's solution notebook as a lecturer would (``course run``), training every model
from scratch (an empty checkpoint folder, so the time is honest), then prints the wall
time and the lesson's quality figures beside the published reference numbers. Those references
come from other data sets and budgets (MNIST, full-length training); they say where the field
stands, not what a CPU lecture run on 8x8 digits should reach.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch

from .build import build_all, lesson_sources, repo_root
from .run import execute_lesson

__all__ = ["REFERENCES", "main"]

REFERENCES: dict[str, list[str]] = {
    "01_autoencoder": [
        "Hinton & Salakhutdinov 2006 (Science), MNIST, 30-d code: squared error per test image "
        "3.00 for a deep autoencoder, 8.01 logistic PCA, 13.87 PCA",
        "Lesson figure: squared error per held-out 8x8 digit (64 pixels in [0, 1]) against PCA "
        "with the same number of components, computed here",
    ],
    "02_vae": [
        "Burda et al. 2016 (IWAE), dynamically binarised MNIST, one stochastic layer, full-length training: "
        "test NLL 86.76 nats for a VAE, 84.78 for an IWAE (k=50)",
        "Lesson figure: held-out NLL bound (importance-weighted, K=1000) on 8x8 digits binarised at 0.5 "
        "(64 binary pixels), beside an independent-pixel Bernoulli model computed here; MNIST is not run: "
        "its training images are not shipped and the bench downloads nothing",
    ],
    "03_pixelcnn": [
        "van den Oord et al. 2016 (Pixel Recurrent Neural Networks), binarised MNIST: PixelCNN 81.30 nats "
        "(Gated PixelCNN, CIFAR-10: 3.03 bits/dim)",
        "Lesson figure: held-out bits/dim on 8x8 digits with 17 grey levels, beside baselines computed here "
        "(uniform 4.087, independent per-pixel categorical, a 10-component Gaussian mixture on dequantised pixels), "
        "and sampling speed of the gated model on the CPU (batch of 100); binarised MNIST is not run (no training "
        "images are shipped, and the bench downloads nothing)",
    ],
    "04_gan": [
        "VEEGAN (Srivastava et al. 2017), 2,500 samples: GAN 1/8 modes with 99.3% high quality on the ring, "
        "3.3/25 with 0.5% on the grid; VEEGAN 8/8 with 52.9%, 24.6/25 with 40%",
        "PacGAN (Lin et al. 2018): PacGAN4 7.8/8 modes with 95.9% high quality (ring), 24.8/25 with 93.6% (grid)",
        "Lesson figures: the same metrics for a GAN and for minibatch discrimination (same networks, seed and "
        "budget), and inception-style score / Fréchet distance on the project's own digit classifier for the "
        "DCGAN, the conditional DCGAN and real training digits (comparable only with this classifier)",
    ],
    "05_wgan": [
        "Aim of the course: all 8 and all 25 modes with at least 90% high-quality samples within one CPU minute",
        "VEEGAN (Srivastava et al. 2017): 8/8 modes with 52.9% high quality (ring), 24.6/25 with 40% (grid); "
        "PacGAN4 (Lin et al. 2018): 7.8/8 with 95.9%, 24.8/25 with 93.6%",
        "Lesson figures: GAN, WGAN with clipping and WGAN-GP, same networks and generator steps (the WGANs take 3 "
        "critic steps per generator step), wall time each; WGAN-GP on digits scored with lesson 04's classifier",
    ],
    "06_cyclegan": [
        "CyCADA (Hoffman et al. 2018), pixel-level adaptation: 95.6% (MNIST -> USPS), 96.4% (USPS -> MNIST)",
        "Lesson figures: handwritten 8x8 digits (X) and digits typeset from matplotlib's fonts (Y), unpaired; "
        "translation accuracy read by a classifier trained on the target domain, beside the untranslated baseline "
        "and the adversarial-only ablation; cycle L1 per pixel; pix2pix on a paired super-resolution task",
    ],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course bench", description=__doc__.split("\n")[0])
    parser.add_argument("--lesson", action="append", help="lesson id (repeatable; default: all)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--fast", action="store_true", help="fast mode budgets (a smoke test, not a benchmark)")
    parser.add_argument("--out", type=Path, default=Path("build") / "bench")
    args = parser.parse_args(argv)
    root = repo_root()
    build_all(root)
    lessons = args.lesson or [p.stem for p in lesson_sources(root)]
    machine = {
        "python": platform.python_version(), "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available(),
        "platform": platform.platform(),
    }
    rows = []
    for lesson in lessons:
        with tempfile.TemporaryDirectory(prefix="bench-checkpoints-") as checkpoints:  # train from scratch
            run = execute_lesson(lesson, root=root, out_dir=args.out, fast=args.fast, checkpoints=checkpoints)
        row = asdict(run)
        row.update(references=REFERENCES.get(lesson, []), fast_mode=args.fast)
        rows.append(row)
        if not args.json:
            print(f"{lesson}: {'ok' if run.ok else 'FAILED: ' + run.error}  wall {run.seconds:.1f} s"
                  f"{'  (fast mode)' if args.fast else ''}")
            print(f"  {run.summary}")
            for key, value in run.metrics.items():
                print(f"    {key:<28} {value:.4g}")
            for ref in REFERENCES.get(lesson, []):
                print(f"  reference: {ref}")
    if args.json:
        print(json.dumps({"machine": machine, "lessons": rows}, indent=1))
    else:
        print(f"machine: {machine}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

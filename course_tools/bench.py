"""Speed and quality of each lesson's lecture configuration: ``python -m course_tools.bench``.

It executes a lesson's solution notebook as a lecturer would (``course run``), training every model
from scratch (an empty checkpoint folder, so the time is honest), then prints the wall
time and the lesson's quality figures beside the published reference numbers. Those references
come from other data sets and budgets (MNIST, full-length training); they say where the field
stands, not what a CPU lecture run on 8x8 digits should reach.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch

from .build import build_all, lesson_sources, repo_root
from .run import LessonRun, execute_lesson, lessons_for_track

__all__ = ["REFERENCES", "reference_workload", "graded_metrics", "bench_lesson", "format_seed_table", "main"]

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
        "(64 binary pixels), beside an independent-pixel Bernoulli model computed here",
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
        "Mescheder et al. 2018 (Which Training Methods for GANs do actually Converge?): the R1 penalty makes "
        "training converge locally where unregularised GANs circle the equilibrium",
        "Lesson figures: the same metrics for a GAN (gan), for PacGAN2 (pacgan) and for the GAN with the R1 "
        "penalty (remedy), same networks, recipe, seed and budget (gan2d.RECIPE); inception-style score / Fréchet "
        "distance on the project's own digit classifier for the DCGAN, the conditional DCGAN and real training digits "
        "(comparable only with this classifier)",
    ],
    "05_wgan": [
        "Aim of the course: all 8 and all 25 modes with at least 90% high-quality samples within one CPU minute",
        "VEEGAN (Srivastava et al. 2017): 8/8 modes with 52.9% high quality (ring), 24.6/25 with 40% (grid); "
        "PacGAN4 (Lin et al. 2018): 7.8/8 with 95.9%, 24.8/25 with 93.6%",
        "Lesson figures: GAN (lesson 04's baseline, the same numbers), WGAN with clipping and WGAN-GP (lambda 0.1, "
        "as in the released toy code of Gulrajani et al.), same networks, recipe and generator steps (the WGANs take "
        "2 critic steps per generator step), wall time each; WGAN-GP on digits scored with lesson 04's classifier",
    ],
    "06_cyclegan": [
        "CyCADA (Hoffman et al. 2018), pixel-level adaptation: 95.6% (MNIST -> USPS), 96.4% (USPS -> MNIST)",
        "Lesson figures: handwritten 8x8 digits (X) and digits typeset from matplotlib's fonts (Y), unpaired; "
        "translation accuracy read by a classifier trained on the target domain (and by a 5-nearest-neighbour vote), "
        "beside the untranslated baseline; CycleGAN + CyCADA's semantic term (frozen MLP readers, not the judges) "
        "as acc_*, CycleGAN alone and the ablations without the cycle term, without the identity term and without "
        "both; cycle L1 per pixel; pix2pix on a paired super-resolution task (L2, L1, cGAN only, L1 + cGAN)",
    ],
}


#: what a lesson's figures are on the 28x28 track (``--tracks mnist``), beside the published references above
MNIST_TRACK: dict[str, str] = {
    "01_autoencoder": "Lesson figure, mnist track: squared error per held-out 28x28 image (784 pixels in [0, 1]) "
    "against PCA, on mnist_5k offline (4,000 training / 1,000 held-out images) or the full set where cached",
    "04_gan": "Lesson figures, mnist track: the 2D sections as on the digits; the DCGAN and the conditional DCGAN "
    "at 28x28 (7 -> 14 -> 28), scored by a classifier of the same architecture trained on the track's training "
    "images (comparable only with it), real training images beside them",
    "05_wgan": "Lesson figures, mnist track: the 2D sections as on the digits; WGAN-GP on 28x28 images "
    "(lesson 04's DCGAN pair, 7 -> 14 -> 28), scored by the same track classifier as lesson 04's DCGAN, real "
    "training images beside them",
    "06_cyclegan": "Lesson figures, mnist track: translation accuracy between handwritten 28x28 MNIST and digits "
    "typeset at 28x28 (fonts_28: anti-aliased, a 20x20 box centred in 28x28, as MNIST's were made), read by "
    "classifiers trained on each domain",
    "02_vae": "Lesson figure, mnist track: held-out NLL bound (importance-weighted, K=1000), k=16, MNIST statically "
    "binarised at 0.5 (thresholding is easier to model than Burda et al.'s dynamic binarisation), trained on "
    "mnist_5k's 4,000 images offline (the references use 60,000)",
}


def references(lesson: str, track: str) -> list[str]:
    """The reference lines printed beside a lesson's row on a track."""
    return REFERENCES.get(lesson, []) + ([MNIST_TRACK[lesson]] if track == "mnist" and lesson in MNIST_TRACK else [])


def reference_workload(repeats: int = 3) -> float:
    """Seconds for a fixed torch workload (convolutions and matrix products), the best of ``repeats``.

    The same computation on every machine, run on the thread count the lessons use (torch's
    default), so a lesson's wall time divided by it (``wall_ratio``) compares machines that differ
    2-4x in speed from one day to the next.
    """
    g = torch.Generator().manual_seed(0)
    images = torch.randn(64, 32, 16, 16, generator=g)
    kernels = torch.randn(32, 32, 3, 3, generator=g) / 17
    a, b = torch.randn(384, 384, generator=g), torch.randn(384, 384, generator=g) / 20
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        x = images
        for _ in range(320):
            x = torch.tanh(torch.nn.functional.conv2d(x, kernels, padding=1))
        m = a
        for _ in range(320):
            m = torch.tanh(m @ b)
        float(x.sum() + m.sum())
        best = min(best, time.perf_counter() - start)
    return best


def graded_metrics(lesson: str, root: Path, since: float) -> dict[str, float]:
    """What the grader gives the weights this run saved (lessons with trained-model exercises).

    For each ``TRAINED`` exercise: the measured value on the grading digits (``graded <id>``) and the
    fraction of its points (``graded <id> credit``), read from ``solutions/<lesson>.weights.pt`` if
    this run wrote it (modified after ``since``).
    """
    from .graded_models import GradingData, measure_weights
    from .grading import _checks_module, reference_namespace

    specs = getattr(_checks_module(lesson), "TRAINED", {})
    out: dict[str, float] = {}
    if not specs:
        return out
    reference, grading = reference_namespace(lesson, root), GradingData()
    for grade_id, spec in specs.items():
        path = root / "solutions" / spec.file
        if not path.is_file() or path.stat().st_mtime < since:
            continue
        value = measure_weights(path, spec, reference, grading)
        name = grade_id.removeprefix("check-")
        out[f"graded {name}"] = round(value, 4)
        out[f"graded {name} credit"] = round(spec.credit(value), 4)
    return out


def _from_scratch(
    lesson: str, *, root: Path, out: Path, fast: bool, seed: int | None, track: str = "digits"
) -> tuple[LessonRun, float]:
    """Time the reference workload, then run ``lesson`` from an empty checkpoint folder.

    Returns its run and the reference workload's seconds. The grader's measurement of the saved model
    is added on the digits track only (the grader scores that track's weights).
    """
    reference = reference_workload()
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-checkpoints-") as checkpoints:  # train from scratch
        run = execute_lesson(
            lesson,
            root=root,
            out_dir=out,
            fast=fast,
            checkpoints=checkpoints,
            seed=seed,
            **({"track": track} if track != "digits" else {}),
        )
    if run.ok and not fast and track == "digits":
        with contextlib.redirect_stdout(sys.stderr):  # the classifier's "loaded" line must not reach --json's output
            run.metrics.update(graded_metrics(lesson, root, start))
    return run, reference


def bench_lesson(
    lesson: str, seeds: list[int], *, root: Path, out: Path, fast: bool = False, track: str = "digits"
) -> dict:
    """Run the lecture configuration of ``lesson`` once per seed, each from an empty checkpoint folder.

    Returns ``{"seeds", "wall_s", "reference_s", "wall_ratio", "ok", "errors", "metrics": {name: [per seed]},
    "summaries"}``; ``wall_ratio`` is each run's wall time over the reference workload timed just before it.
    """
    entry: dict = {
        "seeds": list(seeds),
        "wall_s": [],
        "reference_s": [],
        "wall_ratio": [],
        "ok": [],
        "errors": [],
        "metrics": {},
        "summaries": [],
    }
    for k, seed in enumerate(seeds):
        run, reference = _from_scratch(lesson, root=root, out=out / f"seed{seed}", fast=fast, seed=seed, track=track)
        entry["wall_s"].append(round(run.seconds, 2))
        entry["reference_s"].append(round(reference, 4))
        entry["wall_ratio"].append(round(run.seconds / reference, 1))
        entry["ok"].append(run.ok)
        entry["errors"].append(run.error)
        entry["summaries"].append(run.summary)
        for name, value in run.metrics.items():
            entry["metrics"].setdefault(name, [None] * k).append(value)
        for values in entry["metrics"].values():  # a metric a run did not report stays None for it
            values.extend([None] * (k + 1 - len(values)))
        print(
            f"{lesson} seed {seed}: {'ok' if run.ok else 'FAILED: ' + run.error}, wall {run.seconds:.1f} s "
            f"({run.seconds / reference:.0f} x the reference workload of {reference:.2f} s)",
            file=sys.stderr,
            flush=True,
        )
    return entry


def format_seed_table(lesson: str, entry: dict) -> str:
    """Every metric for every seed, with the worst (minimum) and the median; wall time first."""
    seeds = entry["seeds"]
    head = f"{'':34s}" + "".join(f"{'seed ' + str(s):>11s}" for s in seeds) + f"{'min':>11s}{'median':>11s}"
    rows = [f"{lesson}", head]

    def row(name: str, values: list) -> str:
        present = [v for v in values if v is not None]
        cells = "".join(f"{v:11.4g}" if v is not None else f"{'-':>11s}" for v in values)
        tail = f"{min(present):11.4g}{statistics.median(present):11.4g}" if present else ""
        return f"  {name:32s}{cells}{tail}"

    rows.append(row("wall_s", entry["wall_s"]))
    rows.append(row("wall_ratio", entry["wall_ratio"]))
    for name, values in entry["metrics"].items():
        rows.append(row(name, values))
    for seed, ok, error in zip(seeds, entry["ok"], entry["errors"]):
        if not ok:
            rows.append(f"  seed {seed} FAILED: {error}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course bench", description=__doc__.split("\n")[0])
    parser.add_argument("--lesson", action="append", help="lesson id (repeatable; default: all)")
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=None,
        help="run each lesson once per lesson seed (COURSE_SEED), from scratch; report every "
        "metric per seed with its minimum and median",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--fast", action="store_true", help="fast mode budgets (a smoke test, not a benchmark)")
    parser.add_argument("--out", type=Path, default=Path("build") / "bench")
    parser.add_argument(
        "--tracks",
        nargs="+",
        choices=("digits", "mnist"),
        default=["digits"],
        help="the tracks to run (COURSE_TRACK; default digits): a lesson that does not read the track is "
        "listed as such on the mnist track",
    )
    args = parser.parse_args(argv)
    root = repo_root()
    build_all(root)
    lessons = args.lesson or [p.stem for p in lesson_sources(root)]
    machine = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
        "platform": platform.platform(),
    }
    on = {track: lessons_for_track(lessons, track, root) for track in args.tracks}
    runs = [(lesson, track) for lesson in lessons for track in args.tracks if lesson in on[track]]

    def label(lesson: str, track: str) -> str:
        return lesson if track == "digits" else f"{lesson} (mnist track)"

    if args.seeds is not None:
        report = {}
        for lesson, track in runs:
            out = args.out / (lesson if track == "digits" else f"{lesson}-mnist")
            entry = bench_lesson(lesson, args.seeds, root=root, out=out, fast=args.fast, track=track)
            entry.update(references=references(lesson, track), machine=machine, fast_mode=args.fast, track=track)
            report[label(lesson, track)] = entry
            if not args.json:
                print(format_seed_table(label(lesson, track), entry))
                for ref in references(lesson, track):
                    print(f"  reference: {ref}")
                print()
        if args.json:
            print(json.dumps(report, indent=1))
        return 0 if all(all(e["ok"]) for e in report.values()) else 1
    rows = []
    for lesson, track in runs:
        out = args.out if track == "digits" else args.out / "mnist"
        run, reference = _from_scratch(lesson, root=root, out=out, fast=args.fast, seed=None, track=track)
        row = asdict(run)
        row.update(
            references=references(lesson, track),
            fast_mode=args.fast,
            reference_s=reference,
            wall_ratio=run.seconds / reference,
            track=track,
        )
        rows.append(row)
        if not args.json:
            print(
                f"{label(lesson, track)}: {'ok' if run.ok else 'FAILED: ' + run.error}  wall {run.seconds:.1f} s "
                f"({run.seconds / reference:.0f} x the reference workload){'  (fast mode)' if args.fast else ''}"
            )
            print(f"  {run.summary}")
            for key, value in run.metrics.items():
                print(f"    {key:<28} {value:.4g}")
            for ref in references(lesson, track):
                print(f"  reference: {ref}")
    if args.json:
        print(json.dumps({"machine": machine, "lessons": rows}, indent=1))
    else:
        print(f"machine: {machine}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

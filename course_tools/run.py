"""Execute the solution notebooks headless: ``course run`` (``make run``).

Each notebook runs in a fresh kernel from the ``solutions/`` folder, in the lecture configuration
(or fast mode with ``--fast``). The executed notebook and every figure it drew (as PNG) are written
to the output folder, and a table gives each lesson's wall time and quality figure.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import nbformat

from .build import build_all, lesson_sources, repo_root

__all__ = ["LessonRun", "execute_lesson", "format_table", "main"]


@dataclass
class LessonRun:
    """What one headless execution of a lesson produced."""

    lesson: str
    seconds: float
    ok: bool
    summary: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    error: str = ""
    notebook: str = ""
    figures: list[str] = field(default_factory=list)
    checkpoints: str | None = None  #: the checkpoint folder used (None: the usual cache)


@contextmanager
def _environ(**values: str | None) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _save_figures(nb: nbformat.NotebookNode, folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("fig-*.png"):
        old.unlink()
    saved = []
    for index, cell in enumerate(nb.cells):
        for k, output in enumerate(cell.get("outputs", [])):
            png = output.get("data", {}).get("image/png")
            if png:
                path = folder / f"fig-{index:03d}-{k}.png"
                path.write_bytes(base64.b64decode(png))
                saved.append(str(path))
    return saved


def execute_lesson(
    lesson: str,
    *,
    root: Path | None = None,
    out_dir: Path | None = None,
    fast: bool = False,
    timeout_cell: int = 900,
    checkpoints: str | None = None,
    seed: int | None = None,
    track: str | None = None,
) -> LessonRun:
    """Run ``solutions/<lesson>.ipynb`` top to bottom in a new kernel and collect its results.

    ``checkpoints`` points ``COURSE_CHECKPOINT_DIR`` at another folder (an empty one trains
    from scratch); by default the usual cache is used, so a second run loads its models.
    ``seed`` sets ``COURSE_SEED`` for the kernel: every seed the lesson draws is shifted.
    ``track`` sets ``COURSE_TRACK`` (``digits`` or ``mnist``) for the kernel.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    root = root or repo_root()
    path = root / "solutions" / f"{lesson}.ipynb"
    nb = nbformat.read(path, as_version=4)
    extra = {"COURSE_CHECKPOINT_DIR": checkpoints} if checkpoints else {}
    if seed is not None:
        extra["COURSE_SEED"] = str(int(seed))
    if track is not None:
        extra["COURSE_TRACK"] = track
    with (
        tempfile.TemporaryDirectory() as results,
        _environ(COURSE_FAST="1" if fast else None, COURSE_RESULTS_DIR=results, MPLBACKEND=None, **extra),
    ):
        from traitlets.config import Config

        config = Config()  # the kernel talks to this process over Unix sockets, not over TCP
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = str(Path(results) / "kernel")
        client = NotebookClient(
            nb,
            timeout=timeout_cell,
            kernel_name="python3",
            config=config,
            resources={"metadata": {"path": str(root / "solutions")}},
        )
        start = time.perf_counter()
        error = ""
        try:
            client.execute()
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
            error = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        seconds = time.perf_counter() - start
        result_file = Path(results) / f"{lesson}.json"
        saved = json.loads(result_file.read_text()) if result_file.exists() else {}
    run = LessonRun(
        lesson, seconds, not error, saved.get("summary", ""), saved.get("metrics", {}), error, checkpoints=checkpoints
    )
    if not error and not saved:
        run.ok, run.error = False, "the notebook never called course_utils.results.record(...)"
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        executed = out_dir / f"{lesson}.ipynb"
        nbformat.write(nb, executed)
        run.notebook = str(executed)
        run.figures = _save_figures(nb, out_dir / lesson)
    return run


def on_track(lesson: str, root: Path) -> bool:
    """Whether a lesson reads ``COURSE_TRACK`` (its images come from ``data.track_images``)."""
    return "data.track_images(" in (root / "solutions" / f"{lesson}.py").read_text(encoding="utf-8")


def lessons_for_track(lessons: list[str], track: str | None, root: Path) -> list[str]:
    """The lessons to run on ``track``: all on the digits; on another, those that read it (the rest are named)."""
    if track in (None, "digits"):
        return lessons
    skipped = [lesson for lesson in lessons if not on_track(lesson, root)]
    if skipped:
        print(f"the {track} track: {', '.join(skipped)} do not read the track yet, and are not run", file=sys.stderr)
    return [lesson for lesson in lessons if lesson not in skipped]


def format_table(runs: list[LessonRun]) -> str:
    """One row per lesson: status, wall time, quality figure."""
    rows = [f"{'lesson':<16} {'status':<6} {'wall s':>7}  quality"]
    for r in runs:
        rows.append(f"{r.lesson:<16} {'ok' if r.ok else 'FAILED':<6} {r.seconds:7.1f}  {r.summary or r.error}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course run", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--lesson", action="append", help="a lesson id such as 01_autoencoder (repeatable; default: all)"
    )
    parser.add_argument("--fast", action="store_true", help="fast mode (COURSE_FAST=1): tiny budgets, for smoke tests")
    parser.add_argument("--out", type=Path, default=Path("build"), help="where executed notebooks and figures go")
    parser.add_argument("--track", choices=("digits", "mnist"), help="COURSE_TRACK for the lessons (default: digits)")
    args = parser.parse_args(argv)
    root = repo_root()
    build_all(root)
    lessons = lessons_for_track(args.lesson or [p.stem for p in lesson_sources(root)], args.track, root)
    runs = []
    for lesson in lessons:
        print(f"running {lesson} ({'fast mode' if args.fast else 'lecture configuration'}) ...", flush=True)
        runs.append(execute_lesson(lesson, root=root, out_dir=args.out, fast=args.fast, track=args.track))
        r = runs[-1]
        print(
            f"  {r.seconds:.1f} s, {len(r.figures)} figures, notebook at {r.notebook}"
            + ("" if r.ok else f"\n  ERROR: {r.error}"),
            flush=True,
        )
    print()
    print(format_table(runs))
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())

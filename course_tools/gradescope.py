"""The Gradescope autograder of one lesson: ``course gradescope --assignment 02_vae --out DIR``.

Writes ``DIR/autograder-<lesson>.zip``, the file Gradescope's "Configure Autograder" page takes.
At the zip's root, as Gradescope requires:

* ``setup.sh``: run once when Gradescope builds its image (Ubuntu 22.04 with Python 3.10). The
  pinned versions need Python 3.11 or later, so it brings one with ``uv``, then installs the CPU
  build of torch from PyTorch's CPU index and the course package with ``constraints.txt``, with no
  development extras: no CUDA packages, no browser, no test tools.
* ``run_autograder``: grades the notebook in ``/autograder/submission`` (and, in lessons 02-04, the
  ``*.weights.pt`` file the notebook saved after training, uploaded beside it) with ``course grade`` and
  copies its ``results.json`` to ``/autograder/results/``. It always leaves a ``results.json``:
  when there is no notebook or the grader itself fails, one with score 0 and the reason.
* the course package, ``pyproject.toml``, ``constraints.txt``, the lesson's solution source (the
  reference, which the grader seals away from the student's kernel), and the instructor's
  ``hidden_tests.py`` when ``--hidden-tests`` names one. The lesson id is written into
  ``run_autograder``: nothing is edited by hand.

``AUTOGRADER`` (default ``/autograder``) and ``COURSE_PYTHON`` (default the ``.venv`` that
``setup.sh`` makes) let a test run the same script in a simulated layout.
"""

from __future__ import annotations

import argparse
import re
import sys
import zipfile
from pathlib import Path

from .build import lesson_sources, repo_root

__all__ = ["autograder_zip", "main", "SETUP_SH", "RUN_AUTOGRADER"]

SETUP_SH = """#!/usr/bin/env bash
# Gradescope image set-up for {lesson} (written by `course gradescope`): Python 3.11 through uv,
# the CPU build of torch, and the course's two packages with their tested pins: the student library and
# the tooling's `authors` extra (the grader), without the lab, the dashboard or development extras.
set -euo pipefail
cd /autograder/source
apt-get update -qq
apt-get install -y -qq python3-pip util-linux >/dev/null
python3 -m pip install --quiet uv
python3 -m uv venv --python 3.11 .venv
python3 -m uv pip install --python .venv/bin/python --index-url https://download.pytorch.org/whl/cpu "torch=={torch}"
python3 -m uv pip install --python .venv/bin/python -c constraints.txt ".[authors]"
.venv/bin/python -c "import course_tools.grading, torch; print('course package ready, torch', torch.__version__)"
# the digit classifier lesson 04's trained-model exercise is measured with, trained once into the image's cache
.venv/bin/python -c "from course_utils import metrics; metrics.digit_classifier()"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope entry point for {lesson} (written by `course gradescope`). Gradescope unpacks the zip to
# /autograder/source, puts the upload in /autograder/submission and reads
# /autograder/results/results.json, which this script always writes.
set -u
AUTOGRADER="${{AUTOGRADER:-/autograder}}"
SOURCE="$AUTOGRADER/source"
PYTHON="${{COURSE_PYTHON:-$SOURCE/.venv/bin/python}}"
RESULTS="$AUTOGRADER/results/results.json"
mkdir -p "$AUTOGRADER/results"

fail() {{  # score 0 with the reason, written without Python (which may be what failed)
  reason=$(printf '%s' "$1" | tr -d '"\\\\' | tr '\\n\\t' '  ' | cut -c1-600)
  printf '{{"score": 0, "output": "The autograder could not grade this submission: %s", "tests": []}}\\n' \\
    "$reason" > "$RESULTS"
  exit 0
}}

notebook=$(find "$AUTOGRADER/submission" -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' 2>/dev/null \
  | sort | head -n 1)
[ -n "$notebook" ] || fail "no .ipynb file was found in the submission: upload the notebook itself."
work=$(mktemp -d)
mkdir -p "$work/submissions"
cp "$notebook" "$work/submissions/student.ipynb" || fail "the notebook could not be copied."
# the weights a lesson's notebook saved after training (lessons 02-04 grade what the model learned): the
# lesson's own file name first, else any uploaded .pt file (a browser may have renamed it); no zip debris
weights=$(find "$AUTOGRADER/submission" -type f -name '{lesson}.weights.pt' -not -path '*/__MACOSX/*' 2>/dev/null \
  | sort | head -n 1)
[ -n "$weights" ] || weights=$(find "$AUTOGRADER/submission" -type f -name '*.pt' -not -name '._*' \
  -not -path '*/__MACOSX/*' 2>/dev/null | sort | head -n 1)
[ -z "$weights" ] || cp "$weights" "$work/submissions/student.weights.pt" \
  || fail "the weights file could not be copied."
hidden=()
[ -f "$SOURCE/hidden_tests.py" ] && hidden=(--hidden-tests "$SOURCE/hidden_tests.py")
cd "$SOURCE" || fail "the autograder source is missing."
"$PYTHON" -m course_tools grade --assignment {lesson} --submissions "$work/submissions" --out "$work/out" \\
  --workers 1 "${{hidden[@]}}" > "$work/grader.log" 2>&1 \\
  || fail "the grader stopped ($(tail -n 3 "$work/grader.log"))"
[ -f "$work/out/student/results.json" ] || fail "the grader wrote no results ($(tail -n 3 "$work/grader.log"))"
cp "$work/out/student/results.json" "$RESULTS"
"""


def _torch_pin(root: Path) -> str:
    match = re.search(r"^torch==([^\s#]+)", (root / "constraints.txt").read_text(), re.MULTILINE)
    if not match:
        raise ValueError("constraints.txt pins no torch version")
    return match.group(1)


def autograder_zip(lesson: str, out: Path, root: Path | None = None, hidden_tests: Path | None = None) -> Path:
    """Write ``out/autograder-<lesson>.zip`` (see the module's docstring) and return its path."""
    root = root or repo_root()
    lessons = {p.stem for p in lesson_sources(root)}
    if lesson not in lessons:
        raise ValueError(f"unknown lesson {lesson!r}; the lessons are {', '.join(sorted(lessons))}")
    if hidden_tests is not None and not hidden_tests.is_file():
        raise FileNotFoundError(f"no hidden tests at {hidden_tests}")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"autograder-{lesson}.zip"
    scripts = {
        "setup.sh": SETUP_SH.format(lesson=lesson, torch=_torch_pin(root)),
        "run_autograder": RUN_AUTOGRADER.format(lesson=lesson),
    }
    files = [root / "pyproject.toml", root / "constraints.txt", root / "README.md", root / "solutions" / f"{lesson}.py"]
    files += sorted(
        p
        for package in ("course_utils", "course_tools")
        for p in (root / package).rglob("*.py")
        if "__pycache__" not in p.parts
    )
    tmp = path.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in scripts.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o100755 << 16  # executable, as Gradescope runs them
            archive.writestr(info, text)
        for file in files:
            archive.write(file, file.relative_to(root).as_posix())
        if hidden_tests is not None:
            archive.write(hidden_tests, "hidden_tests.py")
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="course gradescope", description="Write a lesson's Gradescope autograder zip."
    )
    parser.add_argument("--assignment", required=True, help="the lesson id, e.g. 02_vae")
    parser.add_argument("--out", type=Path, required=True, help="the folder the zip is written to")
    parser.add_argument("--hidden-tests", type=Path, default=None, help="an instructor's file defining PROBES")
    args = parser.parse_args(argv)
    try:
        path = autograder_zip(args.assignment, args.out, hidden_tests=args.hidden_tests)
    except (ValueError, FileNotFoundError) as err:
        print(f"course gradescope: {err}", file=sys.stderr)
        return 2
    print(f"{path} ({path.stat().st_size / 1e3:.0f} kB): upload it on Gradescope's Configure Autograder page")
    return 0


if __name__ == "__main__":
    sys.exit(main())

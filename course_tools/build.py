"""Build the notebooks from the jupytext sources: ``python -m course_tools.build [--check]``.

For each ``solutions/NN_topic.py`` (jupytext percent format) it writes

* ``solutions/NN_topic.ipynb``: the same cells, no outputs. ``solutions/jupytext.toml`` pairs it
  with the ``.py``, so saving it in JupyterLab writes back into the source.
* ``notebooks/NN_topic.ipynb``: the student's version. Every region between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes :data:`CODE_STUB` (markdown regions
  become "YOUR ANSWER HERE"); the ``### HINT:`` lines just above a code region stay, so the
  student reads the idea beside the stub.

This is exactly what nbgrader's ``generate_assignment`` makes of the solution notebook with the
course's ``nbgrader_config.py`` (which sets the same stub): hints sit outside the regions so that
nbgrader keeps them, and check cells are locked (``editable``/``deletable`` false) as nbgrader's
``LockCells`` locks them.

Cell metadata in the source: ``id="..."`` gives a cell its stable id; ``points=N`` on a code cell
makes it a graded check cell, on a markdown cell with a solution region a written answer graded
by hand. Both notebooks carry nbgrader's metadata (schema 3: ``grade_id``, ``points``,
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

__all__ = [
    "CODE_STUB",
    "TEXT_STUB",
    "CHECK_TAG",
    "INSTALL_ID",
    "INSTALL_CELL",
    "Exercise",
    "BuildError",
    "lesson_sources",
    "dashboard_sources",
    "build_lesson",
    "build_all",
    "exercises",
    "flatten_code",
    "library_sources",
    "lesson_namespace",
    "missing_outputs",
    "record_outputs",
    "hint_texts",
    "main",
]

BEGIN, END, HINT = "### BEGIN SOLUTION", "### END SOLUTION", "### HINT:"
#: a deeper hint (level 2, 3, ...) below an exercise's ``### HINT:`` line: kept out of the notebooks,
#: stored in ``course_utils/_hint_texts.py`` and printed on demand by ``course_utils.hint(cell_id)``
DEEP_HINT = re.compile(r"^\s*### HINT (\d+): (.*)$")
HINT_TEXTS = "course_utils/_hint_texts.py"
#: What replaces a code solution region in the student notebook (nbgrader_config.py sets the same).
CODE_STUB = '# YOUR CODE HERE\nraise NotImplementedError("not done yet: the hint above names the idea")'
TEXT_STUB = "YOUR ANSWER HERE"
#: nbval compares the output of a cell with this tag (``pytest --nbval-lax``) with the one stored in the
#: solution notebook; every check cell carries it, and any cell whose output is exact (a closed form, a
#: count) may. ``course build --record-outputs`` stores the outputs; the build keeps them while the
#: cell's source is unchanged.
CHECK_TAG = "nbval-check-output"
INSTALL_ID = "install-course-library"
#: The first code cell of every lesson notebook: on a hosted service (Colab and the like) it installs
#: the student library, and only when it is missing. ``{sources}`` is ``[tool.course] library-sources``
#: of pyproject.toml: where to install from when no wheel lies beside the notebook or one folder up.
INSTALL_CELL = """\
# Setup for a notebook opened on its own (Colab and the like): installs the course's helper library
# when it is missing, from the course's wheel (course_utils-*.whl) in this notebook's folder or one
# folder up, else from LIBRARY_SOURCES (set by your course; may be empty). Where the library is
# installed it does nothing. It never replaces an installed torch, and the next cell imports the
# library without a kernel restart.
import importlib, importlib.metadata, importlib.util, pathlib, subprocess, sys, tempfile

LIBRARY_SOURCES = {sources}
if importlib.util.find_spec("course_utils") is None:
    wheels = list(pathlib.Path(".").glob("course_utils-*.whl")) or list(pathlib.Path("..").glob("course_utils-*.whl"))
    sources = [str(max(wheels, key=lambda w: w.stat().st_mtime))] if wheels else []  # the newest wheel
    sources += LIBRARY_SOURCES
    if not sources:
        raise RuntimeError("the course library (course_utils) is not installed: put the course's wheel "
                           "(course_utils-*.whl) in this notebook's folder, or ask your lecturer where it is")
    keep = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False)  # what pip may not change
    if importlib.util.find_spec("torch") is not None:
        keep.write(f"torch=={{importlib.metadata.version('torch')}}\\n")
    keep.close()
    for source in sources:
        if subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-c", keep.name, source]).returncode == 0:
            break
    else:
        raise RuntimeError(f"pip could not install the course library from {{sources}}: its messages above say why "
                           "(no network for a dependency, or a torch older than 2.2)")
    importlib.invalidate_caches()"""
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


def lesson_namespace(
    lesson: str,
    cell_ids: list[str] | None = None,
    constants: dict | None = None,
    root: Path | None = None,
    quiet: bool = False,
    select: Callable[[dict], bool] | None = None,
    name: str | None = None,
) -> dict:
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
            exec(
                compile(cell.source, f"<{lesson}:{cell.metadata.get('id', 'setup')}>", "exec", dont_inherit=True),
                namespace,
            )
    return namespace


LEAK = 20  #: a hint may not repeat this many characters of a solution line (spaces ignored)


def flatten_code(text: str) -> str:
    """Spaces removed and Unicode minus signs made ASCII: what two spellings of a line of code share
    (the hint rule and the release's leak search compare lines this way)."""
    return "".join(text.replace("\u2212", "-").split())


def hint_problem(hints: list[str], region: list[str]) -> str:
    """Why the ``### HINT:`` lines above a solution region are not acceptable, or ``""``.

    A hint names the idea, never the code: it may not contain a piece of ``LEAK`` characters of a
    solution line (spaces and minus signs normalised), and it is plain ASCII, so that a student who
    pastes it meets no Unicode minus or symbol that Python rejects.
    """
    code = [flatten_code(line) for line in region if not line.strip().startswith("#")]
    for line in hints:
        hint = line.strip()[len(HINT) :].strip()
        odd = sorted({ch for ch in hint if not ch.isascii()})
        if odd:
            return f"the hint must be plain ASCII (it has {''.join(odd)!r})"
        flat = flatten_code(hint)
        for piece in (c[k : k + LEAK] for c in code if len(c) >= LEAK for k in range(len(c) - LEAK + 1)):
            if piece in flat:
                return f"the hint repeats the solution ({piece!r}): a hint names the idea, never the code"
    return ""


def _deep_hints(source: str, cell_id: str, where: str) -> tuple[str, dict[int, list[str]]]:
    """The source without its ``### HINT n:`` lines, and those hints by level.

    Each sits just below a ``### HINT:`` line (or another deeper one), which gains a pointer to
    :func:`course_utils.hint`. The hint rule (no piece of a solution line, plain ASCII) applies to
    them as to the first level, against every solution line of the cell.
    """
    lines = source.split("\n")
    if not any(DEEP_HINT.match(line) for line in lines):
        return source, {}
    if not cell_id.startswith("ex-"):
        raise BuildError(f"{where}: deeper hints ('### HINT 2:') belong to an exercise (an ex- cell)")
    region = _solution_lines(lines)
    kept: list[str] = []
    levels: dict[int, list[str]] = {}
    for number, line in enumerate(lines, 1):
        match = DEEP_HINT.match(line)
        if not match:
            kept.append(line)
            continue
        level = int(match.group(1))
        if level < 2:
            raise BuildError(f"{where}, line {number}: a deeper hint has level 2 or more ('### HINT 2:')")
        if not kept or not kept[-1].strip().startswith(HINT):
            raise BuildError(f"{where}, line {number}: a deeper hint goes just below the '{HINT}' line it deepens")
        problem = hint_problem([f"{HINT} {match.group(2)}"], region)
        if problem:
            raise BuildError(f"{where}, line {number}: {problem}")
        levels.setdefault(level, []).append(match.group(2).strip())
        pointer = f' (deeper: hint("{cell_id}"))'
        if not kept[-1].endswith(pointer):
            kept[-1] += pointer
    return "\n".join(kept), levels


def _solution_lines(lines: list[str]) -> list[str]:
    inside, found = False, []
    for line in lines:
        if line.strip() in (BEGIN, END):
            inside = line.strip() == BEGIN
        elif inside:
            found.append(line)
    return found


def hint_texts(root: Path | None = None) -> str:
    """The source of ``course_utils/_hint_texts.py``: every exercise's deeper hints, by cell id and level."""
    root = root or repo_root()
    hints: dict[str, dict[int, list[str]]] = {}
    for source in lesson_sources(root):
        nb = jupytext.read(source, fmt="py:percent")
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                cell_id = str(cell.metadata.get("id", ""))
                _, levels = _deep_hints(cell.source, cell_id, f"{source.name}, cell {index + 1}")
                if levels:
                    hints[cell_id] = levels
    import pprint

    return (
        '"""Deeper hints of the exercises, by cell id and level: written by the build from the\n'
        '``### HINT n:`` lines of ``solutions/*.py``; edit those, not this file."""\n\n'
        f"HINTS: dict[str, dict[int, list[str]]] = {pprint.pformat(hints, width=110, sort_dicts=True)}\n"
    )


def _strip_solutions(source: str, markdown: bool, where: str) -> str:
    """The source with each solution region replaced by its stub, as nbgrader's ClearSolutions does."""
    out: list[str] = []
    region: list[str] | None = None
    hints: list[str] = []
    indent = ""
    for number, line in enumerate(source.split("\n"), 1):
        stripped = line.strip()
        if stripped == BEGIN:
            if region is not None:
                raise BuildError(f"{where}, line {number}: {BEGIN} inside another solution region")
            hints = []
            for above in reversed(out):
                if not above.strip().startswith(HINT):
                    break
                hints.insert(0, above)
            region, indent = [], line[: len(line) - len(line.lstrip())]
        elif stripped == END:
            if region is None:
                raise BuildError(f"{where}, line {number}: {END} without {BEGIN}")
            if any(r.strip().startswith(HINT) for r in region):
                raise BuildError(
                    f"{where}, line {number}: a '{HINT}' line inside a solution region is removed with "
                    "it: put the hint just above the region"
                )
            if not markdown and not hints:
                raise BuildError(
                    f"{where}, line {number}: a code solution region needs a '{HINT}' line just above "
                    f"its {BEGIN} (the student reads it beside the stub)"
                )
            problem = hint_problem(hints, region)
            if problem:
                raise BuildError(f"{where}, line {number}: {problem}")
            out.extend(indent + stub for stub in (TEXT_STUB if markdown else CODE_STUB).split("\n"))
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


def _prepare(source_path: Path, install: bool = False) -> nbformat.NotebookNode:
    """Read a source, validate it, and give every cell its id and nbgrader metadata.

    ``install``: put :data:`INSTALL_CELL` before the first code cell (the lesson notebooks).
    """
    nb = jupytext.read(source_path, fmt="py:percent")
    # an install cell saved back into the source (a JupyterLab save of the paired notebook) is the
    # build's own: drop it, a fresh one is inserted below
    nb.cells = [
        c
        for c in nb.cells
        if not (
            c.cell_type == "code"
            and (c.metadata.get("id") == INSTALL_ID or c.source.startswith(INSTALL_CELL.split("\n")[0]))
        )
    ]
    lesson = source_path.stem
    seen: set[str] = set()
    for index, cell in enumerate(nb.cells):
        where = f"{source_path.name}, cell {index + 1}"
        grade_id = cell.metadata.get("id")
        solution, points = _has_solution(cell), cell.metadata.get("points")
        if (solution or points is not None) and not grade_id:
            raise BuildError(f"{where}: a solution or graded cell needs id=\"...\" in its '# %%' line")
        if cell.cell_type == "markdown" and solution and points is None:
            raise BuildError(f"{where}: a written answer is graded by hand: give it points=N in its '# %%' line")
        if cell.cell_type == "markdown" and points is not None and not solution:
            raise BuildError(f"{where}: a markdown cell with points needs a {BEGIN} region (the answer)")
        if cell.cell_type == "code" and points is not None and CHECK_TAG not in cell.metadata.get("tags", []):
            raise BuildError(
                f"{where}: a check cell's verdict is compared by nbval: add tags=[\"{CHECK_TAG}\"] to its '# %%' line"
            )
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
            cell.source, _ = _deep_hints(cell.source, str(grade_id or ""), where)
        _strip_solutions(cell.source, cell.cell_type == "markdown", where)  # validates markers
        if cell.cell_type == "code" and grade_id:
            problem = _id_problem(str(grade_id), cell.source, solution, points is not None)
            if problem:
                raise BuildError(f"{where}: {problem}")
    if install:
        first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
        cell = nbformat.v4.new_code_cell(
            INSTALL_CELL.format(sources=repr(library_sources(source_path.parents[1]))), metadata={"id": INSTALL_ID}
        )
        cell.id = INSTALL_ID
        nb.cells.insert(first_code, cell)
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)}
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


#: What a code cell's id says it is. The grader's reference and the dashboard execute ``ex-`` and
#: ``lib-`` cells outside the notebook, so those may only define things: nothing there may train.
ID_KINDS = {
    "ex-": "an exercise (a solution region)",
    "check-": "a graded check (points=N)",
    "lib-": "definitions the grader and the dashboard reuse (imports, functions, classes, CONSTANTS)",
}


#: The calls a constant of an ex- or lib- cell may make (``EPOCHS = budget(200, 3)``).
CONSTANT_CALLS = {"budget", "fast_mode", "replace"}


def _id_problem(cell_id: str, source: str, solution: bool, graded: bool) -> str:
    """Why a code cell's id breaks the contract between lessons and tools, or ``""``."""
    import ast

    kinds = "; ".join(f"{prefix}...: {what}" for prefix, what in ID_KINDS.items())
    if not cell_id.startswith(tuple(ID_KINDS)):
        return f"a code cell's id says what it is: {kinds} (got {cell_id!r})"
    if cell_id.startswith("ex-") and not solution:
        return f"{cell_id!r}: an ex- cell holds a {BEGIN} region"
    if cell_id.startswith("check-") and not graded:
        return f"{cell_id!r}: a check- cell has points=N"
    if cell_id.startswith(("ex-", "lib-")):
        for node in ast.parse(source).body:
            if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):  # a docstring
                continue
            targets = (
                node.targets
                if isinstance(node, ast.Assign)
                else [node.target]
                if isinstance(node, ast.AnnAssign)
                else []
            )
            calls = [c for c in ast.walk(node) if isinstance(c, ast.Call)]
            called = {getattr(c.func, "id", None) or getattr(c.func, "attr", None) for c in calls}
            if (
                targets
                and all(isinstance(t, ast.Name) and t.id.isupper() for t in targets)
                and called <= CONSTANT_CALLS
            ):
                continue  # a CONSTANT: a literal, or a budget / recipe computed without training
            return (
                f"{cell_id!r}, line {node.lineno}: the grader and the dashboard execute this cell, so it may only "
                f"import, define functions and classes, and set UPPER_CASE constants (calling at most "
                f"{', '.join(sorted(CONSTANT_CALLS))}); move "
                f"`{ast.unparse(node).splitlines()[0][:60]}` to a cell without an id"
            )
    return ""


def library_sources(root: Path) -> list[str]:
    """``[tool.course] library-sources`` of the course's pyproject.toml: pip requirements (a package
    name, a repository URL) that a lesson's install cell tries after a wheel beside the notebook."""
    import tomllib

    path = root / "pyproject.toml"
    if not path.exists():
        return []
    sources = (
        tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("course", {}).get("library-sources", [])
    )
    if not (isinstance(sources, list) and all(isinstance(x, str) for x in sources)):
        raise BuildError(f"{path}: [tool.course] library-sources must be a list of strings")
    return sources


def _student(nb: nbformat.NotebookNode, lesson: str) -> nbformat.NotebookNode:
    student = copy.deepcopy(nb)
    for index, cell in enumerate(student.cells):
        if _has_solution(cell):
            cell.source = _strip_solutions(cell.source, cell.cell_type == "markdown", f"{lesson}, cell {index + 1}")
        cell.metadata.pop("id", None)
        cell.metadata.pop("points", None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        grader = cell.metadata.get("nbgrader")
        if grader:  # as nbgrader's generate_assignment leaves them (its LockCells, its cell_type record)
            grader["cell_type"] = cell.cell_type
            cell.metadata["deletable"] = False
            if not grader["solution"]:
                cell.metadata["editable"] = False
    return student


def _text(nb: nbformat.NotebookNode) -> str:
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def _checked(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and CHECK_TAG in cell.metadata.get("tags", [])


def _expected_outputs(path: Path) -> dict[str, tuple[str, list]]:
    """``{cell id: (source, outputs)}`` of the checked cells of a built solution notebook."""
    if not path.exists():
        return {}
    nb = nbformat.read(path, as_version=4)
    return {c.id: (c.source, c.outputs) for c in nb.cells if _checked(c) and c.outputs}


def _stream_outputs(outputs: list) -> list:
    """What nbval compares of a cell's outputs, stored plainly: its text streams (merged per stream)
    and the plain-text form of what it displayed (a figure's ``<Figure size ...>``; nbval does not
    compare the image itself, and the notebook does not store it)."""
    merged: list = []
    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream":
            if merged and merged[-1].get("output_type") == "stream" and merged[-1]["name"] == output["name"]:
                merged[-1]["text"] += output["text"]
            else:
                merged.append(nbformat.v4.new_output("stream", name=output["name"], text=output["text"]))
        elif kind in ("display_data", "execute_result") and "text/plain" in output.get("data", {}):
            merged.append(nbformat.v4.new_output("display_data", data={"text/plain": output["data"]["text/plain"]}))
    return merged


def build_lesson(
    source_path: Path, root: Path | None = None, outputs: dict[str, list] | None = None
) -> dict[Path, str]:
    """The files one source builds, as ``{path: text}`` (nothing is written).

    The checked cells of the solution notebook keep the outputs stored in the current one while
    their source is unchanged; ``outputs`` (``{cell id: outputs}``, from ``--record-outputs``)
    replaces them.
    """
    root = root or source_path.parents[1]
    nb = _prepare(source_path, install=True)
    lesson = source_path.stem
    solution_path = root / "solutions" / f"{lesson}.ipynb"
    stored = _expected_outputs(solution_path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    for count, cell in enumerate(code, 1):
        if not _checked(cell):
            continue
        if outputs is not None and cell.id in outputs:
            cell.outputs = _stream_outputs(outputs[cell.id])
        elif cell.id in stored and stored[cell.id][0] == cell.source:
            cell.outputs = stored[cell.id][1]
        if cell.outputs:  # nbval takes a stored output without an execution count for a stray one
            cell.execution_count = count
    return {
        solution_path: _text(nb),
        root / "notebooks" / f"{lesson}.ipynb": _text(_student(nb, lesson)),
    }


def missing_outputs(root: Path | None = None) -> list[str]:
    """``"<lesson>: <cell id>"`` for each checked cell whose expected output is not stored."""
    root = root or repo_root()
    missing = []
    for source in lesson_sources(root):
        nb = nbformat.read(root / "solutions" / f"{source.stem}.ipynb", as_version=4)
        missing += [f"{source.stem}: {c.id}" for c in nb.cells if _checked(c) and not c.outputs]
    return missing


def record_outputs(lessons: list[str] | None = None, root: Path | None = None) -> list[Path]:
    """Execute the solutions in fast mode (fresh checkpoints) and store their checked cells' outputs."""
    import tempfile

    from .run import execute_lesson

    root = root or repo_root()
    build_all(root)
    written = []
    for source in lesson_sources(root):
        if lessons and source.stem not in lessons:
            continue
        with tempfile.TemporaryDirectory() as checkpoints, tempfile.TemporaryDirectory() as out:
            run = execute_lesson(source.stem, root=root, out_dir=Path(out), fast=True, checkpoints=checkpoints)
            if not run.ok:
                raise BuildError(f"{source.stem} failed in fast mode, no outputs recorded: {run.error}")
            executed = nbformat.read(run.notebook, as_version=4)
        recorded = {c.id: c.outputs for c in executed.cells if _checked(c)}
        for path, text in build_lesson(source, root, outputs=recorded).items():
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def build_all(root: Path | None = None, check: bool = False) -> list[Path]:
    """Build every lesson; return the files written, or (``check=True``) the ones that differ."""
    root = root or repo_root()
    changed: list[Path] = []
    outputs = [build_lesson(source, root) for source in lesson_sources(root)]
    outputs += [{source.with_suffix(".ipynb"): _text(_prepare(source))} for source in dashboard_sources(root)]
    if (root / "course_utils").is_dir():
        outputs.append({root / HINT_TEXTS: hint_texts(root)})
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
    """The graded check cells of a lesson, with their points, read from its solution source.

    Written answers (markdown cells with points) are graded by hand and are not among them.
    """
    nb = _prepare((root or repo_root()) / "solutions" / f"{lesson}.py")
    return [
        Exercise(lesson, c.metadata["nbgrader"]["grade_id"], float(c.metadata["nbgrader"]["points"]), c.source)
        for c in nb.cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course build", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a committed notebook differs from a fresh build"
    )
    parser.add_argument("--root", type=Path, default=None, help="the course folder (default: here)")
    parser.add_argument(
        "--record-outputs",
        action="store_true",
        help=f"execute the solutions in fast mode and store the outputs nbval compares (cells tagged {CHECK_TAG})",
    )
    args = parser.parse_args(argv)
    root = args.root or repo_root()
    try:
        if args.record_outputs:
            written = record_outputs(root=root)
            print(f"recorded the checked outputs of {len(written) // 2} lessons")
            return 0
        changed = build_all(root, check=args.check)
    except BuildError as err:
        print(f"build failed: {err}", file=sys.stderr)
        return 2
    n = len(lesson_sources(root))
    if args.check:
        if changed:
            names = "\n  ".join(str(p.relative_to(root)) for p in changed)
            print(
                f"these notebooks differ from a fresh build of solutions/*.py:\n  {names}\n"
                "Run `make build` (python -m course_tools.build) and commit the result.",
                file=sys.stderr,
            )
            return 1
        print(f"notebooks up to date ({n} lessons)")
        return 0
    print(f"built {n} lessons; {len(changed)} files changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

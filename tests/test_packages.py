"""The split: `course_utils` is the student library alone, `course_tools` the course's tooling.

A notebook imports only `course_utils`; nothing in it may import the tooling or the tooling's
third-party packages, or a student who installs the library alone (the release's wheel, or the
repository without extras) meets an ImportError in the middle of a lesson.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from course_tools import release as rel

ROOT = Path(__file__).resolve().parents[1]
#: Installed only with the tooling's extras: a student library that imports one of them is broken.
TOOLING_ONLY = {
    "course_tools",
    "jupytext",
    "nbclient",
    "nbformat",
    "nbconvert",
    "voila",
    "jupyterlab",
    "nbgrader",
    "pytest",
    "playwright",
    "nbval",
    "ipykernel",
}


def _imports(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports, at any depth of the file (not relative imports)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _library_files() -> list[Path]:
    return sorted(p for p in (ROOT / "course_utils").rglob("*.py") if "__pycache__" not in p.parts)


def test_the_student_library_holds_exactly_the_student_modules():
    top = {p.stem for p in (ROOT / "course_utils").glob("*.py")}
    assert top == set(rel.STUDENT_MODULES), (
        "course_utils/ must hold the modules notebooks import and nothing "
        f"else: {sorted(top ^ set(rel.STUDENT_MODULES))}"
    )
    assert {p.stem for p in (ROOT / "course_tools").glob("*.py")} >= {
        "__main__",
        "build",
        "run",
        "bench",
        "grading",
        "graded_models",
        "gradescope",
        "release",
        "demo",
    }


def test_the_student_library_imports_nothing_of_the_tooling():
    found = {str(p.relative_to(ROOT)): sorted(_imports(p) & TOOLING_ONLY) for p in _library_files()}
    assert not {k: v for k, v in found.items() if v}, found
    # and the scan sees what it must: the tooling does import them
    assert "jupytext" in _imports(ROOT / "course_tools" / "build.py")
    assert "course_utils" in _imports(ROOT / "course_tools" / "grading.py")


def test_the_repositorys_dependencies_are_the_student_librarys_and_the_tooling_comes_with_extras():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert tuple(project["dependencies"]) == rel.STUDENT_DEPENDENCIES
    assert not any(re.match(r"torch\s*==", d) for d in project["dependencies"])  # a range: hosted builds fit it
    extras = project["optional-dependencies"]
    assert {"authors", "lab", "dashboard", "nbgrader", "dev"} <= set(extras)
    name = project["name"]
    assert f"{name}[authors]" in extras["lab"] and f"{name}[authors]" in extras["dashboard"]
    assert "jupyterlab" in " ".join(extras["lab"]) and "voila" in extras["dashboard"]
    assert {"jupytext", "nbclient", "nbformat"} <= set(extras["authors"])
    for extra, deps in rel.STUDENT_EXTRAS.items():  # the student library's own extras, in both places
        assert tuple(extras[extra]) == deps and f"{extra}]" in extras["dev"][0]
    assert project["scripts"]["course"] == "course_tools.__main__:main"
    assert re.search(r"^torch==", (ROOT / "constraints.txt").read_text(), re.MULTILINE)  # the pin lives here


def test_a_notebook_imports_only_the_student_library():
    """Every import line of every lesson and the dashboard's cells: notebooks never reach for the tooling,
    except the dashboard (a lecturer's page, run with the `dashboard` extra)."""
    for source in sorted((ROOT / "solutions").glob("[0-9][0-9]_*.py")):
        assert not _imports(source) & TOOLING_ONLY, f"{source.name} imports {_imports(source) & TOOLING_ONLY}"


def test_the_student_library_loads_without_the_tooling_on_the_path(tmp_path):
    """Import every student module in a process where `course_tools` and the tooling's packages cannot be found."""
    blocked = sorted(TOOLING_ONLY - {"ipykernel"})  # ipywidgets may reach the kernel's comm machinery
    modules = [".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__") for p in _library_files()]
    probe = (
        "import importlib, importlib.abc, sys\n"
        f"BLOCKED = {blocked!r}\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in BLOCKED:\n"
        "            raise ImportError(f'{name} is tooling')\n"
        "sys.meta_path.insert(0, Block())\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "print('ok', len(sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"},
    )
    assert done.returncode == 0 and done.stdout.startswith("ok"), done.stderr[-2000:]

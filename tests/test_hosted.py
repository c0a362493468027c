"""A notebook opened on its own on a hosted service (Colab and the like).

A fresh virtual environment holds only what such services preinstall (torch, numpy, matplotlib,
scikit-learn, ipywidgets, ipykernel). The release bundle's notebooks folder gets the six solution
notebooks beside the student ones; each runs top to bottom in that environment's kernel, in fast
mode: the first notebook's install cell installs the student library from the bundle's wheel (one
folder up), the next cell imports it in the same kernel, later notebooks find it installed. The
student library alone, with none of the course's tooling, runs every lesson.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_tools import release as rel
from course_tools.build import INSTALL_ID, lesson_sources

ROOT = Path(__file__).resolve().parents[1]
LESSONS = [p.stem for p in lesson_sources(ROOT)]
PREINSTALLED = ["torch", "numpy", "matplotlib", "scikit-learn", "ipywidgets", "ipykernel"]
pytestmark = pytest.mark.slow


def _installed(python: Path) -> dict[str, str]:
    listing = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {p["name"].lower(): p["version"] for p in json.loads(listing)}


@pytest.fixture(scope="module")
def hosted(tmp_path_factory):
    """(python of the fresh environment, the kernel's name, the folder of its kernelspec)."""
    folder = tmp_path_factory.mktemp("hosted")
    env = folder / "env"
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    python = env / "bin" / "python"
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-c",
            str(ROOT / "constraints.txt"),
            *PREINSTALLED,
        ],
        check=True,
    )
    subprocess.run(
        [str(python), "-m", "ipykernel", "install", "--prefix", str(folder / "jupyter"), "--name", "hosted"],
        check=True,
        capture_output=True,
    )
    yield python, "hosted", folder / "jupyter" / "share" / "jupyter"
    shutil.rmtree(folder, ignore_errors=True)  # 1.4 GB


def test_the_student_library_alone_runs_every_lesson_in_a_hosted_like_environment(hosted, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    python, kernel, jupyter_path = hosted
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_path))
    before = _installed(python)
    assert "course-utils" not in before and "torch" in before
    bundle = tmp_path / "bundle"
    rel.release(bundle, root=ROOT)
    for lesson in LESSONS:
        shutil.copy(ROOT / "solutions" / f"{lesson}.ipynb", bundle / "notebooks" / f"solution-{lesson}.ipynb")
    for lesson in LESSONS:
        nb = nbformat.read(bundle / "notebooks" / f"solution-{lesson}.ipynb", as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code[0].id == INSTALL_ID
        NotebookClient(
            nb,
            timeout=600,
            kernel_name=kernel,
            allow_errors=True,
            resources={"metadata": {"path": str(bundle / "notebooks")}},
        ).execute()
        errors = [(c.id, o.ename, o.evalue) for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
        assert not errors, (lesson, errors)
        verdicts = [c for c in code if c.id.startswith("check-")]
        assert verdicts and all("tests pass" in "".join(o.get("text", "") for o in c.outputs) for c in verdicts), lesson
    after = _installed(python)
    assert after["course-utils"] == rel.__version__
    assert after["torch"] == before["torch"]  # the preinstalled torch is untouched
    tooling = {"jupytext", "nbclient", "voila", "jupyterlab", "nbgrader", "pytest"} & set(after)
    assert not tooling, f"the student library pulled in the course's tooling: {tooling}"
    # the library came from the wheel: its files are the wheel's, without the tooling modules
    where = subprocess.run(
        [str(python), "-c", "import course_utils, os; print(os.path.dirname(course_utils.__file__))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.strip()
    assert str(python.parents[1]) in where and not (Path(where) / "grading.py").exists()


def test_the_install_cell_explains_where_the_library_is_missing(hosted, tmp_path, monkeypatch):
    """No wheel near the notebook and no configured source: a clear error, nothing half-installed."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    python, kernel, jupyter_path = hosted
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_path))
    subprocess.run([str(python), "-m", "pip", "uninstall", "--quiet", "--yes", "course-utils"], check=False)
    nb = nbformat.read(ROOT / "notebooks" / "01_autoencoder.ipynb", as_version=4)
    (install,) = [c for c in nb.cells if c.get("id") == INSTALL_ID]
    alone = nbformat.v4.new_notebook(cells=[install], metadata=nb.metadata)
    (tmp_path / "deep" / "er").mkdir(parents=True)
    with pytest.raises(
        CellExecutionError, match=r"put the course's wheel \(course_utils-\*.whl\) in this notebook's folder"
    ):
        NotebookClient(
            alone, timeout=120, kernel_name=kernel, resources={"metadata": {"path": str(tmp_path / "deep" / "er")}}
        ).execute()
    assert "course-utils" not in _installed(python)

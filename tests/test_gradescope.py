"""The Gradescope autograder zip, unpacked into a simulated /autograder and run as Gradescope runs it."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from course_tools import gradescope

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    hidden = tmp_path_factory.mktemp("instructor") / "my_hidden.py"
    hidden.write_text((ROOT / "grading" / "hidden_tests_example.py").read_text())
    path = gradescope.autograder_zip("01_autoencoder", tmp_path_factory.mktemp("zip"), root=ROOT, hidden_tests=hidden)
    return path


def _unpack(zip_path: Path, base: Path) -> Path:
    """Gradescope's layout: the zip's contents in /autograder/source, the upload in /autograder/submission."""
    source = base / "source"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(source)
        for info in archive.infolist():  # extractall drops the modes
            if info.external_attr >> 16 & stat.S_IXUSR:
                (source / info.filename).chmod(0o755)
    (base / "submission").mkdir()
    return source


def _run(base: Path, python: str = sys.executable) -> dict:
    env = {**os.environ, "AUTOGRADER": str(base), "COURSE_PYTHON": python}
    subprocess.run([str(base / "source" / "run_autograder")], env=env, check=True, timeout=600, capture_output=True)
    return json.loads((base / "results" / "results.json").read_text())


def test_the_zip_has_gradescopes_layout_and_no_development_extras(autograder):
    with zipfile.ZipFile(autograder) as archive:
        names = set(archive.namelist())
        setup = archive.read("setup.sh").decode()
        run = archive.read("run_autograder").decode()
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
    assert {
        "setup.sh",
        "run_autograder",
        "pyproject.toml",
        "constraints.txt",
        "solutions/01_autoencoder.py",
        "hidden_tests.py",
        "course_tools/grading.py",
    } <= names
    assert modes["setup.sh"] & stat.S_IXUSR and modes["run_autograder"] & stat.S_IXUSR
    assert not any(n.startswith(("solutions/02", "tests/", ".venv/")) or "__pycache__" in n for n in names)
    assert "--assignment 01_autoencoder" in run
    assert "[dev]" not in setup and "make setup" not in setup and "--python 3.11" in setup
    assert "download.pytorch.org/whl/cpu" in setup and "-c constraints.txt" in setup
    pin = next(line for line in (ROOT / "constraints.txt").read_text().splitlines() if line.startswith("torch=="))
    assert f'"{pin}"' in setup
    result = subprocess.run(["bash", "-n", "-c", setup + "\n" + run], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_requires_python_tells_the_truth_about_the_pins():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"


def test_an_unknown_lesson_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown lesson"):
        gradescope.autograder_zip("07_diffusion", tmp_path, root=ROOT)


@pytest.mark.slow
def test_run_autograder_grades_an_upload_and_always_writes_results(autograder, tmp_path):
    base = tmp_path / "autograder"
    _unpack(autograder, base)
    shutil.copyfile(ROOT / "solutions" / "01_autoencoder.ipynb", base / "submission" / "my work.ipynb")
    report = _run(base)
    assert report["score"] == report["max_score"] == 18
    assert any("hidden test" in t["name"] for t in report["tests"])  # the instructor's file travelled in the zip
    assert report["score"] == round(sum(t["score"] for t in report["tests"]), 6)

    (base / "submission" / "my work.ipynb").unlink()
    report = _run(base)
    assert report["score"] == 0 and "no .ipynb file" in report["output"]

    shutil.copyfile(ROOT / "notebooks" / "01_autoencoder.ipynb", base / "submission" / "stub.ipynb")
    report = _run(base, python=shutil.which("false") or "/bin/false")  # the grader itself fails
    assert report["score"] == 0 and "could not grade" in report["output"] and report["tests"] == []


def test_an_uploaded_weights_file_is_measured(tmp_path, monkeypatch):
    from course_tools import grading
    from course_utils import train

    base = tmp_path / "autograder"
    _unpack(gradescope.autograder_zip("02_vae", tmp_path / "zip", root=ROOT), base)
    shutil.copyfile(ROOT / "solutions" / "02_vae.ipynb", base / "submission" / "02_vae.ipynb")
    monkeypatch.setenv("COURSE_FAST", "0")
    untrained = eval("VAE(8, (1, 8, 8))", dict(grading.reference_namespace("02_vae", ROOT)))
    (base / "submission" / "work").mkdir()
    train.save_weights(untrained, "02_vae", base / "submission" / "work" / "02_vae.weights.pt")
    (base / "submission" / "__MACOSX").mkdir()  # zip debris sorts first and must not be taken
    (base / "submission" / "__MACOSX" / "._02_vae.weights.pt").write_bytes(b"\0" * 64)
    report = _run(base)
    (trained,) = [t for t in report["tests"] if t["name"].startswith("check-trained-vae")]
    assert (
        "importance-weighted bound" in trained["output"] and trained["score"] == 0
    )  # measured: untrained, about 44 nats
    assert report["score"] == report["max_score"] - trained["max_score"]

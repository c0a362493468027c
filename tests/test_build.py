import json
import subprocess
import sys

import nbformat
import pytest

from course_tools import build

SOURCE = '''# %% [markdown]
# # A lesson

# %%
import math

# %% id="ex-square"
def square(x):
    """x²."""
    ### HINT: multiply x by itself.
    ### BEGIN SOLUTION
    return x * x
    ### END SOLUTION


# %% id="check-square" points=2 tags=["nbval-check-output"]
assert square(3) == 9
print("square: all 1 tests pass")

# %% [markdown] id="answer" points=1
# ### BEGIN SOLUTION
# Because.
# ### END SOLUTION
'''


@pytest.fixture
def course(tmp_path):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "01_demo.py").write_text(SOURCE)
    return tmp_path


def test_builds_solution_and_student_notebooks(course):
    assert build.build_all(course) == [course / "solutions/01_demo.ipynb", course / "notebooks/01_demo.ipynb"]
    solution = nbformat.read(course / "solutions/01_demo.ipynb", 4)
    student = nbformat.read(course / "notebooks/01_demo.ipynb", 4)
    for nb in (solution, student):
        nbformat.validate(nb)
        assert nb.metadata.kernelspec.name == "python3"
        assert [c.id for c in nb.cells] == ["01-000", build.INSTALL_ID, "01-001", "ex-square", "check-square", "answer"]
        assert all(c.get("outputs", []) == [] for c in nb.cells)
    assert "return x * x" in solution.cells[3].source
    stub = student.cells[3].source
    assert "return x * x" not in stub and "BEGIN SOLUTION" not in stub
    assert stub.endswith(
        "    ### HINT: multiply x by itself.\n    # YOUR CODE HERE\n"
        '    raise NotImplementedError("not done yet: the hint above names the idea")'
    )
    assert '"""x²."""' in stub
    assert student.cells[5].source == "YOUR ANSWER HERE"
    grader = student.cells[4].metadata.nbgrader
    assert grader == {
        "cell_type": "code",
        "grade": True,
        "grade_id": "check-square",
        "locked": True,
        "points": 2,
        "schema_version": 3,
        "solution": False,
    }
    assert student.cells[3].metadata.nbgrader["solution"] is True
    # locked as nbgrader's LockCells locks them: a check cell entirely, an answer cell against deletion
    assert (student.cells[4].metadata.editable, student.cells[4].metadata.deletable) == (False, False)
    for answer in (student.cells[3], student.cells[5]):
        assert answer.metadata.deletable is False and "editable" not in answer.metadata
    assert student.cells[5].metadata.nbgrader == {
        "cell_type": "markdown",
        "grade": True,
        "grade_id": "answer",
        "locked": False,
        "points": 1,
        "schema_version": 3,
        "solution": True,
    }
    assert "deletable" not in solution.cells[4].metadata  # the author's notebook stays editable


def test_stub_raises_not_implemented(course):
    build.build_all(course)
    student = nbformat.read(course / "notebooks/01_demo.ipynb", 4)
    namespace = {}
    exec(student.cells[3].source, namespace)
    with pytest.raises(NotImplementedError, match="not done yet"):
        namespace["square"](2)


def test_build_is_reproducible_and_check_detects_drift(course):
    build.build_all(course)
    assert build.build_all(course, check=True) == []
    path = course / "notebooks/01_demo.ipynb"
    nb = json.loads(path.read_text())
    nb["cells"][2]["source"] = "def square(x):\n    return x * x\n"
    path.write_text(json.dumps(nb))
    assert build.build_all(course, check=True) == [path]
    assert build.main(["--check", "--root", str(course)]) == 1


def test_solution_notebook_round_trips_to_the_source(course):
    import jupytext

    build.build_all(course)
    nb = jupytext.read(course / "solutions/01_demo.ipynb")
    config = jupytext.config.JupytextConfiguration(
        notebook_metadata_filter="-all", cell_metadata_filter="id,points,tags,-all"
    )
    saved = jupytext.writes(nb, fmt="py:percent", config=config)  # what a JupyterLab save writes back
    nb.cells = [c for c in nb.cells if c.id != build.INSTALL_ID]
    assert jupytext.writes(nb, fmt="py:percent", config=config) == SOURCE
    # the saved source holds the install cell: the build drops it and inserts its own, once
    assert f'id="{build.INSTALL_ID}"' in saved
    before = {p: p.read_text() for p in course.rglob("*.ipynb")}
    (course / "solutions/01_demo.py").write_text(saved)
    build.build_all(course)
    assert {p: p.read_text() for p in course.rglob("*.ipynb")} == before


@pytest.mark.parametrize(
    "bad,message",
    [
        (SOURCE.replace('# %% id="ex-square"', "# %%"), "needs id="),
        (SOURCE.replace('id="check-square"', 'id="ex-square"'), "must be unique"),
        (SOURCE.replace("    ### END SOLUTION\n", "", 1), "never closed"),
        (SOURCE.replace("    ### BEGIN SOLUTION\n", "", 1), "without"),
        (SOURCE.replace("    ### HINT: multiply x by itself.\n", "", 1), "needs a '### HINT:' line just above"),
        (
            SOURCE.replace(
                "    ### HINT: multiply x by itself.\n    ### BEGIN SOLUTION\n",
                "    ### BEGIN SOLUTION\n    ### HINT: multiply x by itself.\n",
            ),
            "put the hint just above",
        ),
        (SOURCE.replace('id="answer" points=1', 'id="answer"'), "graded by hand: give it points"),
        (SOURCE.replace(' tags=["nbval-check-output"]', ""), "compared by nbval"),
        (SOURCE.replace("# %%\nimport math", '# %% id="setup"\nimport math'), "a code cell's id says what it is"),
        (
            SOURCE.replace("# %%\nimport math", '# %% id="lib-setup"\nimport math\nRATE = 0.1\nmodel = train(RATE)'),
            r"'lib-setup', line 3: .* may only import, define functions and classes, and set UPPER_CASE constants",
        ),
        (SOURCE.replace("# %%\nimport math", '# %% id="ex-setup"\nimport math'), "an ex- cell holds a"),
        (
            SOURCE.replace("# %%\nimport math", '# %% id="lib-setup"\nimport math\nMODEL = train.fit(3)'),
            r"'lib-setup', line 2: .*calling at most budget, fast_mode, replace",
        ),
        (SOURCE.replace("multiply x by itself.", "return x * x times one"), None),
        (
            SOURCE.replace("    return x * x\n", "    return x * x + 0 * x * x * x * x * x\n").replace(
                "multiply x by itself.", "just return x * x + 0 * x * x * x * x * x"
            ),
            "repeats the solution",
        ),
        (SOURCE.replace("multiply x by itself.", "x \u2212 1 times x plus x"), "plain ASCII"),
        (
            SOURCE.replace(
                "    ### HINT: multiply x by itself.\n",
                "    ### HINT: multiply x by itself.\n    ### HINT 2: just return x * x + 0 * x * x * x * x * x * x\n",
            ).replace("    return x * x\n", "    return x * x + 0 * x * x * x * x * x * x\n"),
            "repeats the solution",
        ),
        (
            SOURCE.replace("    ### BEGIN SOLUTION\n", "    ### BEGIN SOLUTION\n    ### HINT 2: deeper\n", 1),
            "just below the '### HINT:' line",
        ),
        (SOURCE.replace("# %%\nimport math", "# %%\nimport math\n### HINT 2: deeper"), "belong to an exercise"),
        (
            SOURCE.replace(
                "    ### HINT: multiply x by itself.\n", "    ### HINT: multiply x by itself.\n    ### HINT 1: deeper\n"
            ),
            "level 2 or more",
        ),
    ],
)
def test_malformed_sources_are_rejected(course, bad, message):
    (course / "solutions/01_demo.py").write_text(bad)
    if message is None:  # a solution line shorter than the leak length cannot leak
        build.build_all(course)
        return
    with pytest.raises(build.BuildError, match=message):
        build.build_all(course)


DEEP = SOURCE.replace(
    "    ### HINT: multiply x by itself.\n",
    "    ### HINT: multiply x by itself.\n"
    "    ### HINT 2: the product of x with x, nothing else\n    ### HINT 3: one multiplication\n",
)


def test_deeper_hints_stay_out_of_the_notebooks_and_are_one_call_away(course, capsys):
    (course / "solutions/01_demo.py").write_text(DEEP)
    build.build_all(course)
    pointer = '    ### HINT: multiply x by itself. (deeper: hint("ex-square"))'
    for path in ("solutions/01_demo.ipynb", "notebooks/01_demo.ipynb"):
        cell = nbformat.read(course / path, 4).cells[3]
        assert "HINT 2" not in cell.source and "HINT 3" not in cell.source and pointer in cell.source.split("\n")
    texts: dict = {}
    exec(build.hint_texts(course), texts)  # the generated module of the demo course
    assert texts["HINTS"] == {"ex-square": {2: ["the product of x with x, nothing else"], 3: ["one multiplication"]}}


def test_the_course_s_deeper_hints_are_generated_and_printed(root, capsys, monkeypatch):
    from course_utils import hints

    assert (root / build.HINT_TEXTS).read_text() == build.hint_texts(root)  # drift: run the build
    exercises = [
        c
        for s in build.lesson_sources(root)
        for c in build.jupytext.read(s).cells
        if str(c.metadata.get("id", "")).startswith("ex-")
    ]
    assert {str(c.metadata["id"]) for c in exercises} == set(hints.HINTS)  # every exercise has a level 2
    monkeypatch.setattr(hints, "HINTS", {"ex-square": {2: ["two"], 3: ["three"]}})
    hints.hint("square")
    assert capsys.readouterr().out == 'ex-square, hint 2:\n  - two\nStill stuck? hint("ex-square", 3)\n'
    hints.hint("ex-square", 3)
    assert "Still stuck" not in capsys.readouterr().out
    with pytest.raises(ValueError, match="hints of level 2, 3"):
        hints.hint("ex-square", 4)
    with pytest.raises(ValueError, match="exercises that have one are ex-square"):
        hints.hint("cube")


def test_every_hint_of_the_course_names_the_idea_not_the_code(root):
    for source in build.lesson_sources(root):
        build.build_lesson(source, root)  # raises BuildError on a leaking or non-ASCII hint


def test_exercises_lists_points(course):
    assert [(e.grade_id, e.points) for e in build.exercises("01_demo", course)] == [("check-square", 2.0)]


def test_committed_notebooks_match_a_fresh_build(root):
    result = subprocess.run(
        [sys.executable, "-m", "course_tools.build", "--check"], cwd=root, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert build.lesson_sources(root), "no lesson sources found"


def test_stored_outputs_are_kept_while_the_cell_is_unchanged_and_dropped_when_it_changes(course):
    build.build_all(course)
    path = course / "solutions/01_demo.ipynb"
    printed = [
        nbformat.v4.new_output("stream", name="stdout", text="square: all 1 "),
        nbformat.v4.new_output("stream", name="stdout", text="tests pass\n"),
        nbformat.v4.new_output("display_data", data={"text/plain": "<Figure>", "image/png": "AAAA"}),
    ]
    built = build.build_lesson(course / "solutions/01_demo.py", course, outputs={"check-square": printed})
    path.write_text(built[path])
    assert build.missing_outputs(course) == []
    for _ in range(2):  # a rebuild keeps them, and check finds no drift
        assert build.build_all(course, check=True) == []
        build.build_all(course)
    solution = nbformat.read(path, 4)
    check = solution.cells[4]
    assert [o.get("text") or o.get("data") for o in check.outputs] == [
        "square: all 1 tests pass\n",
        {"text/plain": "<Figure>"},
    ]  # streams merged, no image stored
    assert check.execution_count == 4  # nbval ignores a stored output that has no execution count
    student = nbformat.read(course / "notebooks/01_demo.ipynb", 4)
    assert all(c.get("outputs", []) == [] and c.get("execution_count") is None for c in student.cells)

    source = course / "solutions/01_demo.py"
    source.write_text(source.read_text().replace('print("square: all 1 tests pass")', 'print("square: passes")'))
    build.build_all(course)
    assert nbformat.read(path, 4).cells[4].outputs == []
    assert build.missing_outputs(course) == ["01_demo: check-square"]


def test_every_checked_cell_of_the_course_has_its_expected_output(root):
    assert build.missing_outputs(root) == [], "run `course build --record-outputs` and commit the notebooks"


def test_the_install_cell_is_configured_once_for_the_course(course):
    (course / "pyproject.toml").write_text(
        '[tool.course]\nlibrary-sources = ["git+https://example.org/course.git@v1"]\n'
    )
    build.build_all(course)
    for kind in ("solutions", "notebooks"):
        cell = nbformat.read(course / kind / "01_demo.ipynb", 4).cells[1]
        assert cell.id == build.INSTALL_ID and cell.source.startswith("# Setup for a notebook opened on its own")
        assert "LIBRARY_SOURCES = ['git+https://example.org/course.git@v1']" in cell.source
        compile(cell.source, "<install>", "exec")
    (course / "pyproject.toml").write_text('[tool.course]\nlibrary-sources = "not a list"\n')
    with pytest.raises(build.BuildError, match="must be a list of strings"):
        build.build_all(course)

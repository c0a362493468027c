"""The project's own files agree with each other."""

import re

import pytest


def _pins(text: str) -> dict[str, str]:
    return {m.group(1).lower(): m.group(2) for m in re.finditer(r"^\s*-?\s*([A-Za-z0-9_.-]+)==([^\s#]+)", text, re.M)}


def test_environment_yml_uses_the_constraint_versions(root):
    constraints = _pins((root / "constraints.txt").read_text())
    environment = _pins((root / "environment.yml").read_text())
    assert {
        "torch",
        "jupyterlab",
        "ipywidgets",
        "matplotlib",
        "jupytext",
        "nbclient",
        "nbformat",
        "scikit-learn",
        "tqdm",
        "pytest",
    } <= set(environment)
    for name, version in environment.items():
        assert constraints.get(name) == version, (
            f"{name}: environment.yml {version}, constraints.txt {constraints.get(name)}"
        )
    assert constraints["torch"] == "2.13.0"


def test_readme_opens_with_the_two_commands(root):
    readme = (root / "README.md").read_text()
    head = readme[: readme.index("\n## ", readme.index("make test"))]
    assert "make run" in head and "make test" in head
    assert "make test" in (root / ".ci" / "run").read_text()


@pytest.mark.parametrize("target", ["run", "test", "lab", "bench", "build"])
def test_makefile_targets(root, target):
    assert re.search(rf"^{target}:", (root / "Makefile").read_text(), re.M)

"""The lecture dashboard without a browser: `course demo`'s command line, and the dashboard
notebook executed headless (the browser tests render it in Voila and move its sliders)."""

from __future__ import annotations

import json

import nbformat
import pytest

from course_tools import demo
from course_tools.build import lesson_namespace


def test_demo_serves_the_dashboard_with_voila_on_loopback(root):
    command = demo.voila_command(port=9000, token="abc", open_browser=False)
    assert command[1:3] == ["-m", "voila"] and command[3] == str(root / "dashboard" / "lecture.ipynb")
    assert {
        "--Voila.ip=127.0.0.1",
        "--port=9000",
        "--token=abc",
        "--no-browser",
        "--progressive_rendering=True",
    } <= set(command)
    assert "--no-browser" not in demo.voila_command(open_browser=True)


def test_demo_without_the_built_dashboard_says_how_to_build_it(tmp_path, monkeypatch, capsys):
    (tmp_path / "solutions").mkdir()
    monkeypatch.chdir(tmp_path)  # a course folder without dashboard/lecture.ipynb
    assert demo.main(["--no-browser"]) == 2
    assert "make build" in capsys.readouterr().err


def test_lesson_namespace_names_missing_cells():
    with pytest.raises(KeyError, match="no code cell with id 'no-such-cell'"):
        lesson_namespace("02_vae", ["no-such-cell"])


@pytest.mark.slow
def test_dashboard_runs_and_shows_its_three_widgets(root, tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.read(root / "dashboard" / "lecture.ipynb", as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(root / "dashboard")}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    problems = [o for o in outputs if o.output_type == "error" or o.get("name") == "stderr"]
    assert not problems, json.dumps(problems, indent=1)[:3000]
    views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    printed = "".join(o.get("text", "") for o in outputs)
    with_vae = "28x28 VAE (k = 16" in printed  # a local MNIST-track checkpoint adds a widget
    with_gan = "28x28 DCGAN (" in printed  # and so does the DCGAN's
    assert with_vae or "28x28 VAE: no" in printed, printed
    assert with_gan or "28x28 DCGAN: no" in printed, printed
    assert len(views) == 3 + with_vae + with_gan and all(o.data["text/plain"].startswith("VBox") for o in views)
    assert not any("image/png" in o.get("data", {}) for o in outputs), "a stray figure beside the widgets"


@pytest.mark.slow
def test_dashboard_models_are_trained_once_then_loaded(tmp_path, monkeypatch, capsys):
    import torch

    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    first = demo.lecture_models()
    second = demo.lecture_models()
    assert "trained now" in first.summary and "loaded from the cache" in second.summary
    assert "loaded the checkpoint" in capsys.readouterr().out  # the VAE, the second time
    assert len(first.snapshots) == len(second.snapshots) > 1
    for a, b in zip(first.snapshots, second.snapshots):
        assert a.step == b.step and a.note == b.note and torch.equal(a.samples, b.samples)
    assert torch.allclose(first.codes, second.codes)
    (cache,) = tmp_path.glob("2d-ring-GAN-*.pt")
    cache.write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="could not be loaded"):
        third = demo.lecture_models()
    assert "trained now" in third.summary


@pytest.mark.parametrize(
    "lesson, cells, names",
    [
        ("02_vae", demo.VAE_CELLS, ("vae_loss", "trained_vae", "VAE")),
        ("04_gan", demo.DCGAN_CELLS, ("gan_step", "trained_gan", "Generator", "Discriminator")),
    ],
)
def test_the_dashboard_builds_its_models_under_the_notebooks_checkpoint_keys(lesson, cells, names):
    """The dashboard runs the lessons' cells from their source; its checkpoint keys must be the notebook kernel's,
    or `make demo` trains again (or, for the 28x28 models, finds nothing) instead of loading what `make run`
    made (a key holds the training code)."""
    import jupytext
    from IPython.core.interactiveshell import InteractiveShell

    from course_tools.build import repo_root
    from course_utils import data, train

    images = data.load("digits", "train", binarize=lesson == "02_vae")
    constants = {"train_set": images} if lesson == "02_vae" else {"digits": images}
    dashboard = lesson_namespace(lesson, cells, constants=constants, quiet=True)
    source = jupytext.read(repo_root() / "solutions" / f"{lesson}.py")
    code = [c for c in source.cells if c.cell_type == "code"]
    shell = InteractiveShell.instance()
    try:
        shell.user_ns.update(constants)
        for cell in [code[0]] + [c for c in code if c.metadata.get("id") in cells]:
            assert shell.run_cell(cell.source, silent=True).success
        kernel = {name: train.code_fingerprint(shell.user_ns[name], values=False) for name in names}
    finally:  # no IPython shell may outlive this test: code that asks "am I in a notebook?" would say yes
        InteractiveShell.clear_instance()
    for name, fingerprint in kernel.items():
        assert fingerprint == train.code_fingerprint(dashboard[name], values=False), name


@pytest.mark.parametrize(
    "lesson, cells, names",
    [
        ("02_vae", demo.VAE_CELLS, ["trained_vae", "VAE"]),
        ("04_gan", demo.GAN_CELLS, ["run_2d", "gan_step"]),
        ("04_gan", demo.DCGAN_CELLS, ["trained_gan", "Generator"]),
    ],
)
def test_the_dashboard_finds_its_cells_and_names_by_the_contract(lesson, cells, names):
    """The dashboard executes only ex- and lib- cells (definitions, which the build enforces), and they
    define what it calls: a renamed cell or function fails here, not in `make demo`."""
    import jupytext

    from course_tools.build import repo_root

    ids = {c.metadata.get("id") for c in jupytext.read(repo_root() / "solutions" / f"{lesson}.py").cells}
    assert all(cell.startswith(("ex-", "lib-")) and cell in ids for cell in cells), (lesson, cells)
    constants = {"train_set": None} if lesson == "02_vae" else {}
    namespace = lesson_namespace(lesson, cells, constants=constants, quiet=True)  # defines, trains nothing
    assert all(callable(namespace.get(name)) for name in names), [n for n in names if not callable(namespace.get(n))]


def test_the_dashboard_offers_the_28x28_vae_only_once_its_checkpoint_exists(tmp_path, monkeypatch):
    from course_utils import data

    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path / "ck"))
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))  # offline: the packaged subset
    monkeypatch.setenv("COURSE_FAST", "1")
    view, line = demo._mnist_vae()
    assert view is None and "no checkpoint yet" in line and "make run-mnist" in line
    assert not list((tmp_path / "ck").glob("*.pt"))  # nothing was trained to find out
    lesson = lesson_namespace(
        "02_vae", demo.VAE_CELLS, constants={"train_set": data.mnist_images("train", binarize=True)}, quiet=True
    )
    lesson["trained_vae"](demo.MNIST_K)  # what lesson 02 on the MNIST track trains
    view, line = demo._mnist_vae()
    assert view is not None and "28x28 VAE (k = 16, mnist_5k)" in line
    assert view.codes.shape == (200, 16) and view.images.shape == (200, 1, 28, 28) and len(view.labels) == 200
    assert type(view.perturbation()).__name__ == "LatentPerturbation"


def test_the_dashboard_offers_the_28x28_dcgan_only_once_its_checkpoint_exists(tmp_path, monkeypatch):
    import torch

    from course_utils import data

    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path / "ck"))
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))  # offline: the packaged subset
    monkeypatch.setenv("COURSE_FAST", "1")
    view, line = demo._mnist_dcgan()
    assert view is None and "no checkpoint yet" in line and "make run-mnist" in line
    assert not list((tmp_path / "ck").glob("*.pt"))  # nothing was trained to find out
    lesson = lesson_namespace("04_gan", demo.DCGAN_CELLS, constants={"digits": data.mnist_images("train")}, quiet=True)
    lesson["trained_gan"](conditional=False)  # what lesson 04 on the MNIST track trains
    view, line = demo._mnist_dcgan()
    assert view is not None and "28x28 DCGAN (mnist_5k)" in line
    images = view.generate(view.codes[:2])
    assert view.codes.shape == (16, 16) and images.shape == (2, 1, 28, 28)
    assert 0 <= float(images.min()) and float(images.max()) <= 1 and not torch.equal(images[0], images[1])
    assert type(view.interpolation()).__name__ == "Interpolation"

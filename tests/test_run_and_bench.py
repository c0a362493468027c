import json

import pytest

from course_tools import __main__ as cli
from course_tools import bench, run
from course_utils import results


def test_record_prints_and_saves(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_RESULTS_DIR", str(tmp_path))
    entry = results.record("99_demo", {"error": 1.23456, "n": 3}, "error 1.23")
    assert "99_demo: error 1.23" in capsys.readouterr().out
    saved = json.loads((tmp_path / "99_demo.json").read_text())
    assert saved == entry and saved["metrics"] == {"error": 1.23456, "n": 3.0} and saved["fast_mode"] is True


def test_table_has_a_row_per_lesson():
    table = run.format_table(
        [
            run.LessonRun("01_autoencoder", 31.9, True, "AE 2.02 vs PCA 3.40"),
            run.LessonRun("02_vae", 3.0, False, error="NameError: x"),
        ]
    )
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["lesson", "status", "wall"]
    assert "01_autoencoder   ok        31.9  AE 2.02 vs PCA 3.40" == lines[1]
    assert "FAILED" in lines[2] and "NameError: x" in lines[2]


def test_bench_reports_references_and_json(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(
        bench,
        "execute_lesson",
        lambda lesson, **kw: run.LessonRun(
            lesson, 12.5, True, "summary", {"ae_mse_k2": 2.0}, checkpoints=kw.get("checkpoints")
        ),
    )
    assert bench.main(["--lesson", "01_autoencoder", "--json", "--out", str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    (row,) = report["lessons"]
    assert row["seconds"] == 12.5 and row["metrics"] == {"ae_mse_k2": 2.0}
    assert any("Hinton" in ref for ref in row["references"]) and "torch" in report["machine"]
    assert bench.main(["--lesson", "01_autoencoder", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "wall 12.5 s" in out and "reference: Hinton" in out


def test_bench_trains_from_scratch(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(
        bench, "execute_lesson", lambda lesson, **kw: seen.update(kw) or run.LessonRun(lesson, 1.0, True)
    )
    bench.main(["--lesson", "01_autoencoder", "--json", "--out", str(tmp_path)])
    assert seen["checkpoints"] is not None and seen["fast"] is False


def test_bench_runs_both_tracks_and_lists_a_lesson_off_the_track(monkeypatch, capsys, tmp_path):
    seen = []

    def fake(lesson, **kw):
        seen.append((lesson, kw.get("track")))
        return run.LessonRun(lesson, 3.0, True, "summary", {"m": 1.0})

    monkeypatch.setattr(bench, "execute_lesson", fake)
    monkeypatch.setattr(bench, "reference_workload", lambda repeats=3: 1.0)
    argv = ["--lesson", "02_vae", "--lesson", "06_cyclegan", "--tracks", "digits", "mnist", "--json"]
    assert bench.main([*argv, "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)["lessons"]
    on_mnist = run.on_track("06_cyclegan", bench.repo_root())
    assert seen == [("02_vae", None), ("02_vae", "mnist"), ("06_cyclegan", None)] + (
        [("06_cyclegan", "mnist")] if on_mnist else []
    )
    assert [r["track"] for r in rows][:2] == ["digits", "mnist"]
    assert any("mnist track" in ref for ref in rows[1]["references"]) and not any(
        "mnist track" in ref for ref in rows[0]["references"]
    )
    assert on_mnist or "06_cyclegan do not read the track yet" in captured.err
    assert bench.main([*argv[:2], "--tracks", "mnist", "--seeds", "0", "--out", str(tmp_path)]) == 0
    assert "02_vae (mnist track)" in capsys.readouterr().out


def test_cli_dispatch(capsys):
    assert cli.main(["--help"]) == 0 and "build" in capsys.readouterr().out
    assert cli.main(["frobnicate"]) == 2 and "unknown command" in capsys.readouterr().err
    assert cli.main(["build", "--check"]) == 0


@pytest.mark.slow
def test_execute_lesson_collects_the_recorded_result_and_the_figures(tmp_path):
    import nbformat

    (tmp_path / "solutions").mkdir()
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "import matplotlib.pyplot as plt\nfrom course_utils.results import record\nplt.plot([0, 1]); plt.show()"
            ),
            nbformat.v4.new_code_cell("record('98_small', {'answer': 42.0}, 'it ran')"),
        ]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "solutions" / "98_small.ipynb")
    result = run.execute_lesson("98_small", root=tmp_path, out_dir=tmp_path / "out", fast=True)
    assert result.ok, result.error
    assert result.metrics == {"answer": 42.0} and "it ran" in result.summary
    assert len(result.figures) == 1 and result.figures[0].endswith(".png")


@pytest.mark.slow
def test_execute_lesson_reports_a_failing_notebook(tmp_path):
    (tmp_path / "solutions").mkdir()
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1/0")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "solutions" / "99_broken.ipynb")
    result = run.execute_lesson("99_broken", root=tmp_path, out_dir=tmp_path / "out", fast=True)
    assert not result.ok and "ZeroDivisionError" in result.error
    assert (tmp_path / "out" / "99_broken.ipynb").exists()


def test_bench_runs_each_seed_from_scratch_and_reports_min_and_median(monkeypatch, capsys, tmp_path):
    seen = []

    def fake_execute(lesson, **kw):
        seen.append(kw)
        seed = kw["seed"]
        return run.LessonRun(
            lesson,
            10.0 + seed,
            True,
            f"seed {seed}",
            {"ring_gan_modes": [3, 1, 2][seed]},
            checkpoints=kw.get("checkpoints"),
        )

    monkeypatch.setattr(bench, "execute_lesson", fake_execute)
    monkeypatch.setattr(bench, "reference_workload", lambda repeats=3: 2.0)
    assert bench.main(["--lesson", "04_gan", "--seeds", "0", "1", "2", "--json", "--out", str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    entry = report["04_gan"]
    assert entry["seeds"] == [0, 1, 2] and entry["wall_s"] == [10.0, 11.0, 12.0]
    assert entry["wall_ratio"] == [5.0, 5.5, 6.0] and entry["metrics"] == {"ring_gan_modes": [3, 1, 2]}
    assert [kw["seed"] for kw in seen] == [0, 1, 2] and len({kw["checkpoints"] for kw in seen}) == 3
    assert all(kw["fast"] is False for kw in seen)
    assert bench.main(["--lesson", "04_gan", "--seeds", "0", "1", "2", "--out", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    line = next(l for l in table.splitlines() if l.strip().startswith("ring_gan_modes"))
    assert line.split()[1:] == ["3", "1", "2", "1", "2"]  # the three seeds, the minimum, the median


def test_reference_workload_takes_measurable_time():
    seconds = bench.reference_workload(repeats=1)
    assert 0.01 < seconds < 60


def test_say_shows_markdown_in_a_notebook_and_text_elsewhere(capsys):
    results.say("  The GAN covers **3 of 8** modes.\n  Second line.")
    assert capsys.readouterr().out == "The GAN covers **3 of 8** modes.\nSecond line.\n"

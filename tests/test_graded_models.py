"""Exercises graded on the model a student trained: the weights file, its loader, the measurements, the credit."""

from __future__ import annotations

import dataclasses
import math
import os
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

from course_tools import graded_models, grading
from course_utils import checks, data, train
from course_utils.checks import Trained
from course_utils.checks import gan as gan_checks
from course_utils.checks import pixelcnn as pixelcnn_checks
from course_utils.checks import vae as vae_checks

ROOT = Path(__file__).resolve().parents[1]
SPECS = {**vae_checks.TRAINED, **pixelcnn_checks.TRAINED, **gan_checks.TRAINED}


@pytest.fixture(scope="module")
def reference_vae():
    return grading.reference_namespace("02_vae", ROOT)


def _vae(reference) -> nn.Module:
    return eval(SPECS["check-trained-vae"].build, dict(reference))


# ------------------------------------------------------------------------------------------------
# Credit
# ------------------------------------------------------------------------------------------------
def test_credit_is_linear_between_the_thresholds_in_both_directions():
    lower = Trained("02_vae", "VAE(8)", "NLL", full=18.0, zero=22.0)
    assert [lower.credit(v) for v in (17.0, 18.0, 20.0, 21.0, 22.0, 30.0)] == [1.0, 1.0, 0.5, 0.25, 0.0, 0.0]
    higher = Trained("x", "M()", "accuracy", full=0.9, zero=0.5)
    assert higher.credit(0.7) == pytest.approx(0.5) and higher.credit(0.95) == 1.0 and higher.credit(0.1) == 0.0
    assert lower.credit(math.nan) == 0.0 and lower.credit(-math.inf) == 0.0
    assert lower.terms() == "full marks at 18 or less, none at 22 or more, in proportion between"
    assert higher.terms() == "full marks at 0.9 or more, none at 0.5 or less, in proportion between"


def test_each_lesson_states_its_thresholds_where_it_asks_for_the_file():
    for grade_id, spec in SPECS.items():
        source = (ROOT / "solutions" / f"{spec.lesson}.py").read_text()
        before = source[: source.index(f'id="{grade_id}"')]
        text = before[before.rindex("### ✎ Graded") :]
        assert spec.file in text, grade_id
        for threshold in (spec.full, spec.zero):
            assert f"${threshold:g}$" in text, (grade_id, threshold)


# ------------------------------------------------------------------------------------------------
# The file and its loader
# ------------------------------------------------------------------------------------------------
def test_save_then_load_round_trips_and_records_what_made_it(tmp_path, reference_vae, monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "0")
    model = _vae(reference_vae)
    path = train.save_weights(model, "02_vae", tmp_path / "w.pt")
    other = _vae(reference_vae)
    meta = train.load_weights(path, other, "02_vae")
    assert meta["fast"] is False and meta["lesson"] == "02_vae" and meta["model"] == "VAE"
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.state_dict().values()))
    monkeypatch.chdir(tmp_path)
    assert train.save_weights(model, "02_vae") == Path("02_vae.weights.pt") and Path("02_vae.weights.pt").is_file()


def test_the_mnist_track_saves_its_own_file_which_the_grader_refuses(tmp_path, reference_vae, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COURSE_FAST", "0")
    digits_file = train.save_weights(_vae(reference_vae), "02_vae")
    monkeypatch.setenv("COURSE_TRACK", "mnist")
    with pytest.raises(checks.NotDone, match="no 02_vae.mnist.weights.pt yet"):
        vae_checks.check_trained(reference_vae["VAE"])
    path = train.save_weights(_vae(reference_vae), "02_vae")
    assert path == Path("02_vae.mnist.weights.pt") and digits_file.is_file()  # the hand-in is not replaced
    vae_checks.check_trained(reference_vae["VAE"])  # passes, and says which file the grader scores
    assert "The grader scores the model of the digits track, 02_vae.weights.pt" in capsys.readouterr().out
    with pytest.raises(train.WeightsError, match="trained on the 'mnist' track, not the 'digits' one"):
        train.load_weights(path, _vae(reference_vae), "02_vae")
    assert train.load_weights(path, _vae(reference_vae), "02_vae", track="mnist")["track"] == "mnist"
    monkeypatch.delenv("COURSE_TRACK")
    fraction, message = graded_models.grade_weights(
        path, SPECS["check-trained-vae"], reference_vae, graded_models.GradingData()
    )
    assert fraction == 0.0 and "'mnist' track" in message
    assert train.load_weights(digits_file, _vae(reference_vae), "02_vae")["track"] == "digits"


class _Hostile:
    def __reduce__(self):
        return (os.system, ("touch hostile-was-run",))


@pytest.mark.parametrize(
    "kind",
    [
        "missing",
        "random bytes",
        "empty",
        "hostile pickle",
        "plain dict",
        "other lesson",
        "missing key",
        "wrong shape",
        "not finite",
        "too large",
    ],
)
def test_every_unusable_file_is_refused_with_its_reason(kind, tmp_path, reference_vae, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = _vae(reference_vae)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    path = tmp_path / "w.pt"
    good = {
        "format": train.WEIGHTS_FORMAT,
        "lesson": "02_vae",
        "fast": False,
        "state_dict": {k: v.clone() for k, v in model.state_dict().items()},
    }
    first_key = next(iter(good["state_dict"]))
    reason = {
        "missing": "no weights file",
        "random bytes": "not a weights file",
        "empty": "not a weights file",
        "hostile pickle": "not a weights file",
        "plain dict": "not written by",
        "other lesson": "lesson '03_pixelcnn'",
        "missing key": "missing",
        "wrong shape": "should have shape",
        "not finite": "not finite",
        "too large": "MB",
    }[kind]
    if kind == "random bytes":
        path.write_bytes(os.urandom(5000))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "hostile pickle":
        path.write_bytes(pickle.dumps({"format": train.WEIGHTS_FORMAT, "state_dict": _Hostile()}))
    elif kind == "plain dict":
        torch.save(good["state_dict"], path)  # a bare state dict, not a file save_weights wrote
    elif kind == "other lesson":
        torch.save({**good, "lesson": "03_pixelcnn"}, path)
    elif kind == "missing key":
        torch.save({**good, "state_dict": {k: v for k, v in good["state_dict"].items() if k != first_key}}, path)
    elif kind == "wrong shape":
        torch.save({**good, "state_dict": {**good["state_dict"], first_key: torch.zeros(3, 3)}}, path)
    elif kind == "not finite":
        torch.save(
            {**good, "state_dict": {**good["state_dict"], first_key: good["state_dict"][first_key] * math.nan}}, path
        )
    elif kind == "too large":
        torch.save(good, path)
        monkeypatch.setattr(train, "MAX_WEIGHTS_MB", 0.01)
    with pytest.raises(train.WeightsError, match=reason):
        train.load_weights(path, model, "02_vae")
    assert not (tmp_path / "hostile-was-run").exists()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # untouched
    fraction, message = graded_models.grade_weights(
        path, SPECS["check-trained-vae"], reference_vae, graded_models.GradingData()
    )
    assert fraction == 0.0 and reason in message


def test_fast_mode_weights_earn_nothing_and_the_check_says_so(tmp_path, reference_vae, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_FAST", "1")
    path = train.save_weights(_vae(reference_vae), "02_vae", tmp_path / "w.pt")
    vae_checks.check_trained(reference_vae["VAE"], path)  # passes in fast mode (CI runs it), and warns
    assert "fast mode is on" in capsys.readouterr().out
    fraction, message = graded_models.grade_weights(
        path, SPECS["check-trained-vae"], reference_vae, graded_models.GradingData()
    )
    assert fraction == 0.0 and "fast mode" in message
    monkeypatch.setenv("COURSE_FAST", "0")
    with pytest.raises(checks.CheckFailed, match="fast mode"):
        vae_checks.check_trained(reference_vae["VAE"], path)
    vae_checks.check_trained(reference_vae["VAE"], train.save_weights(_vae(reference_vae), "02_vae", tmp_path / "w.pt"))


def test_no_file_or_an_unfinished_architecture_reads_not_done_yet(tmp_path, reference_vae, capsys):
    with pytest.raises(checks.NotDone, match=r"not done yet \(no nothing.pt yet: train the model"):
        vae_checks.check_trained(reference_vae["VAE"], tmp_path / "nothing.pt")
    assert "stub" not in capsys.readouterr().out

    class Stub(nn.Module):
        def __init__(self, *args):
            raise NotImplementedError("write the layers")

    with pytest.raises(checks.NotDone, match="its stub still raises"):
        vae_checks.check_trained(Stub, tmp_path / "nothing.pt")
    torch.save(
        {"format": train.WEIGHTS_FORMAT, "lesson": "02_vae", "state_dict": {"x": torch.zeros(1)}}, tmp_path / "bad.pt"
    )
    with pytest.raises(checks.CheckFailed, match="does not fit this architecture"):
        vae_checks.check_trained(reference_vae["VAE"], tmp_path / "bad.pt")


# ------------------------------------------------------------------------------------------------
# The measurements, against closed forms
# ------------------------------------------------------------------------------------------------
class _IndependentVAE(nn.Module):
    """q(z|x) = the prior, and p(x|z) independent of z: the bound is exact, log p(x) itself."""

    def __init__(self, p: torch.Tensor):
        super().__init__()
        self.logits = torch.logit(p)

    def encode(self, x):
        return torch.zeros(len(x), 3), torch.zeros(len(x), 3)

    def decode(self, z):
        return self.logits.expand(len(z), *self.logits.shape)


def test_the_importance_weighted_bound_agrees_with_the_lesson_s_own(reference_vae):
    """A random VAE whose encoder is not the prior: the grader's bound and the lesson's log_weights / iwae_bound
    (independent noise, K = 1000) agree within Monte-Carlo error; a sign or variance slip would be nats off."""
    torch.manual_seed(3)
    model = _vae(reference_vae).eval()
    x = data.load("digits", "grading", binarize=True).x[:30]
    with torch.no_grad():
        mine = graded_models.importance_weighted_nll(model, x, samples=1000)
        lesson = -reference_vae["iwae_bound"](reference_vae["log_weights"](model, x, 1000)).mean().item()
        _, log_var = model.encode(x)
    assert log_var.abs().mean() > 0.01  # q(z|x) is not the prior here
    assert mine == pytest.approx(lesson, abs=0.1)


def test_the_importance_weighted_bound_is_exact_when_the_posterior_is_the_prior():
    x = data.load("digits", "grading", binarize=True).x
    p = torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.8 + 0.1
    exact = -(x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(1).mean()
    assert graded_models.importance_weighted_nll(_IndependentVAE(p), x, samples=10) == pytest.approx(
        float(exact), rel=1e-5
    )


def test_uniform_logits_cost_log2_of_the_levels_per_pixel():
    class Uniform(nn.Module):
        def forward(self, x):
            return torch.zeros(len(x), 17, 8, 8)

    x = data.load("digits", "grading").x
    assert graded_models.pixel_bits_per_dim(Uniform(), x) == pytest.approx(math.log2(17), rel=1e-6)


def test_a_model_sure_of_the_true_level_costs_exactly_its_confidence():
    """90% on the observed level of every pixel (the rest spread evenly): -log2(0.9) bits per pixel, exactly;
    a target read one level off would cost -log2(0.1 / 16)."""

    class Peaked(nn.Module):
        def forward(self, levels):
            probs = torch.full((len(levels), 17, 8, 8), 0.1 / 16)
            probs.scatter_(1, levels, 0.9)
            return probs.log()

    x = data.load("digits", "grading").x
    assert graded_models.pixel_bits_per_dim(Peaked(), x) == pytest.approx(-math.log2(0.9), rel=1e-5)


def test_the_frechet_distance_is_the_metric_of_the_lesson_on_the_same_samples():
    class Copy(nn.Module):  # a "generator" that returns training digits, chosen by z
        def __init__(self):
            super().__init__()
            self.pick = nn.Linear(4, 1)
            self.images = data.load("digits").x

        def forward(self, z):
            return self.images[(z[:, 0].abs() * 1e4).long() % len(self.images)]

    grading_images = data.load("digits", "grading").x
    from course_utils import metrics

    classifier = metrics.digit_classifier()
    value = graded_models.sample_frechet_distance(Copy(), grading_images, classifier, n=300)
    z = torch.randn(300, 4, generator=torch.Generator().manual_seed(0))
    assert value == pytest.approx(metrics.classifier_scores(Copy()(z), grading_images, classifier)["frechet_distance"])
    assert value < 40  # real digits against real digits


# ------------------------------------------------------------------------------------------------
# In the grader
# ------------------------------------------------------------------------------------------------
def test_partial_credit_follows_the_measured_value(tmp_path, reference_vae, monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "0")
    path = train.save_weights(_vae(reference_vae), "02_vae", tmp_path / "w.pt")
    spec = SPECS["check-trained-vae"]
    grading_data = graded_models.GradingData()
    fraction, message = graded_models.grade_weights(path, spec, reference_vae, grading_data)
    value = float(message.split(": ")[1].split(" ")[0])
    assert fraction == 0.0 and value > spec.zero  # an untrained VAE: about 44 nats
    around = dataclasses.replace(spec, full=value - 1.0, zero=value + 3.0)
    fraction, _ = graded_models.grade_weights(path, around, reference_vae, grading_data)
    assert fraction == pytest.approx(0.75, abs=1e-3)


def test_weights_of_an_architecture_listed_in_the_same_order_load_by_position(tmp_path, reference_vae, monkeypatch):
    """A student who flattens inside encode() rather than as the encoder's first layer has other parameter
    names (encoder.0 for encoder.1), the same shapes in the same order: the grader's copy loads them."""
    monkeypatch.setenv("COURSE_FAST", "0")

    class Renamed(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 16))
            self.dec = nn.Sequential(nn.Linear(8, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 64))

    student = Renamed()
    path = train.save_weights(student, "02_vae", tmp_path / "w.pt")
    grader_copy = _vae(reference_vae)
    assert train.load_weights(path, grader_copy, "02_vae")["matched"] == "by order"
    assert all(torch.equal(a, b) for a, b in zip(student.state_dict().values(), grader_copy.state_dict().values()))
    # the names a wrapped model adds are removed; float64 is cast; an extra tensor is refused
    wrapped = {f"module._orig_mod.{k}": v.double() for k, v in grader_copy.state_dict().items()}
    torch.save({"format": train.WEIGHTS_FORMAT, "lesson": "02_vae", "fast": False, "state_dict": wrapped}, path)
    assert "matched" not in train.load_weights(path, _vae(reference_vae), "02_vae")
    extra = {**grader_copy.state_dict(), "extra.weight": torch.zeros(2)}
    torch.save({"format": train.WEIGHTS_FORMAT, "lesson": "02_vae", "fast": False, "state_dict": extra}, path)
    with pytest.raises(train.WeightsError, match="unexpected extra.weight"):
        train.load_weights(path, _vae(reference_vae), "02_vae")
    first = next(iter(grader_copy.state_dict()))
    sparse = {**grader_copy.state_dict(), first: grader_copy.state_dict()[first].to_sparse()}
    torch.save({"format": train.WEIGHTS_FORMAT, "lesson": "02_vae", "fast": False, "state_dict": sparse}, path)
    with pytest.raises(train.WeightsError, match="not a dense real one"):
        train.load_weights(path, _vae(reference_vae), "02_vae")


def test_fast_mode_never_replaces_lecture_weights(tmp_path, reference_vae, monkeypatch, capsys):
    path = tmp_path / "02_vae.weights.pt"
    monkeypatch.setenv("COURSE_FAST", "0")
    lecture = _vae(reference_vae)
    train.save_weights(lecture, "02_vae", path)
    monkeypatch.setenv("COURSE_FAST", "1")
    torch.manual_seed(1)
    train.save_weights(_vae(reference_vae), "02_vae", path)
    assert "kept" in capsys.readouterr().out
    kept = _vae(reference_vae)
    assert train.load_weights(path, kept, "02_vae")["fast"] is False
    assert all(torch.equal(a, b) for a, b in zip(lecture.state_dict().values(), kept.state_dict().values()))


def test_the_grader_measures_in_a_limited_child_process(tmp_path, reference_vae, monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "0")
    path = train.save_weights(_vae(reference_vae), "02_vae", tmp_path / "w.pt")
    fraction, message = graded_models.grade_weights_isolated(path, SPECS["check-trained-vae"], ROOT)
    assert fraction == 0.0 and message.startswith("the importance-weighted bound") and "full marks at 17.5" in message
    fraction, message = graded_models.grade_weights_isolated(path, SPECS["check-trained-vae"], ROOT, memory_mb=64)
    assert fraction == 0.0 and "the process ended with code" in message  # the memory limit, not the batch
    fraction, message = graded_models.grade_weights_isolated(path, SPECS["check-trained-vae"], ROOT, timeout=0.05)
    assert fraction == 0.0 and "took longer than" in message

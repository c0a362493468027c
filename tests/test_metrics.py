import math

import pytest
import torch

from course_utils import data, metrics


def test_bits_per_dim():
    assert metrics.bits_per_dim(64 * math.log(2), 64) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        metrics.bits_per_dim(1.0, 0)


@pytest.mark.parametrize("name", ["ring", "grid"])
def test_perfect_samples_cover_every_mode(name):
    real = data.load(name, n=2500, seed=7)
    coverage = metrics.mode_coverage(real.x, real.modes, real.std)
    assert coverage.modes_captured == len(real.modes)
    assert coverage.high_quality == pytest.approx(1 - math.exp(-4.5), abs=0.01) and coverage.kl_to_uniform < 0.02
    assert "modes" in str(coverage)


def test_collapsed_samples_cover_one_mode():
    ring = data.load("ring")
    collapsed = ring.modes[3] + ring.std * torch.randn(2500, 2, generator=torch.Generator().manual_seed(0))
    coverage = metrics.mode_coverage(collapsed, ring.modes, ring.std)
    assert coverage.modes_captured == 1 and coverage.high_quality > 0.97
    assert coverage.kl_to_uniform == pytest.approx(math.log(8), rel=1e-6)
    assert coverage.counts[3] > 2400


def test_off_mode_samples_are_low_quality_and_rare_modes_do_not_count():
    grid = data.load("grid")
    between = grid.modes[:5] + 1.0  # halfway between modes: 20 standard deviations away
    coverage = metrics.mode_coverage(between.repeat(100, 1), grid.modes, grid.std)
    assert coverage.high_quality == 0.0 and coverage.modes_captured == 0
    few = torch.cat([grid.modes[0].repeat(500, 1), grid.modes[1].repeat(19, 1)])
    assert metrics.mode_coverage(few, grid.modes, grid.std).modes_captured == 1  # 19 < 20 samples
    with pytest.raises(ValueError, match="N x 2"):
        metrics.mode_coverage(torch.zeros(5, 3), grid.modes, grid.std)


def test_inception_score_bounds():
    confident_balanced = torch.eye(10).repeat(5, 1)
    assert metrics.inception_score(confident_balanced) == pytest.approx(10.0, rel=1e-6)
    assert metrics.inception_score(torch.eye(10)[[3] * 50]) == pytest.approx(1.0, rel=1e-6)
    assert metrics.inception_score(torch.full((50, 10), 0.1)) == pytest.approx(1.0, rel=1e-6)


def test_frechet_distance_closed_form():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(20000, 3, generator=g)
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    b = 2.0 * torch.randn(20000, 3, generator=g) + torch.tensor([1.0, 0.0, 0.0])
    # N(0, I) vs N(m, 4I): |m|² + Tr(I + 4I − 2·2I) = 1 + 3
    assert metrics.frechet_distance(a, b) == pytest.approx(4.0, rel=0.05)


@pytest.mark.slow
def test_digit_classifier_is_accurate_and_scores_real_digits_well(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    classifier = metrics.digit_classifier()
    test = data.load("digits", "test")
    with torch.no_grad():
        accuracy = (classifier(test.x).argmax(1) == test.y).float().mean().item()
    assert accuracy > 0.95
    real = metrics.classifier_scores(test.x[:180], test.x[180:], classifier)
    noise = metrics.classifier_scores(torch.rand(180, 1, 8, 8), test.x[180:], classifier)
    assert real["inception_score"] > 7 and real["inception_score"] > 2 * noise["inception_score"]
    assert real["frechet_distance"] < noise["frechet_distance"] / 5
    again = metrics.digit_classifier()  # loaded from the checkpoint, same weights
    assert all(torch.equal(p, q) for p, q in zip(classifier.state_dict().values(), again.state_dict().values()))


def test_the_digit_classifier_trains_on_the_images_it_is_given_keyed_by_them(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path / "ck"))
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    train_28, test_28 = data.load("mnist_5k", "train", n=600), data.load("mnist_5k", "test", n=200)
    classifier = metrics.digit_classifier(epochs=3, images=train_28)
    assert classifier.features(test_28.x).shape == (200, 64)  # a 28x28 network
    with torch.no_grad():
        assert (classifier(test_28.x).argmax(1) == test_28.y).float().mean() > 0.6  # 600 images, 3 epochs
    scores = metrics.classifier_scores(test_28.x[:100], test_28.x[100:], classifier)
    noise = metrics.classifier_scores(torch.rand(100, 1, 28, 28), test_28.x[100:], classifier)
    assert scores["frechet_distance"] < noise["frechet_distance"] / 3
    names = {p.name for p in (tmp_path / "ck").glob("digit-classifier-*.pt")}
    metrics.digit_classifier(epochs=3, images=data.load("mnist_5k", "train", n=500))  # other images: another model
    assert len({p.name for p in (tmp_path / "ck").glob("digit-classifier-*.pt")} - names) == 1
    with pytest.raises(RuntimeError):  # an 8x8 classifier does not take 28x28 images
        metrics.DigitClassifier()(test_28.x[:2])


def test_track_classifier_is_the_shared_one_on_8x8_and_one_trained_on_the_images_otherwise(monkeypatch):
    asked = []
    monkeypatch.setattr(metrics, "digit_classifier", lambda **kwargs: asked.append(kwargs) or "model")
    digits = data.load("digits", "train")
    assert metrics.track_classifier(digits) == "model" and asked == [{}]
    fonts = data.load("fonts", "train")  # other 8x8 images are scored as the digits are: comparable numbers
    metrics.track_classifier(fonts)
    assert asked[-1] == {}
    images_28 = data.Images(torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long), "mnist_5k", "train")
    metrics.track_classifier(images_28)
    assert asked[-1] == {"epochs": 15, "images": images_28}

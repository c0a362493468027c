"""Where tensors live, how runs are made repeatable, and how long training lasts.

The only global state in the course lives here:

* the **device**: CUDA, then Apple MPS, then the CPU, unless ``COURSE_DEVICE`` or
  :func:`set_device` says otherwise;
* the **fast-mode flag**: ``COURSE_FAST=1`` scales every training budget down so that CI and
  the grader run a whole notebook in seconds. Notebooks ask :func:`budget` for their numbers;
* the **lesson seed**: ``COURSE_SEED=N`` (default 0) shifts every seed a lesson draws (data order,
  noise, initialisation), so that the same lesson can be run on several seeds without edits
  (``course bench --seeds 0 1 2``). :func:`seed_everything` and :func:`generator` apply the shift;
  measuring instruments that must not change with it (the digit classifier) run inside
  :func:`unshifted_seeds`.
"""

from __future__ import annotations

import os
import random
from contextlib import contextmanager
from typing import Iterator, TypeVar

import numpy as np
import torch

__all__ = [
    "get_device",
    "set_device",
    "seed_everything",
    "generator",
    "course_seed",
    "shifted",
    "unshifted_seeds",
    "fast_mode",
    "budget",
]

_DEVICE_OVERRIDE: str | None = None
_SEED_OVERRIDE: int | None = None
#: seeds a lesson picks (0, 1, 99, ...) are shifted by this many per unit of COURSE_SEED, far apart
#: enough that the shifted seeds of one lesson seed never meet those of another
SEED_STRIDE = 10_007
_VALID = ("cpu", "cuda", "mps")

T = TypeVar("T")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _check_name(name: str) -> str:
    kind = name.split(":")[0]
    if kind not in _VALID:
        raise ValueError(f"unknown device {name!r}: use one of {', '.join(_VALID)} (e.g. 'cuda:1')")
    if kind == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} was asked for, but this PyTorch sees no CUDA GPU")
    if kind == "mps" and not _mps_available():
        raise RuntimeError(f"device {name!r} was asked for, but Apple MPS is not available here")
    return name


def set_device(name: str | None) -> None:
    """Force a device for this process (``'cpu'``, ``'cuda'``, ``'cuda:1'``, ``'mps'``).

    ``None`` removes the override and returns to automatic choice.
    """
    global _DEVICE_OVERRIDE
    _DEVICE_OVERRIDE = None if name is None else _check_name(name)


def get_device() -> torch.device:
    """The device to compute on: the override, else CUDA, else MPS, else CPU.

    The override is :func:`set_device`, or the environment variable ``COURSE_DEVICE``.
    """
    name = _DEVICE_OVERRIDE or os.environ.get("COURSE_DEVICE") or None
    if name:
        return torch.device(_check_name(name))
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def course_seed() -> int:
    """The lesson seed: ``COURSE_SEED`` (default 0), or 0 inside :func:`unshifted_seeds`."""
    if _SEED_OVERRIDE is not None:
        return _SEED_OVERRIDE
    text = os.environ.get("COURSE_SEED", "").strip() or "0"
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"COURSE_SEED must be an integer, not {text!r}") from None


def shifted(seed: int) -> int:
    """``seed`` as the lesson seed shifts it: ``seed + SEED_STRIDE * course_seed()``."""
    return int(seed) + SEED_STRIDE * course_seed()


@contextmanager
def unshifted_seeds() -> Iterator[None]:
    """Inside this block seeds are not shifted by ``COURSE_SEED``: for measuring instruments
    (a classifier that scores every seed's samples must be the same classifier every time)."""
    global _SEED_OVERRIDE
    old, _SEED_OVERRIDE = _SEED_OVERRIDE, 0
    try:
        yield
    finally:
        _SEED_OVERRIDE = old


def generator(seed: int = 0) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``shifted(seed)``: the lessons' fixed draws of noise and data."""
    return torch.Generator().manual_seed(shifted(seed))


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (CPU and every GPU) with ``shifted(seed)``; return a CPU generator seeded alike.

    Two runs of the same notebook cell after the same ``seed_everything(s)`` give the same numbers
    on the same device. CUDA may still pick non-deterministic kernels; training on the CPU is exact.
    With ``COURSE_SEED=N`` every seed is shifted (see :func:`shifted`), so a whole lesson draws anew.
    """
    seed = shifted(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return torch.Generator().manual_seed(seed)


def fast_mode() -> bool:
    """True when ``COURSE_FAST`` is set to a true value (``1``, ``true``, ``yes``, ``on``)."""
    return os.environ.get("COURSE_FAST", "").strip().lower() in {"1", "true", "yes", "on"}


def budget(lecture: T, fast: T) -> T:
    """Pick a training budget: ``lecture`` normally, ``fast`` when fast mode is on.

    >>> epochs = budget(lecture=200, fast=3)
    """
    return fast if fast_mode() else lecture

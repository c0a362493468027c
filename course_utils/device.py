"""Where tensors live, how runs are made repeatable, and how long training lasts.

The only global state in the course lives here:

* the **device**: CUDA, then Apple MPS, then the CPU, unless ``COURSE_DEVICE`` or
  :func:`set_device` says otherwise;
* the **fast-mode flag**: ``COURSE_FAST=1`` scales every training budget down so that CI and
  the grader run a whole notebook in seconds. Notebooks ask :func:`budget` for their numbers.
"""

from __future__ import annotations

import os
import random
from typing import TypeVar

import numpy as np
import torch

__all__ = ["get_device", "set_device", "seed_everything", "fast_mode", "budget"]

_DEVICE_OVERRIDE: str | None = None
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


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (CPU and every GPU); return a CPU generator seeded alike.

    Two runs of the same notebook cell after the same ``seed_everything(s)`` give the same numbers
    on the same device. CUDA may still pick non-deterministic kernels; training on the CPU is exact.
    """
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

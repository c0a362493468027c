import random

import numpy as np
import pytest
import torch

from course_utils import device as dev


def test_cpu_when_nothing_else(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dev, "_mps_available", lambda: False)
    assert dev.get_device() == torch.device("cpu")


def test_cuda_first_then_mps(monkeypatch):
    monkeypatch.setattr(dev, "_mps_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert dev.get_device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert dev.get_device() == torch.device("mps")


def test_override_by_function_and_environment(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    try:
        dev.set_device("cpu")
        assert dev.get_device() == torch.device("cpu")
    finally:
        dev.set_device(None)
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert dev.get_device() == torch.device("cpu")


def test_override_rejects_unknown_or_missing_devices(monkeypatch):
    with pytest.raises(ValueError, match="unknown device"):
        dev.set_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="no CUDA"):
        dev.set_device("cuda")


def test_seed_everything_repeats_every_generator():
    def draw():
        g = dev.seed_everything(123)
        return random.random(), np.random.rand(), torch.rand(3), torch.rand(2, generator=g)

    a, b = draw(), draw()
    assert a[0] == b[0] and a[1] == b[1]
    assert torch.equal(a[2], b[2]) and torch.equal(a[3], b[3])
    dev.seed_everything(124)
    assert not torch.equal(torch.rand(3), a[2])


@pytest.mark.parametrize("value,expected", [("1", True), ("true", True), ("ON", True), ("0", False), ("", False)])
def test_fast_mode_flag(monkeypatch, value, expected):
    monkeypatch.setenv("COURSE_FAST", value)
    assert dev.fast_mode() is expected
    assert dev.budget(lecture=100, fast=3) == (3 if expected else 100)


def test_the_lesson_seed_shifts_every_seed(monkeypatch):
    from course_utils import device

    monkeypatch.delenv("COURSE_SEED", raising=False)
    base = torch.randn(3, generator=device.generator(5))
    assert device.course_seed() == 0 and device.shifted(5) == 5
    monkeypatch.setenv("COURSE_SEED", "2")
    assert device.course_seed() == 2 and device.shifted(5) == 5 + 2 * device.SEED_STRIDE
    assert not torch.equal(base, torch.randn(3, generator=device.generator(5)))
    device.seed_everything(5)
    shifted_draw = torch.rand(2)
    with device.unshifted_seeds():  # instruments draw the same under every lesson seed
        assert device.course_seed() == 0 and torch.equal(base, torch.randn(3, generator=device.generator(5)))
    assert device.course_seed() == 2
    torch.manual_seed(5)
    assert not torch.equal(shifted_draw, torch.rand(2))
    monkeypatch.setenv("COURSE_SEED", "two")
    with pytest.raises(ValueError, match="COURSE_SEED must be an integer"):
        device.course_seed()


def test_checkpoints_are_keyed_by_the_lesson_seed(monkeypatch):
    from course_utils import train

    monkeypatch.delenv("COURSE_SEED", raising=False)
    key = train.config_key("run", {"lr": 1})
    monkeypatch.setenv("COURSE_SEED", "1")
    assert train.config_key("run", {"lr": 1}) != key

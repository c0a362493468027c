"""Numbers that compare generative models."""

from __future__ import annotations

import math

__all__ = ["bits_per_dim"]


def bits_per_dim(nll_nats: float, dims: int) -> float:
    """Convert a negative log-likelihood per example (nats) into bits per dimension: nll / (D · ln 2)."""
    if dims <= 0:
        raise ValueError(f"dims must be positive, got {dims}")
    return nll_nats / (dims * math.log(2.0))

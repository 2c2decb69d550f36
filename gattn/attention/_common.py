"""Small helpers shared by the attention operators."""

from __future__ import annotations

from ..groups import SemidirectProduct
from ..nn.conv import stabiliser_of

__all__ = ["check_positive_int", "check_pooling", "stabiliser_of", "SemidirectProduct"]

POOLINGS = ("avg", "max")


def check_positive_int(name: str, value: int, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_pooling(pooling) -> tuple[str, ...]:
    pooling = (pooling,) if isinstance(pooling, str) else tuple(pooling)
    if not pooling or any(p not in POOLINGS for p in pooling) or len(set(pooling)) != len(pooling):
        raise ValueError(
            f"pooling must be a non-empty subset of {POOLINGS} without repeats, got {pooling!r}"
        )
    return pooling

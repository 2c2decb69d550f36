"""Small helpers shared by the attention operators."""

from __future__ import annotations

from ..nn.conv import stabiliser_of

__all__ = ["POOLINGS", "check_pooling", "stabiliser_of"]

#: the spatial statistics a channel attention pools (one vocabulary with gattn.nn's pooling)
POOLINGS = ("mean", "max")


def check_pooling(pooling) -> tuple[str, ...]:
    """``pooling`` validated: a non-empty subset of :data:`POOLINGS` without repeats.

    Args:
        pooling: one name or a sequence of names.

    Returns:
        The names as a tuple.

    Raises:
        ValueError: an unknown name (``"avg"``: use ``"mean"``), none, or a repeat.
    """
    pooling = (pooling,) if isinstance(pooling, str) else tuple(pooling)
    if "avg" in pooling:
        raise ValueError(
            f"pooling {pooling!r}: 'avg' is spelled 'mean' in gattn; use a subset of {POOLINGS}"
        )
    if not pooling or any(p not in POOLINGS for p in pooling) or len(set(pooling)) != len(pooling):
        raise ValueError(
            f"pooling must be a non-empty subset of {POOLINGS} without repeats, got {pooling!r}"
        )
    return pooling

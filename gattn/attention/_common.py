"""Small helpers shared by the attention operators."""

from __future__ import annotations

from ..groups import GroupSignal, Image, PairSignal, finite_tables, stabiliser_of

__all__ = [
    "POOLINGS",
    "check_pooling",
    "finite_stabiliser",
    "planar_stabiliser",
    "signal_layout",
    "pair_layout",
    "spatial_axes",
]


def finite_stabiliser(group):
    r"""``(H, |H|, d)`` of an affine group :math:`\mathbb{R}^d \rtimes H` (or of :math:`H`
    alone), :math:`H` finite and :math:`d \in \{1, 2, 3\}`.

    Raises:
        TypeError: ``group`` is not an affine / matrix group. ValueError: :math:`H` is not
            finite, or :math:`d \notin \{1, 2, 3\}`.
    """
    stab = stabiliser_of(group, finite=True, dims=(1, 2, 3))
    return stab, finite_tables(stab).order, stab.action_dim


def planar_stabiliser(group, what: str):
    r"""The finite stabiliser of a group acting on the plane, for the 2-D-only prior attention
    modules (docs/special_cases.md).

    Args:
        group: :math:`\mathbb{R}^2 \rtimes H`, finite :math:`H`.
        what: the module's name, for the message.

    Raises:
        ValueError: :math:`H` acts on :math:`\mathbb{R}^d` with :math:`d \ne 2`, or is not
            finite. TypeError: ``group`` is not an affine / matrix group.
    """
    stab = stabiliser_of(group, finite=True)
    if stab.action_dim != 2:
        raise ValueError(
            f"{what} is 2-D only (images, R^2 x| H), but group {group.name} acts on "
            f"R^{stab.action_dim}; for d = 1 or 3 use the attentive layers' attention modes "
            f"('input', 'codomain', 'full', ...; docs/attention.md)"
        )
    return stab


def spatial_axes(dims: int) -> tuple[int, ...]:
    """The last ``dims`` axes, ``(-dims, ..., -1)``: the spatial axes of any layout."""
    return tuple(range(-dims, 0))


def signal_layout(stab, dims: int, channels: int | None, lifting: bool):
    """``Image(dims, channels)`` for a spatial signal, else ``GroupSignal(H, dims, channels)``."""
    return Image(dims, channels) if lifting else GroupSignal(stab, dims, channels)


def pair_layout(stab, dims: int, lifting: bool) -> PairSignal:
    """``PairSignal(H, dims, lifting)``: what a pair operator reads."""
    return PairSignal(stab, dims, lifting)


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

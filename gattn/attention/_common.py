"""Small helpers shared by the attention operators."""

from __future__ import annotations

from torch import Tensor

from ..groups import (
    GroupSignal,
    Image,
    PairSignal,
    finite_tables,
    relative_sample_features,
    stabiliser_of,
)
from ..nn.fields import FieldConfig
from ..nn.samples import HSamples, optional_samples

__all__ = [
    "POOLINGS",
    "check_pooling",
    "finite_stabiliser",
    "operator_stabiliser",
    "check_field",
    "relative_features",
    "haar_measure",
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


def operator_stabiliser(group, samples, what: str):
    r"""``(H, N, d, samples)`` of an attention operator's group: all of a finite :math:`H`
    (``samples=None``, ``N = |H|``, today's index tables) or the ``N`` samples of any
    :math:`H` (continuous or finite; docs/continuous.md), :math:`d \in \{1, 2, 3\}`.

    Args:
        group: :math:`\mathbb{R}^d \rtimes H` (or :math:`H` alone).
        samples: ``None``, or what :func:`gattn.nn.as_samples` takes: a shared
            :class:`~gattn.nn.HSamples` (the layer's), a number of samples or a tensor of
            elements.
        what: the operator's name, for the messages.

    Returns:
        ``(H, N, d, samples)`` with ``samples`` an :class:`~gattn.nn.HSamples` or ``None``.

    Raises:
        TypeError: ``group`` is not an affine / matrix group, or ``samples`` of a wrong type.
        ValueError: a continuous :math:`H` without ``samples``; samples of another group;
            :math:`d \notin \{1, 2, 3\}`.
    """
    stab = stabiliser_of(group, dims=(1, 2, 3))
    samples = optional_samples(group, samples, what)
    if samples is None:
        stab, order, d = finite_stabiliser(group)
        return stab, order, d, None
    return stab, samples.order, stab.action_dim, samples


def check_field(field) -> FieldConfig:
    """``field`` or the default :class:`~gattn.nn.FieldConfig` (``None``).

    Raises:
        TypeError: neither a :class:`~gattn.nn.FieldConfig` nor ``None``.
    """
    if field is None:
        return FieldConfig()
    if not isinstance(field, FieldConfig):
        raise TypeError(f"field must be a gattn.nn.FieldConfig or None, got {type(field).__name__}")
    return field


def relative_features(samples: HSamples) -> Tensor:
    r"""``(N, N, F)`` float64: :math:`\mathrm{features}(h_i^{-1} h_j)` of the samples (the
    input of the fields that replace a finite :math:`H`'s relative index table)."""
    return relative_sample_features(samples.stabiliser, samples.elements)


def haar_measure(samples: HSamples) -> Tensor:
    r"""``(N,)`` float64: :math:`\mu_j`, the Haar weights of :math:`H` itself at the samples
    (``samples.weights`` times :math:`|\det A(h_j)|`): the measure of a convolution over
    :math:`H` alone (docs/continuous.md)."""
    return samples.haar_measure


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


def signal_layout(stab, dims: int, channels: int | None, lifting: bool, samples=None):
    """``Image(dims, channels)`` for a spatial signal, else ``GroupSignal(H, dims, channels,
    samples=samples)``."""
    return Image(dims, channels) if lifting else GroupSignal(stab, dims, channels, samples=samples)


def pair_layout(stab, dims: int, lifting: bool, samples=None) -> PairSignal:
    """``PairSignal(H, dims, lifting, samples=samples)``: what a pair operator reads."""
    return PairSignal(stab, dims, lifting, samples=samples)


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

r"""Patches of a padded tensor (im2col) and the adjoint (col2im), in 1, 2 or 3 dimensions.

For a zero-padded tensor ``xp`` whose last ``d`` axes are spatial (``d`` in ``{1, 2, 3}``), the
patch of output position :math:`o` at kernel offset :math:`q` is

.. math:: P[\ldots, q, o] = x_p[\ldots,\; s\,o + \delta\,q],

with stride :math:`s` and dilation :math:`\delta` per axis; offsets :math:`q` and positions
:math:`o` are flattened row-major (the order of ``conv2d`` weights and of ``F.unfold``).
:func:`col2im` is the adjoint (sum of each patch back onto the pixels it read), i.e. the
gradient of :func:`im2col`. :func:`patch_view` is the same patches as a zero-copy strided view
``(*lead, *out, *kernel)``. Used by the lean attentive convolution
(:mod:`gattn.ops.lean_attention`) and by local self-attention (:mod:`gattn.ops.local_attention`);
see docs/attention.md.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from ..groups.validation import check_int

__all__ = ["output_size", "patch_view", "im2col", "col2im"]


def _per_axis(name: str, value: int | Sequence[int], d: int, minimum: int) -> tuple[int, ...]:
    """``value`` as one integer per spatial axis (an int is repeated), validated."""
    values = (value,) * d if isinstance(value, int) else tuple(value)
    if len(values) != d:
        raise ValueError(f"{name} must be an integer or {d} integers, got {name}={value!r}")
    for v in values:
        check_int(name, v, minimum)
    return values


def _dims(shape: Sequence[int]) -> int:
    d = len(shape)
    if d not in (1, 2, 3):
        raise ValueError(f"1, 2 or 3 spatial dimensions are supported, got out_shape={shape!r}")
    return d


def output_size(n: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1):
    """The length of a correlation's output along one axis,
    ``(n + 2 padding - dilation (kernel_size - 1) - 1) // stride + 1`` (as ``conv2d``)."""
    return (n + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


def _slices(q: Sequence[int], out: Sequence[int], stride, dilation) -> tuple[slice, ...]:
    """The strided slices of the padded tensor read at kernel offset ``q``."""
    return tuple(
        slice(dl * qi, dl * qi + s * (o - 1) + 1, s)
        for qi, o, s, dl in zip(q, out, stride, dilation)
    )


def _window(out_shape, kernel_size, stride, dilation):
    """``(d, k, s, dl)``: the number of spatial axes and the per-axis kernel size, stride and
    dilation, each checked (shared by :func:`patch_view`, :func:`im2col` and :func:`col2im`)."""
    d = _dims(out_shape)
    k = _per_axis("kernel_size", kernel_size, d, 1)
    s = _per_axis("stride", stride, d, 1)
    dl = _per_axis("dilation", dilation, d, 1)
    return d, k, s, dl


def patch_view(
    xp: Tensor,
    kernel_size: int | Sequence[int],
    out_shape: Sequence[int],
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
) -> Tensor:
    """Every patch of ``xp`` as a strided view (no copy).

    Args:
        xp: the padded tensor ``(*lead, *spatial)``, ``d = len(out_shape)`` spatial axes.
        kernel_size: ``k`` per axis (an int for all axes).
        out_shape: the output positions per axis (:func:`output_size`).
        stride, dilation: per axis (an int for all axes).

    Returns:
        ``(*lead, *out_shape, *kernel_size)``, a view of ``xp``.

    Raises:
        ValueError: ``d`` not in ``{1, 2, 3}`` or bad sizes.
    """
    d, k, s, dl = _window(out_shape, kernel_size, stride, dilation)
    lead = xp.dim() - d
    sizes = tuple(xp.shape[:lead]) + tuple(out_shape) + k
    st = xp.stride()
    strides = (
        st[:lead]
        + tuple(st[lead + i] * s[i] for i in range(d))
        + tuple(st[lead + i] * dl[i] for i in range(d))
    )
    return xp.as_strided(sizes, strides)  # the storage offset of xp is kept


def im2col(
    xp: Tensor,
    kernel_size: int | Sequence[int],
    out_shape: Sequence[int],
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
) -> Tensor:
    """Patches of a padded tensor, kernel offsets before positions.

    Args:
        xp: the padded tensor ``(*lead, *spatial)``, ``d = len(out_shape)`` spatial axes.
        kernel_size: ``k`` per axis (an int for all axes).
        out_shape: the output positions per axis (:func:`output_size`).
        stride, dilation: per axis (an int for all axes).

    Returns:
        ``(*lead, prod(kernel_size), prod(out_shape))`` (a new tensor).

    Raises:
        ValueError: ``d`` not in ``{1, 2, 3}`` or bad sizes.
    """
    d, k, s, dl = _window(out_shape, kernel_size, stride, dilation)
    lead = xp.shape[: xp.dim() - d]
    # one strided slice per kernel offset, stacked: the fastest layout on the CPU
    cols = [xp[(..., *_slices(q, out_shape, s, dl))] for q in itertools.product(*map(range, k))]
    return torch.stack(cols, len(lead)).reshape(*lead, math.prod(k), math.prod(out_shape))


def col2im(
    cols: Tensor,
    kernel_size: int | Sequence[int],
    out_shape: Sequence[int],
    padded_shape: Sequence[int],
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
) -> Tensor:
    """Adjoint of :func:`im2col`: every patch summed back onto the pixels it was read from.

    Args:
        cols: ``(*lead, prod(kernel_size), prod(out_shape))``.
        kernel_size, out_shape, stride, dilation: as given to :func:`im2col`.
        padded_shape: the spatial shape of the padded tensor.

    Returns:
        ``(*lead, *padded_shape)``.

    Raises:
        ValueError: ``d`` not in ``{1, 2, 3}``, bad sizes, or ``padded_shape`` of another
            dimension than ``out_shape``.
    """
    d, k, s, dl = _window(out_shape, kernel_size, stride, dilation)
    if len(padded_shape) != d:
        raise ValueError(
            f"padded_shape must have {d} axes like out_shape={tuple(out_shape)}, "
            f"got padded_shape={tuple(padded_shape)}"
        )
    lead = cols.shape[:-2]
    out = cols.new_zeros(*lead, *padded_shape)
    cols = cols.reshape(*lead, cols.shape[-2], *out_shape)
    axis = len(lead)
    for i, q in enumerate(itertools.product(*map(range, k))):
        out[(..., *_slices(q, out_shape, s, dl))] += cols.select(axis, i)
    return out

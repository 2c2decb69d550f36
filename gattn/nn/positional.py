r"""Relative positional encodings for group self-attention.

The encodings of :mod:`gattn.nn.self_attention` are functions of the *relative group element*
between a query :math:`(x_i, h)` and a key :math:`(x_j, \hat h)`,

.. math::

    (x_i, h)^{-1} (x_j, \hat h) = \bigl(A(h)^{-1}(x_j - x_i),\; h^{-1}\hat h\bigr),

which is invariant under left multiplication of both by any :math:`g \in G`. This module
builds the *smooth features* of these relative elements (the rotated offset, :math:`d`
coordinates on :math:`\mathbb{R}^d`, and the features of :math:`h^{-1}\hat h` — for a matrix
group the flattened matrix :math:`A(h^{-1}\hat h)`, never raw angles) from the stabiliser's
tables (``gattn.groups.finite_tables``), and the MLP :math:`\rho` that maps them to per-channel
encodings. For a continuous (or sampled) :math:`H` the same features are computed from its
samples :math:`h_i` (``samples=``; docs/continuous.md).

Offsets follow the lattice coordinates of docs/maths.md (``gattn.groups.pixel_coordinates``):
:math:`\Delta x` grows along the last tensor axis, :math:`\Delta y` grows *upwards* (against the
second-to-last axis, d >= 2), :math:`\Delta z` grows along the depth axis (d = 3). Spatial
shapes are given in tensor-axis order ``(X,)``, ``(Y, X)`` or ``(Z, Y, X)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..groups import MatrixGroup, finite_tables, relative_sample_features

__all__ = [
    "RelativePositionMLP",
    "patch_offsets",
    "global_offsets",
    "relative_offset_index",
    "relative_position_features",
    "relative_group_features",
    "inverse_matrices",
]


def _check_shape(shape: Sequence[int]) -> tuple[int, ...]:
    if len(shape) not in (1, 2, 3) or any(
        not isinstance(n, int) or isinstance(n, bool) or n < 1 for n in shape
    ):
        raise ValueError(f"shape must be 1 to 3 positive integers (spatial sizes), got {shape!r}")
    return tuple(shape)


def _coordinates(axis_offsets: Sequence[Tensor]) -> Tensor:
    """Per-axis index differences (tensor-axis order) -> lattice offsets ``(..., d)`` in
    coordinate order ``(x, y, z)``: the last axis is x, the one before it y (negated: y up)."""
    mesh = list(torch.meshgrid(*axis_offsets, indexing="ij"))
    if len(mesh) >= 2:
        mesh[-2] = -mesh[-2]
    return torch.stack(mesh[::-1], -1)


def patch_offsets(patch_size: int, dims: int = 2, dtype=torch.float64, device=None) -> Tensor:
    r"""Offsets of a neighbourhood of :math:`p^d` positions in the order of
    :func:`gattn.ops.im2col.patch_view` (row-major over the patch axes).

    Args:
        patch_size: the odd patch size ``p``.
        dims: spatial dimensions ``d`` (1, 2 or 3).
        dtype, device: of the result.

    Returns:
        ``(p^d, d)``; for ``d = 2`` entry ``a * p + b`` is :math:`(b - r,\; r - a)`,
        :math:`r = (p-1)/2` (x along the columns, y up).
    """
    if dims not in (1, 2, 3) or isinstance(dims, bool):
        raise ValueError(f"dims must be 1, 2 or 3 (spatial dimensions), got dims={dims!r}")
    r = (patch_size - 1) // 2
    a = torch.arange(patch_size, dtype=dtype, device=device) - r
    return _coordinates([a] * dims).reshape(-1, dims)


def global_offsets(*shape: int, dtype=torch.float64, device=None) -> Tensor:
    r"""Every offset between two positions of a signal of spatial shape ``shape``.

    Args:
        shape: the spatial sizes ``(X,)``, ``(Y, X)`` or ``(Z, Y, X)``.
        dtype, device: of the result.

    Returns:
        ``(prod(2 S_a - 1), d)``, row-major over the per-axis index differences
        :math:`\delta_a + S_a - 1`; for ``d = 2`` entry ``a * (2X-1) + b`` is the offset with row
        difference :math:`a - (Y-1)` and column difference :math:`b - (X-1)`, i.e.
        :math:`(\Delta x, \Delta y) = (b - (X-1),\; (Y-1) - a)`.

    Raises:
        ValueError: ``shape`` is not 1 to 3 positive integers.
    """
    shape = _check_shape(shape)
    axes = [torch.arange(2 * n - 1, dtype=dtype, device=device) - (n - 1) for n in shape]
    return _coordinates(axes).reshape(-1, len(shape))


def relative_offset_index(*shape: int, device=None) -> Tensor:
    """``(N, N)`` int64, ``N = prod(shape)``: the row of :func:`global_offsets` holding
    :math:`x_j - x_i` for query position ``i`` and key position ``j`` (flattened row-major).

    Raises:
        ValueError: ``shape`` is not 1 to 3 positive integers.
    """
    shape = _check_shape(shape)
    pos = torch.meshgrid(*[torch.arange(n, device=device) for n in shape], indexing="ij")
    index = None
    for p, n in zip(pos, shape):
        p = p.reshape(-1)
        diff = p[None, :] - p[:, None] + (n - 1)
        index = diff if index is None else index * (2 * n - 1) + diff
    return index


def inverse_matrices(stabiliser: MatrixGroup, samples: Tensor | None = None) -> Tensor:
    r"""``(N, d, d)`` float64: :math:`A(h)^{-1} = A(h^{-1})` for every element of a finite
    :math:`H` (``samples=None``, exact from ``finite_tables``, ``H.grid()`` order) or for the
    samples ``(N, *element_shape)`` of any :math:`H` (docs/continuous.md)."""
    if samples is None:
        tables = finite_tables(stabiliser)
        return tables.matrices[tables.inverses]
    return stabiliser.matrix(stabiliser.inverse(samples), dtype=torch.float64).to(torch.float64)


def relative_position_features(
    stabiliser: MatrixGroup,
    offsets: Tensor,
    group_part: bool,
    scale: float = 1.0,
    samples: Tensor | None = None,
) -> Tensor:
    r"""Smooth features of the relative elements :math:`(A(h)^{-1}\Delta, h^{-1}\hat h)`.

    Args:
        stabiliser: the matrix group :math:`H` acting on :math:`\mathbb{R}^d`; for a finite
            one without ``samples`` its matrices, inverses and relative table come from
            ``finite_tables(stabiliser)`` (``H.grid()`` order).
        offsets: ``(P, d)`` offsets :math:`\Delta` (dtype/device of the result).
        group_part: append the features of :math:`h^{-1}\hat h` (group self-attention) or not
            (lifting self-attention).
        scale: the offsets are divided by it (keeps the MLP inputs of order one).
        samples: ``(N, *element_shape)`` samples :math:`h_i` of any :math:`H` (continuous or
            finite) instead of all of a finite :math:`H` (docs/continuous.md).

    Returns:
        ``(N, G, P, F)`` with ``G = N, F = d + d_H`` (group part) or ``G = 1, F = d``:
        ``[h, \hat h, p] = (A(h)^{-1}\Delta_p / s,\; \mathrm{features}(h^{-1}\hat h))``, the
        features of :meth:`~gattn.groups.Group.features` (flattened :math:`A` for matrix groups);
        ``N = |H|`` or the number of samples.

    Raises:
        ValueError: ``offsets`` do not have ``d`` coordinates.
    """
    dtype, device = offsets.dtype, offsets.device
    inv = inverse_matrices(stabiliser, samples)  # A(h)^{-1} = A(h^{-1})
    n, dims = inv.shape[0], inv.shape[-1]
    if offsets.dim() != 2 or offsets.shape[-1] != dims:
        raise ValueError(
            f"offsets must be (P, {dims}) for {stabiliser.name} acting on R^{dims}, "
            f"got shape {tuple(offsets.shape)}"
        )
    inv = inv.to(offsets.device)
    coords = torch.einsum("hab,pb->hpa", inv, offsets.to(torch.float64)) / scale  # (|H|, P, d)
    if not group_part:
        return coords.unsqueeze(1).to(dtype=dtype, device=device)
    feats = relative_group_features(stabiliser, samples).to(coords.device)  # (|H|, |H|, d_H)
    p = offsets.shape[0]
    c = coords.unsqueeze(1).expand(n, n, p, dims)
    f = feats.unsqueeze(2).expand(n, n, p, feats.shape[-1])
    return torch.cat([c, f], -1).to(dtype=dtype, device=device)


def relative_group_features(stabiliser: MatrixGroup, samples: Tensor | None = None) -> Tensor:
    r"""``(N, N, d_H)`` float64: the features of :math:`h_i^{-1} h_j` — for all of a finite
    :math:`H` (``samples=None``) the element at index ``finite_tables(stabiliser).relative[i,
    j]`` of ``H.grid()``; for samples ``(N, *element_shape)`` of any :math:`H` the product
    :math:`h_i^{-1} h_j` of the interface (docs/continuous.md)."""
    if samples is None:
        tables = finite_tables(stabiliser)
        return stabiliser.features(tables.elements[tables.relative]).to(torch.float64)
    return relative_sample_features(stabiliser, samples)


class RelativePositionMLP(nn.Module):
    r"""The positional encoding :math:`\rho`: a two-layer MLP of smooth relative features,

    .. math:: \rho(u) = W_2\, \sigma(W_1 u + b_1) + b_2, \qquad \sigma = \mathrm{SiLU}.

    Args:
        in_features: feature size ``F`` (``d`` for lifting, ``d + d_H`` for group
            self-attention on :math:`\mathbb{R}^d \rtimes H`).
        out_channels: the encoding size (heads times head dimension).
        hidden: hidden width.

    Shapes:
        ``(..., F) -> (..., out_channels)``.
    """

    def __init__(
        self, in_features: int, out_channels: int, hidden: int = 16, device=None, dtype=None
    ) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.fc1 = nn.Linear(in_features, hidden, **kw)
        self.fc2 = nn.Linear(hidden, out_channels, **kw)
        self.act = nn.SiLU()

    def forward(self, u: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(u)))

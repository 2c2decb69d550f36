r"""Relative positional encodings for group self-attention.

The encodings of :mod:`gattn.nn.self_attention` are functions of the *relative group element*
between a query :math:`(x_i, h)` and a key :math:`(x_j, \hat h)`,

.. math::

    (x_i, h)^{-1} (x_j, \hat h) = \bigl(A(h)^{-1}(x_j - x_i),\; h^{-1}\hat h\bigr),

which is invariant under left multiplication of both by any :math:`g \in G`. This module
builds the *smooth features* of these relative elements (the rotated offset and the flattened
matrix :math:`A(h^{-1}\hat h)`, never raw angles) from the stabiliser's tables, and the MLP
:math:`\rho` that maps them to per-channel encodings.

Offsets follow docs/maths.md, conventions: :math:`\Delta x` grows with the column,
:math:`\Delta y` grows *upwards* (decreasing row index).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..groups import FiniteGroup, finite_tables

__all__ = [
    "RelativePositionMLP",
    "patch_offsets",
    "global_offsets",
    "relative_offset_index",
    "relative_position_features",
]


def patch_offsets(patch_size: int, dtype=torch.float64, device=None) -> Tensor:
    r"""Offsets :math:`(\Delta x, \Delta y)` of a :math:`p \times p` neighbourhood in
    ``F.unfold`` order (row-major over the patch), y pointing up.

    Returns:
        ``(p^2, 2)``: entry ``a * p + b`` is :math:`(b - r,\; r - a)`, :math:`r = (p-1)/2`.
    """
    r = (patch_size - 1) // 2
    a = torch.arange(patch_size, dtype=dtype, device=device)
    rows, cols = torch.meshgrid(a, a, indexing="ij")
    return torch.stack([cols - r, r - rows], -1).reshape(-1, 2)


def global_offsets(height: int, width: int, dtype=torch.float64, device=None) -> Tensor:
    r"""Every offset between two pixels of a ``height x width`` image.

    Returns:
        ``((2Y-1)(2X-1), 2)``: entry ``a * (2X-1) + b`` is the offset with row difference
        :math:`a - (Y-1)` and column difference :math:`b - (X-1)`, i.e.
        :math:`(\Delta x, \Delta y) = (b - (X-1),\; (Y-1) - a)`.
    """
    rows = torch.arange(2 * height - 1, dtype=dtype, device=device) - (height - 1)
    cols = torch.arange(2 * width - 1, dtype=dtype, device=device) - (width - 1)
    dr, dc = torch.meshgrid(rows, cols, indexing="ij")
    return torch.stack([dc, -dr], -1).reshape(-1, 2)


def relative_offset_index(height: int, width: int, device=None) -> Tensor:
    """``(N, N)`` int64, ``N = Y*X``: the row of :func:`global_offsets` holding
    :math:`x_j - x_i` for query pixel ``i`` and key pixel ``j`` (flattened row-major)."""
    r = torch.arange(height, device=device)
    c = torch.arange(width, device=device)
    rr, cc = torch.meshgrid(r, c, indexing="ij")
    rr, cc = rr.reshape(-1), cc.reshape(-1)
    dr = rr[None, :] - rr[:, None] + (height - 1)
    dc = cc[None, :] - cc[:, None] + (width - 1)
    return dr * (2 * width - 1) + dc


def relative_position_features(
    stabiliser: FiniteGroup,
    offsets: Tensor,
    group_part: bool,
    relative: Tensor | None = None,
    scale: float = 1.0,
) -> Tensor:
    r"""Smooth features of the relative elements :math:`(A(h)^{-1}\Delta, h^{-1}\hat h)`.

    Args:
        stabiliser: the finite group :math:`H` acting on :math:`\mathbb{R}^2`.
        offsets: ``(P, 2)`` offsets :math:`\Delta` (dtype/device of the result).
        group_part: append the features of :math:`h^{-1}\hat h` (group self-attention) or not
            (lifting self-attention).
        relative: ``(|H|, |H|)`` index table of :math:`h^{-1}\hat h`; defaults to
            ``finite_tables(stabiliser).relative`` (derived from the group's product).
        scale: the offsets are divided by it (keeps the MLP inputs of order one).

    Returns:
        ``(|H|, G, P, F)`` with ``G = |H|, F = 2 + d_H`` (group part) or ``G = 1, F = 2``:
        ``[h, \hat h, p] = (A(h)^{-1}\Delta_p / s,\; \mathrm{vec}\,A(h^{-1}\hat h))``.
    """
    dtype, device = offsets.dtype, offsets.device
    n = stabiliser.order
    mats = stabiliser.matrices(dtype=torch.float64)
    inv = mats[stabiliser.inverses]  # A(h)^{-1} = A(h^{-1}), exact from the tables
    coords = torch.einsum("hab,pb->hpa", inv, offsets.to(torch.float64)) / scale  # (|H|, P, 2)
    if not group_part:
        return coords.unsqueeze(1).to(dtype=dtype, device=device)
    rel = finite_tables(stabiliser).relative if relative is None else relative
    feats = stabiliser.features(rel.cpu()).to(torch.float64)  # (|H|, |H|, d_H)
    p = offsets.shape[0]
    c = coords.unsqueeze(1).expand(n, n, p, 2)
    f = feats.unsqueeze(2).expand(n, n, p, feats.shape[-1])
    return torch.cat([c, f], -1).to(dtype=dtype, device=device)


class RelativePositionMLP(nn.Module):
    r"""The positional encoding :math:`\rho`: a two-layer MLP of smooth relative features,

    .. math:: \rho(u) = W_2\, \sigma(W_1 u + b_1) + b_2, \qquad \sigma = \mathrm{SiLU}.

    Args:
        in_features: feature size ``F`` (2 for lifting, 2 + d_H for group self-attention).
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

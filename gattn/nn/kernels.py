r"""Precomputed transformations of filters by the stabiliser :math:`H`.

For :math:`h \in H` the transformed filter is :math:`[L_h \psi](y) = \psi(A(h)^{-1} y)` on the
spatial support, and for group filters also :math:`[L_h \psi](y, \tilde h) =
\psi(A(h)^{-1} y, h^{-1}\tilde h)`. When every :math:`A(h)` maps the kernel's pixel grid onto
itself (p4, p4m, ...) the transform is a pure gather with precomputed indices (exact, as in
GrouPy); otherwise it is bilinear interpolation by precomputed ``(k^2, k^2)`` matrices.

Only the :class:`~gattn.groups.MatrixGroup` interface is used: ``grid``, ``matrix``,
``product``, ``inverse``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..groups import MatrixGroup, pixel_coordinates

__all__ = ["KernelTransform", "relative_indices", "spatial_sampling"]

_TOL = 1e-9


def relative_indices(stabiliser: MatrixGroup) -> Tensor:
    r"""``(N, N)`` int64: ``rel[i, j]`` = index of :math:`h_i^{-1} h_j` (from the product table).

    Raises:
        ValueError: the stabiliser is not finite.
    """
    if not stabiliser.is_finite:
        raise ValueError(
            f"this layer needs a finite stabiliser H (a group axis of fixed length); "
            f"{stabiliser.name} is not finite — discretise it, e.g. SE2(n=8)"
        )
    grid = stabiliser.grid()
    return stabiliser.product(stabiliser.inverse(grid)[:, None], grid[None, :])


def spatial_sampling(stabiliser: MatrixGroup, size: int) -> tuple[Tensor, Tensor | None]:
    r"""Sampling of a ``size x size`` filter at :math:`A(h)^{-1} y` for every :math:`h`.

    Returns:
        ``(matrices, index)``: ``matrices`` ``(N, k^2, k^2)`` float64 with
        ``new[p] = sum_q matrices[h, p, q] * old[q]`` (bilinear, zero outside the support);
        ``index`` ``(N, k^2)`` int64 gather indices if every element maps the grid onto itself
        (then ``matrices`` are permutations), else ``None``.
    """
    grid = stabiliser.grid()
    a = stabiliser.matrix(grid, dtype=torch.float64)
    coords = pixel_coordinates(size, size).reshape(-1, 2)  # (k^2, 2) as (x, y)
    src = torch.einsum("nij,pj->npi", torch.linalg.inv(a), coords)  # (N, k^2, 2)
    col = src[..., 0] + (size - 1) / 2
    row = (size - 1) / 2 - src[..., 1]
    n, k2 = src.shape[0], size * size
    mats = torch.zeros(n, k2, k2, dtype=torch.float64)
    r0, c0 = row.floor(), col.floor()
    for dr in (0, 1):
        for dc in (0, 1):
            rr, cc = r0 + dr, c0 + dc
            w = (1 - (row - rr).abs()).clamp(min=0) * (1 - (col - cc).abs()).clamp(min=0)
            ok = (rr >= 0) & (rr < size) & (cc >= 0) & (cc < size) & (w > 0)
            q = (rr.clamp(0, size - 1) * size + cc.clamp(0, size - 1)).long()
            mats.scatter_add_(2, q.unsqueeze(-1), (w * ok).unsqueeze(-1))
    integral = ((row - row.round()).abs() <= _TOL) & ((col - col.round()).abs() <= _TOL)
    inside = (row.round() >= 0) & (row.round() < size) & (col.round() >= 0) & (col.round() < size)
    if bool((integral & inside).all()):
        index = (row.round() * size + col.round()).long()
        return mats, index
    return mats, None


class KernelTransform(torch.nn.Module):
    r"""Builds the filter bank :math:`\{L_h \psi\}_{h \in H}` in one batched op.

    Args:
        stabiliser: the finite group :math:`H`.
        kernel_size: spatial size ``k`` of the (square) filters.
        group_input: filters live on :math:`\mathbb{R}^2 \rtimes H` (group convolution) rather
            than :math:`\mathbb{R}^2` (lifting).
        weights: optional ``(N,)`` quadrature weights over the input group axis (Haar measure),
            folded into the bank.
    """

    def __init__(
        self,
        stabiliser: MatrixGroup,
        kernel_size: int,
        group_input: bool,
        weights: Tensor | None = None,
    ) -> None:
        super().__init__()
        rel = relative_indices(stabiliser)
        n = rel.shape[0]
        k2 = kernel_size * kernel_size
        mats, index = spatial_sampling(stabiliser, kernel_size)
        self.order = n
        self.kernel_size = kernel_size
        self.group_input = group_input
        self.exact = index is not None
        if group_input:
            if index is not None:
                # bank[h, h~, p] = psi[rel[h, h~], index[h, p]]  (flat over (|H|, k^2))
                flat = rel[:, :, None] * k2 + index[:, None, :]
                self.register_buffer("index", flat.reshape(-1), persistent=False)
            else:
                self.register_buffer("index", rel.reshape(-1), persistent=False)
        elif index is not None:
            self.register_buffer("index", index.reshape(-1), persistent=False)
        else:
            self.register_buffer("index", torch.empty(0, dtype=torch.long), persistent=False)
        self.register_buffer("sampling", mats, persistent=False)
        w = torch.ones(n, dtype=torch.float64) if weights is None else weights.double()
        self.register_buffer("haar", w, persistent=False)
        self._unit_haar = bool((w == 1).all())

    def forward(self, psi: Tensor) -> Tensor:
        r"""Transform filters.

        Args:
            psi: lifting ``(C_out, C_in, k, k)`` or group ``(C_out, C_in, |H|, k, k)``.

        Returns:
            ``(C_out * |H|, C_in, k, k)`` (lifting) or ``(C_out * |H|, C_in * |H|, k, k)``
            (group): the bank for one ``conv2d``, output channel ``c * |H| + h``.
        """
        n, k = self.order, self.kernel_size
        c_out, c_in = psi.shape[:2]
        if self.group_input:
            flat = psi.reshape(c_out, c_in, n * k * k)
            if self.exact:
                bank = flat.index_select(2, self.index).reshape(c_out, c_in, n, n, k * k)
            else:
                rel = psi.reshape(c_out, c_in, n, k * k).index_select(2, self.index)
                rel = rel.reshape(c_out, c_in, n, n, k * k)
                bank = torch.einsum("oihtq,hpq->oihtp", rel, self.sampling.to(psi.dtype))
            if not self._unit_haar:
                bank = bank * self.haar.to(psi.dtype)[:, None]
            bank = bank.permute(0, 2, 1, 3, 4)  # (C_out, |H|, C_in, |H~|, k^2)
            return bank.reshape(c_out * n, c_in * n, k, k)
        flat = psi.reshape(c_out, c_in, k * k)
        if self.exact:
            bank = flat.index_select(2, self.index).reshape(c_out, c_in, n, k * k)
        else:
            bank = torch.einsum("oiq,hpq->oihp", flat, self.sampling.to(psi.dtype))
        return bank.permute(0, 2, 1, 3).reshape(c_out * n, c_in, k, k)

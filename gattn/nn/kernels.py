r"""Precomputed transformations of filters by the stabiliser :math:`H`, in ``d = 1, 2, 3``.

For :math:`h \in H` the transformed filter is :math:`[L_h \psi](y) = \psi(A(h)^{-1} y)` on the
spatial support (``k`` points per axis, ``k^d`` in all), and for group filters also
:math:`[L_h \psi](y, \tilde h) = \psi(A(h)^{-1} y, h^{-1}\tilde h)` (docs/maths.md). When every
:math:`A(h)` maps the kernel's lattice points onto themselves (p1m, p4, p4m, the cube groups...)
the transform is a pure gather with precomputed indices (exact, as in GrouPy); otherwise it is
multilinear interpolation (linear, bilinear, trilinear; zero outside the support) by precomputed
``(k^d, k^d)`` matrices. :attr:`KernelTransform.exact` says which.

Only the group interface is used, through :func:`~gattn.groups.finite_tables` (the relative
table :math:`h^{-1}\tilde h`, the matrices :math:`A(h)`, which of them preserve the lattice) and
:func:`~gattn.groups.pixel_coordinates`; the layers are described in docs/layers.md.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor

from ..groups import MatrixGroup, finite_tables, pixel_coordinates, stabiliser_of
from ..groups.validation import check_int

__all__ = ["KernelTransform", "kernel_sampling"]

_TOL = 1e-9


def _positions(a: Tensor, size: int, d: int) -> Tensor:
    r"""Tensor indices ``(N, k^d, d)`` (float, tensor-axis order) of :math:`A(h)^{-1} y` for the
    kernel's points :math:`y`: :func:`~gattn.groups.sampling_positions` without translation,
    computed with one ``(N, d, d) x (k^d, d)`` contraction (the one gattn has always used, so
    the interpolated 2-D banks keep their last bits)."""
    coords = pixel_coordinates(*([size] * d)).reshape(-1, d)  # (k^d, d) as (x, y, z)
    src = torch.einsum("nij,pj->npi", torch.linalg.inv(a), coords)
    axes = []
    for axis in range(d):  # tensor axis ``axis`` holds coordinate d - 1 - axis; y points up
        c = src[..., d - 1 - axis]
        axes.append((size - 1) / 2 - c if d >= 2 and axis == d - 2 else c + (size - 1) / 2)
    return torch.stack(axes, -1)


def kernel_sampling(stabiliser: MatrixGroup, size: int) -> tuple[Tensor, Tensor | None]:
    r"""Sampling of a ``size^d`` filter at :math:`A(h)^{-1} y` for every :math:`h \in H`.

    Args:
        stabiliser: a finite matrix group :math:`H` acting on :math:`\mathbb{R}^d`,
            :math:`d \in \{1, 2, 3\}`.
        size: the filter size ``k`` along every axis.

    Returns:
        ``(matrices, index)``: ``matrices`` ``(N, k^d, k^d)`` float64 with
        ``new[p] = sum_q matrices[h, p, q] * old[q]`` (multilinear, zero outside the support;
        points flattened in tensor-axis order); ``index`` ``(N, k^d)`` int64 gather indices if
        every element maps the kernel's lattice points onto themselves (then ``matrices`` are
        permutations), else ``None``.

    Raises:
        TypeError / ValueError: ``stabiliser`` is not a finite matrix group acting on
            :math:`\mathbb{R}^d` with :math:`d \le 3`, or ``size`` is not a positive integer.
    """
    stab = stabiliser_of(stabiliser, finite=True, dims=(1, 2, 3))
    check_int("kernel_size", size, 1)
    tables = finite_tables(stab)
    d = stab.action_dim
    pos = _positions(tables.matrices, size, d)  # (N, k^d, d), tensor-axis order
    n, kd = pos.shape[0], size**d
    mats = torch.zeros(n, kd, kd, dtype=torch.float64)
    base = pos.floor()
    for corner in itertools.product((0, 1), repeat=d):  # 2^d corners, at construction only
        w = ok = q = None
        for axis in range(d):
            c = base[..., axis] + corner[axis]
            wa = (1 - (pos[..., axis] - c).abs()).clamp(min=0)
            oka = (c >= 0) & (c < size)
            qa = c.clamp(0, size - 1)
            w = wa if w is None else w * wa
            ok = oka if ok is None else ok & oka
            q = qa if q is None else q * size + qa
        ok = ok & (w > 0)
        mats.scatter_add_(2, q.long().unsqueeze(-1), (w * ok).unsqueeze(-1))
    rounded = pos.round()
    integral = ((pos - rounded).abs() <= _TOL).all(-1)
    inside = ((rounded >= 0) & (rounded < size)).all(-1)
    # for k >= 2 the kernel's points span Z^d, so mapping them onto themselves needs a
    # lattice-preserving A(h); a 1-point kernel is fixed by every element
    lattice = size == 1 or tables.all_lattice_preserving
    if lattice and bool((integral & inside).all()):
        flat = rounded[..., 0]
        for axis in range(1, d):
            flat = flat * size + rounded[..., axis]
        return mats, flat.long()
    return mats, None


class KernelTransform(torch.nn.Module):
    r"""Builds the filter bank :math:`\{L_h \psi\}_{h \in H}` in one batched op.

    Args:
        stabiliser: the finite group :math:`H` acting on :math:`\mathbb{R}^d`, ``d`` in
            ``{1, 2, 3}`` (any :class:`~gattn.groups.MatrixGroup` whose ``is_finite`` is true).
        kernel_size: spatial size ``k`` of the (cubic) filters, ``k^d`` points.
        group_input: filters live on :math:`\mathbb{R}^d \rtimes H` (group convolution) rather
            than :math:`\mathbb{R}^d` (lifting).
        weights: optional ``(N,)`` quadrature weights over the input group axis (Haar measure),
            folded into the bank.

    Attributes:
        exact: whether the bank is a pure gather (every element maps the kernel's lattice
            points onto themselves) rather than interpolated.
        dims: ``d``.

    Raises:
        TypeError / ValueError: see :func:`kernel_sampling`; ``weights`` of the wrong shape.
    """

    def __init__(
        self,
        stabiliser: MatrixGroup,
        kernel_size: int,
        group_input: bool,
        weights: Tensor | None = None,
    ) -> None:
        super().__init__()
        mats, index = kernel_sampling(stabiliser, kernel_size)
        stab = stabiliser_of(stabiliser, finite=True, dims=(1, 2, 3))
        rel = finite_tables(stab).relative
        n = rel.shape[0]
        d = stab.action_dim
        kd = kernel_size**d
        self.order = n
        self.dims = d
        self.kernel_size = kernel_size
        self.group_input = bool(group_input)
        self.exact = index is not None
        if group_input:
            if index is not None:
                # bank[h, h~, p] = psi[rel[h, h~], index[h, p]]  (flat over (|H|, k^d))
                flat = rel[:, :, None] * kd + index[:, None, :]
                self.register_buffer("index", flat.reshape(-1), persistent=False)
            else:
                self.register_buffer("index", rel.reshape(-1), persistent=False)
        elif index is not None:
            self.register_buffer("index", index.reshape(-1), persistent=False)
        else:
            self.register_buffer("index", torch.empty(0, dtype=torch.long), persistent=False)
        self.register_buffer("sampling", mats, persistent=False)
        w = torch.ones(n, dtype=torch.float64) if weights is None else weights.double()
        if w.shape != (n,):
            raise ValueError(
                f"weights must have shape ({n},) (one per element of H), got {tuple(w.shape)}"
            )
        self.register_buffer("haar", w, persistent=False)
        self._unit_haar = bool((w == 1).all())

    def forward(self, psi: Tensor) -> Tensor:
        r"""Transform filters.

        Args:
            psi: lifting ``(C_out, C_in, *k^d)`` or group ``(C_out, C_in, |H|, *k^d)``.

        Returns:
            ``(C_out * |H|, C_in, *k^d)`` (lifting) or ``(C_out * |H|, C_in * |H|, *k^d)``
            (group): the bank for one ``conv{d}d``, output channel ``c * |H| + h``.
        """
        n, k, d = self.order, self.kernel_size, self.dims
        kd = k**d
        c_out, c_in = psi.shape[:2]
        if self.group_input:
            flat = psi.reshape(c_out, c_in, n * kd)
            if self.exact:
                bank = flat.index_select(2, self.index).reshape(c_out, c_in, n, n, kd)
            else:
                rel = psi.reshape(c_out, c_in, n, kd).index_select(2, self.index)
                rel = rel.reshape(c_out, c_in, n, n, kd)
                bank = torch.einsum("oihtq,hpq->oihtp", rel, self.sampling.to(psi.dtype))
            if not self._unit_haar:
                bank = bank * self.haar.to(psi.dtype)[:, None]
            bank = bank.permute(0, 2, 1, 3, 4)  # (C_out, |H|, C_in, |H~|, k^d)
            return bank.reshape(c_out * n, c_in * n, *([k] * d))
        flat = psi.reshape(c_out, c_in, kd)
        if self.exact:
            bank = flat.index_select(2, self.index).reshape(c_out, c_in, n, kd)
        else:
            bank = torch.einsum("oiq,hpq->oihp", flat, self.sampling.to(psi.dtype))
        return bank.permute(0, 2, 1, 3).reshape(c_out * n, c_in, *([k] * d))

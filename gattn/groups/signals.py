r"""The action of group elements on signals over :math:`\mathbb{R}^d`, :math:`d \in \{1, 2, 3\}`.

For :math:`g = (t, h) \in \mathbb{R}^d \rtimes H`:

* spatial signals ``(B, C, *spatial)`` (1-D signals ``(B, C, X)``, images ``(B, C, Y, X)``,
  volumes ``(B, C, Z, Y, X)``): :math:`[L_g f](y) = f(A(h)^{-1}(y - t))`;
* group signals ``(B, C, |H|, *spatial)`` (finite :math:`H`):
  :math:`[L_g f](y, \tilde h) = f(A(h)^{-1}(y - t), h^{-1}\tilde h)` — the value at
  :math:`\tilde h` moves to :math:`h\tilde h`, the permutation read off the group's tables
  (:func:`~gattn.groups.finite_tables`).

Lattice coordinates (docs/maths.md, conventions), relative to the centre of the signal:
coordinate 0 is :math:`x`, growing with the last axis (columns), :math:`x = c - (X-1)/2`;
coordinate 1 is :math:`y`, growing *upwards* (against the rows), :math:`y = (Y-1)/2 - r`;
coordinate 2 is :math:`z`, growing with the depth axis, :math:`z = s - (Z-1)/2`. With this,
the rotation by +90° acts on images as ``torch.rot90(img, 1, dims=(-2, -1))`` and the mirror
``diag(-1, 1)`` as ``torch.flip(img, dims=(-1,))``.

An element is *grid-exact* for a given size when it maps lattice points onto lattice points
and the signal's support onto itself; then the action is a gather (no interpolation).
Otherwise it is multilinear interpolation with zero padding. :func:`is_grid_exact` says which
happens, and ``mode="exact"`` refuses to interpolate.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor

from .affine import SemidirectProduct, stabiliser_of
from .base import MatrixGroup
from .tables import element_indices, finite_tables

__all__ = [
    "pixel_coordinates",
    "sampling_positions",
    "is_grid_exact",
    "group_axis_source",
    "transform_image",
    "transform_signal",
    "disc_mask",
    "apply_group_element",
]

_EXACT_TOL = 1e-9
_MODES = ("auto", "exact", "interpolate")


def pixel_coordinates(*shape: int, dtype=torch.float64, device=None) -> Tensor:
    """Centre-relative lattice coordinates ``(*shape, d)`` of a ``d``-dimensional grid.

    Args:
        shape: the spatial sizes in tensor-axis order, ``(X,)``, ``(Y, X)`` or ``(Z, Y, X)``.

    Returns:
        ``(*shape, d)`` holding ``(x)``, ``(x, y)`` or ``(x, y, z)`` (y pointing up).
    """
    d = len(shape)
    if d not in (1, 2, 3) or any(not isinstance(s, int) or s < 1 for s in shape):
        raise ValueError(f"shape must be 1 to 3 positive integers, got {shape!r}")
    axes = [torch.arange(s, dtype=dtype, device=device) - (s - 1) / 2 for s in shape]
    if d >= 2:
        axes[-2] = -axes[-2]  # y grows upwards, against the rows
    mesh = torch.meshgrid(*axes, indexing="ij")  # tensor-axis order (z, y, x)
    return torch.stack(mesh[::-1], -1)  # coordinate order (x, y, z)


def _to_index(coords: Tensor, shape: Sequence[int]) -> Tensor:
    """Lattice coordinates ``(..., d)`` -> float tensor indices ``(..., d)`` in axis order."""
    d = len(shape)
    out = []
    for axis in range(d):  # axis 0 of the tensor is coordinate d - 1
        c = coords[..., d - 1 - axis]
        if d >= 2 and axis == d - 2:
            c = -c
        out.append(c + (shape[axis] - 1) / 2)
    return torch.stack(out, -1)


def sampling_positions(a: Tensor, shape: Sequence[int], t: Tensor | None = None) -> Tensor:
    r"""Where each lattice point of the output reads the input under :math:`L_g`:
    the tensor indices (float) of :math:`A^{-1}(y - t)` for every point :math:`y`.

    Args:
        a: ``(..., d, d)`` float64 matrices :math:`A(h)`.
        shape: the spatial sizes ``(X,)``, ``(Y, X)`` or ``(Z, Y, X)``.
        t: ``(..., d)`` translations (default 0).

    Returns:
        ``(..., prod(shape), d)`` float64 indices in tensor-axis order.
    """
    y = pixel_coordinates(*shape).reshape(-1, len(shape))  # (P, d)
    if t is not None:
        y = y - t.unsqueeze(-2)
    src = torch.einsum("...ij,...pj->...pi", torch.linalg.inv(a), y.expand(*a.shape[:-2], -1, -1))
    return _to_index(src, shape)


def _element(group: MatrixGroup, g: Tensor) -> tuple[Tensor, Tensor, MatrixGroup, Tensor]:
    """Translation ``(d,)``, matrix ``(d, d)`` float64, the stabiliser and the stabiliser part,
    for one element ``g`` of ``group``."""
    stab = stabiliser_of(group)
    group.validate(g, "g")
    if g.dim() != len(group.element_shape):
        raise ValueError(
            f"g must be a single element of {group.name} (shape {group.element_shape}), "
            f"got shape {tuple(g.shape)}"
        )
    if stab.action_dim not in (1, 2, 3):
        raise ValueError(f"{group.name} acts on R^{stab.action_dim}; signals need d in (1, 2, 3)")
    if isinstance(group, SemidirectProduct):
        t, h = group.split(g.detach().to("cpu", torch.float64))
    else:
        h = g.detach().cpu()
        t = torch.zeros(stab.action_dim, dtype=torch.float64)
    return t.double(), stab.matrix(h, dtype=torch.float64).cpu(), stab, h


@lru_cache(maxsize=512)
def _exact_index(key: tuple, shape: tuple[int, ...]) -> Tensor | None:
    d = len(shape)
    t = torch.tensor(key[:d], dtype=torch.float64)
    a = torch.tensor(key[d:], dtype=torch.float64).reshape(d, d)
    src = sampling_positions(a, shape, t)  # (P, d)
    if not bool(((src - src.round()).abs() <= _EXACT_TOL).all()):
        return None
    idx = src.round().long()
    size = torch.tensor(shape)
    inside = ((idx >= 0) & (idx < size)).all(-1)
    strides = torch.tensor([int(torch.tensor(shape[i + 1 :]).prod()) for i in range(d)])
    flat = (idx * strides).sum(-1)
    total = int(size.prod())
    # sources outside the support read the zero appended at index prod(shape)
    return torch.where(inside, flat, torch.full_like(flat, total))


def _key(t: Tensor, a: Tensor) -> tuple:
    return tuple(float(v) for v in torch.cat([t, a.reshape(-1)]).tolist())


def _sizes(size: int | Sequence[int], d: int) -> tuple[int, ...]:
    shape = (size,) * d if isinstance(size, int) else tuple(size)
    if len(shape) != d or any(
        not isinstance(s, int) or isinstance(s, bool) or s < 1 for s in shape
    ):
        raise ValueError(f"size must be a positive int or {d} positive ints, got size={size!r}")
    return shape


def is_grid_exact(group: MatrixGroup, g: Tensor, size: int | Sequence[int]) -> bool:
    """Whether ``g`` acts on signals of ``size`` by a pure permutation of lattice points (no
    interpolation, nothing moved outside the support).

    Args:
        group: an affine group :math:`\\mathbb{R}^d \\rtimes H` (or :math:`H` alone).
        g: one element.
        size: the spatial size, one int for every axis or ``d`` ints in axis order.
    """
    t, a, stab, _ = _element(group, g)
    shape = _sizes(size, stab.action_dim)
    idx = _exact_index(_key(t, a), shape)
    total = int(torch.tensor(shape).prod())
    if idx is None:
        return False
    return bool((idx < total).all()) and idx.unique().numel() == total


def _interpolate(x: Tensor, src: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Multilinear resampling of the last ``d`` axes of ``x`` at tensor indices ``src``."""
    d = len(shape)
    norm = [2 * src[..., i] / max(shape[i] - 1, 1) - 1 for i in range(d)]
    lead = x.shape[:-d]
    flat = x.reshape(1, -1, *shape)
    if d == 1:  # a 1-D signal is an image of height 1
        flat = flat.unsqueeze(-2)
        norm = [torch.zeros_like(norm[0])] + norm
        shape2: tuple[int, ...] = (1, shape[0])
    else:
        shape2 = shape
    grid = torch.stack(norm[::-1], -1).reshape(1, *shape2, len(shape2))
    out = F.grid_sample(
        flat,
        grid.to(device=x.device, dtype=x.dtype),
        mode="bilinear",
        padding_mode="zeros",
        align_corners=True,
    )
    return out.reshape(*lead, *shape)


def _spatial(group: MatrixGroup, g: Tensor, x: Tensor, mode: str, element=None) -> Tensor:
    """The spatial part of :math:`L_g` on the last ``d`` axes (``element``: ``_element(group,
    g)`` if the caller already has it)."""
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got mode={mode!r}")
    t, a, stab, _ = _element(group, g) if element is None else element
    d = stab.action_dim
    shape = tuple(x.shape[-d:])
    idx = None if mode == "interpolate" else _exact_index(_key(t, a), shape)
    if idx is not None:
        total = int(torch.tensor(shape).prod())
        flat = x.reshape(*x.shape[:-d], total)
        flat = torch.cat([flat, flat.new_zeros(*flat.shape[:-1], 1)], -1)
        return flat.index_select(-1, idx.to(x.device)).reshape(x.shape)
    if mode == "exact":
        raise ValueError(
            f"g = {g.tolist()} does not map the {'x'.join(map(str, shape))} lattice onto "
            f"itself; use mode='interpolate' (or 'auto') to resample"
        )
    return _interpolate(x, sampling_positions(a, shape, t), shape)


def _check_spatial(x: Tensor, d: int, lead: int, what: str) -> None:
    if not isinstance(x, Tensor) or x.dim() < d + lead:
        raise ValueError(
            f"x must be {what} with {d} spatial axes, got shape {tuple(getattr(x, 'shape', ()))}"
        )


def transform_image(group: MatrixGroup, g: Tensor, x: Tensor, mode: str = "auto") -> Tensor:
    """:math:`L_g` on spatial signals (the last ``d`` axes of ``x`` are space).

    Args:
        group: an affine group :math:`\\mathbb{R}^d \\rtimes H` (or :math:`H` alone),
            :math:`d \\in \\{1, 2, 3\\}`.
        g: one element of ``group``.
        x: ``(B, C, *spatial)`` (any leading dimensions work).
        mode: ``"auto"`` (gather if grid-exact, else interpolate), ``"exact"`` (raise if not
            grid-exact) or ``"interpolate"``.

    Returns:
        ``x`` transformed, same shape.
    """
    d = stabiliser_of(group).action_dim
    _check_spatial(x, d, 0, "a signal (..., *spatial)")
    return _spatial(group, g, x, mode)


def transform_signal(group: MatrixGroup, g: Tensor, x: Tensor, mode: str = "auto") -> Tensor:
    """:math:`L_g` on group signals ``x: (B, C, |H|, *spatial)`` over
    :math:`\\mathbb{R}^d \\rtimes H` with finite :math:`H` (group axis in ``H.grid()`` order).

    Returns:
        same shape: spatially transformed, the group axis permuted so that the value at
        :math:`\\tilde h` moves to :math:`h \\tilde h`.
    """
    stab = stabiliser_of(group, finite=True)
    d = stab.action_dim
    _check_spatial(x, d, 3, "a group signal (B, C, |H|, *spatial)")
    axis = x.dim() - d - 1
    tables = finite_tables(stab)
    if x.shape[axis] != tables.order:
        raise ValueError(
            f"x has group axis length {x.shape[axis]}, expected |H| = "
            f"{tables.order} for {stab.name} (axis {axis})"
        )
    element = _element(group, g)
    src = _group_axis_source(stab, element[3])
    permuted = x.index_select(axis, src.to(x.device))
    return _spatial(group, g, permuted, mode, element)


def _group_axis_source(stab: MatrixGroup, h: Tensor) -> Tensor:
    """``(|H|,)`` gather index of :math:`L_h` on a group axis: out[h~] = in[h^{-1} h~]."""
    tables = finite_tables(stab)
    return tables.relative[element_indices(stab, tables.elements, h, "g")]


def group_axis_source(group: MatrixGroup, g: Tensor) -> Tensor:
    """The permutation of a group axis (in ``H.grid()`` order) under :math:`g = (t, h)`: the
    ``(|H|,)`` int64 index ``src`` with ``out[..., j, ...] = in[..., src[j], ...]``, i.e. the
    value at :math:`\tilde h` moves to :math:`h\tilde h`.

    Raises:
        ValueError: :math:`H` is not finite, or ``g`` is not one element of ``group``.
    """
    stab = stabiliser_of(group, finite=True)
    return _group_axis_source(stab, _element(group, g)[3])


def disc_mask(*shape: int, device=None, dtype=torch.float32) -> Tensor:
    """``shape`` mask of the central disc / ball (radius ``min(shape)/2``) — outside it
    rotations by other angles move lattice points out of the support."""
    r2 = (pixel_coordinates(*shape, device=device) ** 2).sum(-1)
    return (r2 <= (min(shape) / 2) ** 2).to(dtype)


def apply_group_element(group: MatrixGroup, g: Tensor, x: Tensor, mode: str = "auto") -> Tensor:
    """:math:`L_g x` for ``x`` a spatial signal ``(B, C, *spatial)``, a group signal
    ``(B, C, |H|, *spatial)`` or an invariant ``(B, F)`` (returned unchanged), told apart by
    rank. Layers declare their layouts (:mod:`gattn.groups.layouts`), which is what the
    testing tools use; this function is a convenience for interactive use."""
    d = stabiliser_of(group).action_dim
    if x.dim() == d + 3:
        return transform_signal(group, g, x, mode)
    if x.dim() == d + 2:
        return transform_image(group, g, x, mode)
    if x.dim() == 2:
        return x
    raise ValueError(
        f"cannot apply an element of {group.name} (d = {d}) to a tensor of shape "
        f"{tuple(x.shape)}: expected (B, F) invariants, (B, C, *spatial) signals with {d} "
        f"spatial axes or (B, C, |H|, *spatial) group signals"
    )

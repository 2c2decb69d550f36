r"""The action of group elements on images and group signals.

For :math:`g = (t, h) \in \mathbb{R}^2 \rtimes H`:

* images ``(B, C, Y, X)``: :math:`[L_g f](y) = f(A(h)^{-1}(y - t))`;
* group signals ``(B, C, |H|, Y, X)`` (finite :math:`H`):
  :math:`[L_g f](y, \tilde h) = f(A(h)^{-1}(y - t), h^{-1}\tilde h)` — the value at
  :math:`\tilde h` moves to :math:`h\tilde h`, the permutation read off the Cayley table.

Pixel coordinates (docs/maths.md, conventions): x grows with the column, y grows *upwards*,
both relative to the image centre: :math:`x = c - (X-1)/2`, :math:`y = (Y-1)/2 - r`. With
this, the rotation by +90° acts as ``torch.rot90(img, 1, dims=(-2, -1))`` and the mirror
``diag(-1, 1)`` as ``torch.flip(img, dims=(-1,))``.

An element is *grid-exact* for a given image size when it maps pixel centres onto pixel
centres and the image onto itself; then the action is a gather (no interpolation).
Otherwise it is bilinear interpolation with zero padding. :func:`is_grid_exact` says which
happens, and ``mode="exact"`` refuses to interpolate.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor

from .affine import SemidirectProduct
from .base import MatrixGroup

__all__ = [
    "pixel_coordinates",
    "is_grid_exact",
    "transform_image",
    "transform_signal",
    "transform_points_index",
    "disc_mask",
    "apply_group_element",
]

_EXACT_TOL = 1e-9


def pixel_coordinates(height: int, width: int, dtype=torch.float64, device=None) -> Tensor:
    """Centre-relative coordinates ``(Y, X, 2)`` holding ``(x, y)``, y pointing up."""
    rows = torch.arange(height, dtype=dtype, device=device)
    cols = torch.arange(width, dtype=dtype, device=device)
    y = (height - 1) / 2 - rows
    x = cols - (width - 1) / 2
    yy, xx = torch.meshgrid(y, x, indexing="ij")
    return torch.stack([xx, yy], -1)


def _split(group: MatrixGroup, g: Tensor) -> tuple[Tensor, Tensor, MatrixGroup]:
    """Translation (2,), matrix (2, 2) float64 and the stabiliser, for one element."""
    if isinstance(group, SemidirectProduct):
        group.validate(g, "g")
        if g.dim() != 1:
            raise ValueError(
                f"g must be a single element of shape {group.element_shape}, got {tuple(g.shape)}"
            )
        t, h = group.split(g.detach().to("cpu", torch.float64))
        stab = group.stabiliser
    elif isinstance(group, MatrixGroup):
        group.validate(g, "g")
        if g.dim() != len(group.element_shape):
            raise ValueError(
                f"g must be a single element of {group.name}, got shape {tuple(g.shape)}"
            )
        h, stab = g.detach().cpu(), group
        t = torch.zeros(group.action_dim, dtype=torch.float64)
    else:
        raise TypeError(f"group must be a MatrixGroup or SemidirectProduct, got {group!r}")
    if stab.action_dim != 2:
        raise ValueError(
            f"images need a group acting on the plane; {group.name} acts on R^{stab.action_dim}"
        )
    return t.double(), stab.matrix(h, dtype=torch.float64), stab


def _source_coordinates(t: Tensor, a: Tensor, height: int, width: int) -> Tensor:
    """Row/column (float) of the source pixel of every output pixel: ``(Y, X, 2)``."""
    y = pixel_coordinates(height, width)
    src = torch.linalg.solve(a, (y - t).reshape(-1, 2).T).T.reshape(height, width, 2)
    col = src[..., 0] + (width - 1) / 2
    row = (height - 1) / 2 - src[..., 1]
    return torch.stack([row, col], -1)


@lru_cache(maxsize=512)
def _exact_index(key: tuple, height: int, width: int) -> Tensor | None:
    t = torch.tensor(key[:2], dtype=torch.float64)
    a = torch.tensor(key[2:], dtype=torch.float64).reshape(2, 2)
    rc = _source_coordinates(t, a, height, width)
    if not bool(((rc - rc.round()).abs() <= _EXACT_TOL).all()):
        return None
    rc = rc.round().long()
    inside = (rc[..., 0] >= 0) & (rc[..., 0] < height) & (rc[..., 1] >= 0) & (rc[..., 1] < width)
    flat = rc[..., 0] * width + rc[..., 1]
    # out-of-image sources read the zero pixel appended at index height * width
    return torch.where(inside, flat, torch.full_like(flat, height * width)).reshape(-1)


def _key(t: Tensor, a: Tensor) -> tuple:
    return tuple(float(v) for v in torch.cat([t, a.reshape(-1)]).tolist())


def transform_points_index(group: MatrixGroup, g: Tensor, height: int, width: int) -> Tensor | None:
    """The gather index ``(Y*X,)`` with ``out.flat[i] = in.flat[index[i]]`` (index ``Y*X``
    meaning zero) if ``g`` is grid-aligned for this size, else ``None``."""
    t, a, _ = _split(group, g)
    return _exact_index(_key(t, a), height, width)


def is_grid_exact(group: MatrixGroup, g: Tensor, size: tuple[int, int] | int) -> bool:
    """Whether ``g`` acts on ``size`` images by a pure permutation of pixels (no interpolation,
    nothing moved outside the image)."""
    height, width = (size, size) if isinstance(size, int) else size
    idx = transform_points_index(group, g, height, width)
    if idx is None:
        return False
    return bool((idx < height * width).all()) and idx.unique().numel() == height * width


def _spatial(group: MatrixGroup, g: Tensor, x: Tensor, mode: str) -> Tensor:
    if mode not in ("auto", "exact", "interpolate"):
        raise ValueError(f"mode must be 'auto', 'exact' or 'interpolate', got {mode!r}")
    height, width = x.shape[-2:]
    t, a, _ = _split(group, g)
    idx = None if mode == "interpolate" else _exact_index(_key(t, a), height, width)
    if idx is not None:
        flat = x.reshape(*x.shape[:-2], height * width)
        flat = torch.cat([flat, flat.new_zeros(*flat.shape[:-1], 1)], -1)
        out = flat.index_select(-1, idx.to(x.device))
        return out.reshape(x.shape)
    if mode == "exact":
        raise ValueError(
            f"g = {g.tolist()} does not map the {height}x{width} pixel grid onto itself; "
            f"use mode='interpolate' (or 'auto') to resample"
        )
    rc = _source_coordinates(t, a, height, width)
    norm_r = 2 * rc[..., 0] / max(height - 1, 1) - 1
    norm_c = 2 * rc[..., 1] / max(width - 1, 1) - 1
    grid = torch.stack([norm_c, norm_r], -1).to(device=x.device, dtype=x.dtype)
    lead = x.shape[:-2]
    flat = x.reshape(1, -1, height, width)
    out = F.grid_sample(
        flat, grid.unsqueeze(0), mode="bilinear", padding_mode="zeros", align_corners=True
    )
    return out.reshape(*lead, height, width)


def transform_image(group: MatrixGroup, g: Tensor, x: Tensor, mode: str = "auto") -> Tensor:
    """:math:`L_g` on images.

    Args:
        group: an affine group :math:`\\mathbb{R}^2 \\rtimes H` (or :math:`H` alone).
        g: one element of ``group``.
        x: images ``(B, C, Y, X)`` (any leading dimensions work).
        mode: ``"auto"`` (gather if grid-exact, else bilinear), ``"exact"`` (raise if not
            grid-exact) or ``"interpolate"``.

    Returns:
        ``(B, C, Y, X)``, the transformed images.
    """
    if not isinstance(x, Tensor) or x.dim() < 2:
        raise ValueError(
            f"x must be a tensor of images (..., Y, X), got {getattr(x, 'shape', x)!r}"
        )
    return _spatial(group, g, x, mode)


def transform_signal(group: MatrixGroup, g: Tensor, x: Tensor, mode: str = "auto") -> Tensor:
    """:math:`L_g` on group signals ``x: (B, C, |H|, Y, X)`` over :math:`\\mathbb{R}^2 \\rtimes H`
    with finite :math:`H` (group axis in ``H.grid()`` order).

    Returns:
        ``(B, C, |H|, Y, X)``: spatially transformed, the group axis permuted so that the value
        at :math:`\\tilde h` moves to :math:`h \\tilde h`.
    """
    stab = group.stabiliser if isinstance(group, SemidirectProduct) else group
    if not stab.is_finite:
        raise ValueError(f"group signals need a finite stabiliser; {stab.name} is not finite")
    if not isinstance(x, Tensor) or x.dim() != 5:
        raise ValueError(
            f"x must be a group signal (B, C, |H|, Y, X), "
            f"got shape {tuple(getattr(x, 'shape', ()))}"
        )
    if x.shape[2] != stab.order:
        raise ValueError(
            f"x has group axis length {x.shape[2]}, expected |H| = {stab.order} for {stab.name}"
        )
    _split(group, g)
    h = (
        group.split(g.detach().cpu())[1]
        if isinstance(group, SemidirectProduct)
        else g.detach().cpu()
    )
    grid = stab.grid()
    # out[h~] = in[h^{-1} h~]
    src = stab.product(stab.inverse(h), grid).to(x.device)
    permuted = x.index_select(2, src)
    return _spatial(group, g, permuted, mode)


def disc_mask(height: int, width: int, device=None, dtype=torch.float32) -> Tensor:
    """``(Y, X)`` mask of the central disc (radius ``min(Y, X)/2``) — outside it rotations by
    other angles move pixels out of the image."""
    rows = torch.arange(height, device=device, dtype=torch.float64) - (height - 1) / 2
    cols = torch.arange(width, device=device, dtype=torch.float64) - (width - 1) / 2
    r2 = rows[:, None] ** 2 + cols[None, :] ** 2
    return (r2 <= (min(height, width) / 2) ** 2).to(dtype)


def apply_group_element(group: MatrixGroup, g: Tensor, x: Tensor, mode: str = "auto") -> Tensor:
    """:math:`L_g x` for ``x`` an image ``(B, C, Y, X)`` or a group signal ``(B, C, |H|, Y, X)``,
    or an invariant ``(B, F)`` (returned unchanged)."""
    if x.dim() == 5:
        return transform_signal(group, g, x, mode)
    if x.dim() == 4:
        return transform_image(group, g, x, mode)
    if x.dim() == 2:
        return x
    raise ValueError(
        f"cannot apply a group element to a tensor of shape {tuple(x.shape)}: expected "
        f"(B, F) invariants, (B, C, Y, X) images or (B, C, |H|, Y, X) group signals"
    )

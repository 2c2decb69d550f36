r"""``assert_equivariant``: compare :math:`\Phi(L_g x)` with :math:`L_g \Phi(x)`.

Default tolerances depend on the dtype (relative to the output's scale): float64 ``1e-10``,
float32 ``1e-5``, half precision ``1e-2`` — for grid-exact elements. Interpolated elements
need an explicit, looser ``atol`` and smooth, disc-masked inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..groups import (
    Layout,
    MatrixGroup,
    SemidirectProduct,
    apply_group_element,
    disc_mask,
    finite_tables,
    module_layouts,
    stabiliser_of,
)

__all__ = [
    "EquivarianceError",
    "EquivarianceReport",
    "assert_equivariant",
    "default_tolerance",
    "apply_group_element",
    "disc_mask",
    "resolve_layouts",
]

_TOLERANCES = {
    torch.float64: 1e-10,
    torch.float32: 1e-5,
    torch.float16: 1e-2,
    torch.bfloat16: 5e-2,
}


class EquivarianceError(AssertionError):
    """Raised by :func:`assert_equivariant` when the error exceeds the tolerance."""


@dataclass
class EquivarianceReport:
    """The outcome of one equivariance comparison.

    Attributes:
        max_abs: largest absolute difference over all compared elements.
        relative: ``max_abs`` divided by the largest magnitude of the reference output.
        per_element: relative error for each element tried, in order.
        tolerance: the relative tolerance that was applied.
    """

    max_abs: float
    relative: float
    per_element: list[float]
    tolerance: float

    def __float__(self) -> float:
        return self.relative


def default_tolerance(dtype: torch.dtype) -> float:
    """Relative tolerance for grid-exact elements in ``dtype``."""
    return _TOLERANCES.get(dtype, 1e-5)


def _elements(group: MatrixGroup, g: Tensor | Sequence[Tensor] | None) -> list[Tensor]:
    if g is not None:
        if isinstance(g, Tensor) and g.dim() == len(group.element_shape):
            return [g]
        return list(g)
    stab = stabiliser_of(group)
    if not stab.is_finite:
        raise ValueError(f"pass g= explicitly: {group.name} has no finite list of elements")
    hs = finite_tables(stab).elements
    if isinstance(group, SemidirectProduct):
        return [group.embed(h, dtype=torch.float64) for h in hs]
    return list(hs)


def resolve_layouts(
    fn: object, in_layout: Layout | None, out_layout: Layout | None
) -> tuple[Layout | None, Layout | None]:
    """The layouts to transform inputs and outputs with: the ones passed, else the ones ``fn``
    declares (:func:`~gattn.groups.module_layouts`), else ``None`` (the rank decides, as in
    :func:`~gattn.groups.apply_group_element`, for undeclared callables such as lambdas)."""
    for name, layout in (("in_layout", in_layout), ("out_layout", out_layout)):
        if layout is not None and not isinstance(layout, Layout):
            raise TypeError(f"{name} must be a gattn.groups.Layout, got {layout!r}")
    declared = module_layouts(fn)
    if declared is not None:
        in_layout = in_layout or declared[0]
        out_layout = out_layout or declared[1]
    return in_layout, out_layout


def _act(layout: Layout | None, group: MatrixGroup, g: Tensor, x: Tensor, mode: str) -> Tensor:
    """:math:`L_g x` by ``layout`` (by rank if ``None``)."""
    if layout is None:
        return apply_group_element(group, g, x, mode)
    return layout.act(group, g, x, mode)


def assert_equivariant(
    fn: Callable[[Tensor], Tensor],
    group: MatrixGroup,
    x: Tensor,
    g: Tensor | Sequence[Tensor] | None = None,
    atol: float | None = None,
    mode: str = "exact",
    out_transform: Callable[[Tensor, Tensor], Tensor] | None = None,
    mask: Tensor | None = None,
    in_layout: Layout | None = None,
    out_layout: Layout | None = None,
) -> EquivarianceReport:
    r"""Check :math:`\Phi(L_g x) = L_g \Phi(x)` and return the error.

    Inputs and outputs are transformed by their layouts (:mod:`gattn.groups.layouts`): the
    ``in_layout`` / ``out_layout`` passed, else the ones ``fn`` declares (every gattn layer and
    zoo model does; a ``torch.nn.Sequential`` takes its first and last declaring children's),
    else, for an undeclared callable, by rank: spatial signals ``(B, C, *spatial)``, group
    signals ``(B, C, |H|, *spatial)``, invariants ``(B, F)``.

    Args:
        fn: the map :math:`\Phi` (a layer, a model, a function).
        group: the affine group :math:`\mathbb{R}^d \rtimes H` (or :math:`H`).
        x: the input.
        g: one element, a list of elements, or ``None`` for every element of a finite
            stabiliser (rotations about the centre).
        atol: relative tolerance; ``None`` picks :func:`default_tolerance` of ``x.dtype``.
        mode: ``"exact"`` (default: refuse interpolation), ``"auto"`` or ``"interpolate"``.
        out_transform: override the action on outputs, ``(g, y) -> L_g y``.
        mask: spatial weights applied to both outputs before comparing (e.g.
            :func:`disc_mask` for interpolated rotations).
        in_layout, out_layout: the layouts of input and output (override the declared ones).

    Returns:
        An :class:`EquivarianceReport`.

    Raises:
        EquivarianceError: the relative error exceeds the tolerance.
    """
    tol = default_tolerance(x.dtype) if atol is None else atol
    elements = _elements(group, g)
    in_layout, out_layout = resolve_layouts(fn, in_layout, out_layout)
    if in_layout is not None:
        in_layout.check(x, "x")
    y = fn(x)
    if out_layout is not None:
        out_layout.check(y, "fn(x)")
    worst_abs, worst_rel, per = 0.0, 0.0, []
    for el in elements:
        lhs = fn(_act(in_layout, group, el, x, mode))
        if out_transform is not None:
            rhs = out_transform(el, y)
        else:
            rhs = _act(out_layout, group, el, y, mode)
        if lhs.shape != rhs.shape:
            raise ValueError(
                f"fn(L_g x) has shape {tuple(lhs.shape)} but L_g fn(x) has {tuple(rhs.shape)}"
            )
        diff = (lhs - rhs).detach()
        scale = rhs.detach()
        if mask is not None:
            diff = diff * mask.to(diff)
            scale = scale * mask.to(scale)
        err = float(diff.abs().max()) if diff.numel() else 0.0
        mag = float(scale.abs().max()) if scale.numel() else 0.0
        rel = err / max(mag, torch.finfo(x.dtype).tiny)
        per.append(rel)
        worst_abs, worst_rel = max(worst_abs, err), max(worst_rel, rel)
    report = EquivarianceReport(worst_abs, worst_rel, per, tol)
    if worst_rel > tol:
        raise EquivarianceError(
            f"not equivariant under {group.name}: relative error {worst_rel:.3e} > tolerance "
            f"{tol:.1e} (absolute {worst_abs:.3e}; per element {[f'{e:.1e}' for e in per]})"
        )
    return report

r"""``assert_equivariant``: compare :math:`\Phi(L_g x)` with :math:`L_g \Phi(x)`.

Default tolerances depend on the dtype (relative to the output's scale): float64 ``1e-10``,
float32 ``1e-5``, half precision ``1e-2`` — for grid-exact elements. Interpolated elements
need an explicit, looser ``atol`` and smooth, disc-masked inputs.

Continuous and sampled stabilisers (layers with ``samples=``, docs/continuous.md): elements that
permute every :class:`~gattn.nn.HSamples` and the pixel lattice are tested exactly; others are
compared against the "translated samples" or "fixed samples" reference of
:mod:`gattn.testing.sampled` on the disc-masked input, and need an explicit ``atol``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..groups import (
    GroupSignal,
    Image,
    Layout,
    MatrixGroup,
    PairSignal,
    SemidirectProduct,
    apply_group_element,
    disc_mask,
    finite_tables,
    is_grid_exact,
    module_layouts,
    stabiliser_of,
)
from .sampled import (
    EXACT,
    FIXED,
    REFERENCES,
    TRANSLATED,
    ElementResult,
    check_element,
    choose_reference,
    element_info,
    exact_elements,
    find_samples,
    is_sampled,
    spatial_act,
    translated_samples,
)

__all__ = [
    "EquivarianceError",
    "EquivarianceReport",
    "ElementResult",
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
        results: one :class:`~gattn.testing.sampled.ElementResult` per element (its label,
            whether it was exact, the reference mode, its errors).
    """

    max_abs: float
    relative: float
    per_element: list[float]
    tolerance: float
    results: list[ElementResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """``relative <= tolerance`` (the verdict is the measured number against the tolerance)."""
        return self.relative <= self.tolerance

    @property
    def exact(self) -> bool:
        """Whether every element tried was exact (permuted the samples and the lattice)."""
        return all(r.exact for r in self.results)

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


def _label(g: Tensor) -> str:
    return "g=" + str([round(float(v), 6) for v in g.detach().reshape(-1).tolist()])


def _relative(lhs: Tensor, rhs: Tensor, mask: Tensor | None, dtype: torch.dtype):
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
    return err, err / max(mag, torch.finfo(dtype).tiny)


def _check_reference(reference: object) -> str:
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {REFERENCES}, got reference={reference!r}")
    return reference  # type: ignore[return-value]


def _spatial_size(layout: Layout | None, y: Tensor, d: int) -> tuple[int, ...] | None:
    """The spatial size of ``y`` if it has space (by its layout, else its rank)."""
    if isinstance(layout, (Image, GroupSignal, PairSignal)) or (layout is None and y.dim() > 2):
        return tuple(int(v) for v in y.shape[-d:])
    return None


def _has_group_axis(layout: Layout | None, y: Tensor, d: int) -> bool:
    if layout is None:
        return y.dim() >= d + 3
    return isinstance(layout, (GroupSignal, PairSignal))


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
    reference: str = "auto",
    samples: object = None,
) -> EquivarianceReport:
    r"""Check :math:`\Phi(L_g x) = L_g \Phi(x)` and return the error.

    Inputs and outputs are transformed by their layouts (:mod:`gattn.groups.layouts`): the
    ``in_layout`` / ``out_layout`` passed, else the ones ``fn`` declares (every gattn layer and
    zoo model does; a ``torch.nn.Sequential`` takes its first and last declaring children's),
    else, for an undeclared callable, by rank: spatial signals ``(B, C, *spatial)``, group
    signals ``(B, C, |H|, *spatial)``, invariants ``(B, F)``.

    Continuous or sampled :math:`H` (a model with :class:`~gattn.nn.HSamples`, layouts over
    samples, docs/continuous.md): an element that permutes every sample set and the lattice is
    *exact* and tested with the default tolerance. Any other element needs ``mode="auto"`` and
    an explicit ``atol`` (it is refused otherwise, never passed silently); it is compared on the
    disc-masked input (:func:`disc_mask`), inside the disc, against the reference
    (:mod:`gattn.testing.sampled`): ``"translated samples"`` — the model run with every
    :class:`~gattn.nn.HSamples` left-translated by :math:`h_g^{-1}`, then only the spatial part
    of :math:`g` applied (the spatial discretisation error alone) — or ``"fixed samples"`` —
    :math:`L_g` of the output with the samples left alone (outputs without a group axis, or
    elements that permute the samples; for the former the error also holds the
    :math:`H`-quadrature error). The caller's input is used as given: make it smooth.

    Args:
        fn: the map :math:`\Phi` (a layer, a model, a function).
        group: the affine group :math:`\mathbb{R}^d \rtimes H` (or :math:`H`).
        x: the input.
        g: one element, a list of elements, or ``None`` for every element of a finite
            stabiliser (rotations about the centre) — for a sampled :math:`H`, the exact ones
            :math:`(0, h_j h_1^{-1})`.
        atol: relative tolerance; ``None`` picks :func:`default_tolerance` of ``x.dtype`` (exact
            elements only).
        mode: ``"exact"`` (default: refuse interpolation), ``"auto"`` or ``"interpolate"``.
        out_transform: override the action on outputs, ``(g, y) -> L_g y`` (finite :math:`H`).
        mask: spatial weights applied to both outputs before comparing (e.g.
            :func:`disc_mask` for interpolated rotations; non-exact elements of a sampled
            :math:`H` default to the disc).
        in_layout, out_layout: the layouts of input and output (override the declared ones).
        reference: sampled :math:`H`, non-exact elements: ``"auto"`` (translated samples for
            outputs with a group axis, fixed samples otherwise), ``"translated"`` or
            ``"fixed"``.
        samples: :class:`~gattn.nn.HSamples` ``fn`` uses but does not hold as a submodule (a
            function); the ones in ``fn.modules()`` and the layouts are found by themselves.

    Returns:
        An :class:`EquivarianceReport` (``results``: per element, exact or not, the mode).

    Raises:
        EquivarianceError: the relative error exceeds the tolerance.
        TypeError: ``g`` is not a tensor of group elements (sampled :math:`H`).
        ValueError: a non-exact element without ``atol`` or with ``mode="exact"``; a
            continuous :math:`H` and no elements; Monte-Carlo samples in training mode; a
            reference that is undefined for the element.
    """
    tol = default_tolerance(x.dtype) if atol is None else atol
    in_layout, out_layout = resolve_layouts(fn, in_layout, out_layout)
    if in_layout is not None:
        in_layout.check(x, "x")
    reference = _check_reference(reference)
    sample_sets = find_samples(fn if isinstance(fn, torch.nn.Module) else None, samples)
    sample_sets += [s for s in find_samples(in_layout, out_layout) if s not in sample_sets]
    if is_sampled(group, sample_sets, in_layout, out_layout):
        return _assert_sampled(
            fn, group, x, g, atol, tol, mode, mask, in_layout, out_layout, reference, sample_sets
        )
    elements = _elements(group, g)
    y = fn(x)
    if out_layout is not None:
        out_layout.check(y, "fn(x)")
    worst_abs, worst_rel, per, results = 0.0, 0.0, [], []
    for el in elements:
        lhs = fn(_act(in_layout, group, el, x, mode))
        if out_transform is not None:
            rhs = out_transform(el, y)
        else:
            rhs = _act(out_layout, group, el, y, mode)
        err, rel = _relative(lhs, rhs, mask, x.dtype)
        per.append(rel)
        exact = mode == "exact" or _grid_exact(group, el, in_layout, x)
        results.append(ElementResult(_label(el), exact, EXACT if exact else FIXED, rel, err))
        worst_abs, worst_rel = max(worst_abs, err), max(worst_rel, rel)
    report = EquivarianceReport(worst_abs, worst_rel, per, tol, results)
    _verdict(report, group)
    return report


def _grid_exact(group: MatrixGroup, g: Tensor, layout: Layout | None, x: Tensor) -> bool:
    d = stabiliser_of(group).action_dim
    space = _spatial_size(layout, x, d)
    try:
        return space is None or is_grid_exact(group, g, space)
    except (TypeError, ValueError):
        return False


def _verdict(report: EquivarianceReport, group: MatrixGroup) -> None:
    if not report.passed:
        per = [f"{r.label} {r.mode}: {r.relative:.1e}" for r in report.results]
        raise EquivarianceError(
            f"not equivariant under {group.name}: relative error {report.relative:.3e} > "
            f"tolerance {report.tolerance:.1e} (absolute {report.max_abs:.3e}; per element "
            f"{per})"
        )


def _assert_sampled(
    fn, group, x, g, atol, tol, mode, mask, in_layout, out_layout, reference, sample_sets
) -> EquivarianceReport:
    """:func:`assert_equivariant` for a continuous / sampled :math:`H`."""
    d = stabiliser_of(group).action_dim
    with torch.no_grad():
        y = fn(x)
    if out_layout is not None:
        out_layout.check(y, "fn(x)")
    sizes = [s for s in (_spatial_size(in_layout, x, d), _spatial_size(out_layout, y, d)) if s]
    if g is None:
        elements = exact_elements(group, sample_sets, sizes)
    elif isinstance(g, Tensor) and g.dim() == len(group.element_shape):
        elements = [check_element(group, g)]
    elif isinstance(g, Tensor) or isinstance(g, Sequence):
        elements = [check_element(group, el, f"g[{i}]") for i, el in enumerate(g)]
    else:
        raise TypeError(f"g must be an element, a list of elements or None, got {g!r}")
    worst_abs, worst_rel, per, results = 0.0, 0.0, [], []
    for el in elements:
        info = element_info(group, el, sample_sets, sizes)
        if info.exact:
            with torch.no_grad():
                lhs = fn(_act(in_layout, group, el, x, "exact"))
            rhs = _act(out_layout, group, el, y, "exact")
            err, rel = _relative(lhs, rhs, mask, x.dtype)
            results.append(ElementResult(info.label, True, EXACT, rel, err))
        else:
            why = (
                "it does not map the H samples onto themselves"
                if not info.permutes
                else "it does not map the pixel lattice onto itself"
            )
            if mode == "exact":
                raise ValueError(
                    f"{info.label} is not exact for this model ({why}); pass mode='auto' and "
                    f"an explicit atol to measure it against the reference (docs/continuous.md)"
                )
            if atol is None:
                raise ValueError(
                    f"{info.label} is not exact for this model ({why}): its error is a "
                    f"discretisation error, not rounding, so assert_equivariant needs an explicit "
                    f"atol for it (or use gattn.analysis.equivariance_error to report it)"
                )
            err, rel, used = _measure_non_exact(
                fn, group, el, info, x, y, mask, in_layout, out_layout, reference, sample_sets, d
            )
            results.append(ElementResult(info.label, False, used, rel, err))
        per.append(results[-1].relative)
        worst_abs = max(worst_abs, results[-1].max_abs)
        worst_rel = max(worst_rel, results[-1].relative)
    report = EquivarianceReport(worst_abs, worst_rel, per, tol, results)
    _verdict(report, group)
    return report


def _measure_non_exact(
    fn, group, el, info, x, y, mask, in_layout, out_layout, reference, sample_sets, d
) -> tuple[float, float, str]:
    used = choose_reference(reference, info, _has_group_axis(out_layout, y, d))
    space = _spatial_size(in_layout, x, d)
    x_in = x * disc_mask(*space, device=x.device, dtype=x.dtype) if space else x
    out_space = _spatial_size(out_layout, y, d)
    if mask is None and out_space is not None:
        mask = disc_mask(*out_space, device=x.device, dtype=x.dtype)
    with torch.no_grad():
        if used == TRANSLATED:
            if not sample_sets:
                raise ValueError(
                    f"{info.label}: the translated-samples reference needs the model's H samples, "
                    "but no gattn.nn.HSamples was found in fn or its layouts (pass samples=)"
                )
            lhs = fn(spatial_act(group, el, x_in, in_layout, d))
            with translated_samples(sample_sets, info.h_inv):
                base = fn(x_in)
            rhs = spatial_act(group, el, base, out_layout, d)
        else:
            try:
                moved = _act(in_layout, group, el, x_in, "auto")
                lhs = fn(moved)
                rhs = _act(out_layout, group, el, fn(x_in), "auto")
            except ValueError as err:
                raise ValueError(
                    f"{info.label}: the fixed-samples reference is undefined here ({err}); use "
                    "reference='translated'"
                ) from None
    err, rel = _relative(lhs, rhs, mask, x.dtype)
    return err, rel, used

r"""Theorem 1 of [AGC] as a tool: is an attention operator equivariant?

The attentive convolution :math:`f \star^\alpha_G \psi` with :math:`\alpha = \mathcal{A}[f]` is
equivariant for all :math:`f` iff

.. math:: \mathcal{A}[L_{\bar g} f](g, \tilde g) = \mathcal{A}[f](\bar g^{-1} g,
          \bar g^{-1}\tilde g) \qquad \forall g, \bar g, \tilde g \in G .

On the grid, for :math:`\bar g = (t, k)`:

* pair operators (:class:`~gattn.attention.PairAttention`) read
  ``f: (B, C_out, |H|, C_in, |H_in|, *spatial)`` (:class:`~gattn.groups.PairSignal`, a
  function of :math:`(x, h, \tilde h)`); the
  right-hand side is :math:`\alpha` transformed spatially and with *both* group axes permuted by
  the Cayley table (:math:`h \mapsto k h`, :math:`\tilde h \mapsto k \tilde h`; the input axis
  is left alone when ``|H_in| = 1``, a lifting layer);
* signal operators (:class:`~gattn.attention.SignalAttention`) read a group signal
  ``(B, C, |H|, *spatial)`` or a spatial signal ``(B, C, *spatial)``; :math:`\alpha` must
  transform like it. The layouts are read off the operator's declared ``in_layout`` when it
  has one (:mod:`gattn.groups.layouts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..groups import (
    GroupSignal,
    Image,
    Layout,
    PairSignal,
    SemidirectProduct,
    disc_mask,
    finite_tables,
    stabiliser_of,
)
from .equivariance import default_tolerance
from .sampled import (
    EXACT,
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

__all__ = ["Theorem1Error", "Theorem1Report", "check_theorem1", "transform_pairs"]


class Theorem1Error(AssertionError):
    """Raised by :func:`check_theorem1` with ``raise_on_failure=True``."""


@dataclass
class Theorem1Report:
    """Largest violation of Theorem 1 over the elements tried.

    Attributes:
        max_abs: largest :math:`|\\mathcal{A}[L_{\\bar g} f] - L_{\\bar g}\\mathcal{A}[f]|`.
        relative: ``max_abs`` over the largest :math:`|\\alpha|`.
        tolerance: relative tolerance applied.
        per_element: relative error per element tried.
        results: per element: its label, whether it was exact, the reference mode.
    """

    max_abs: float
    relative: float
    tolerance: float
    per_element: list[float] = field(default_factory=list)
    results: list[ElementResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.relative <= self.tolerance


def transform_pairs(group: SemidirectProduct, g: Tensor, f: Tensor) -> Tensor:
    r""":math:`L_{\bar g}` on pair signals ``(B, C, |H|, C_in, |H_in|, *spatial)``
    (:class:`~gattn.groups.PairSignal`; ``|H_in| = 1`` a lifting layer's)."""
    stab = stabiliser_of(group, finite=True)
    d = stab.action_dim
    if f.dim() != d + 5:
        raise ValueError(
            f"pair signals are (B, C_out, |H|, C_in, |H_in|, *spatial) with {d} spatial axes, "
            f"got shape {tuple(f.shape)}"
        )
    n = finite_tables(stab).order
    if f.shape[4] not in (1, n):
        raise ValueError(f"|H_in| must be 1 or |H| = {n}, got {f.shape[4]}")
    return PairSignal(stab, d, lifting=f.shape[4] == 1 and n > 1).act(group, g, f, "exact")


def _layout(operator, group: SemidirectProduct, f: Tensor, layout: Layout | None) -> Layout:
    """The operator's input layout: passed, declared (``operator.in_layout``) or, for an
    operator that declares none, read off its ``domain`` and the rank of ``f``."""
    if layout is not None:
        if not isinstance(layout, Layout):
            raise TypeError(f"layout must be a gattn.groups.Layout, got {layout!r}")
        return layout
    declared = getattr(operator, "in_layout", None)
    if isinstance(declared, Layout):
        return declared
    stab = stabiliser_of(group, finite=True)
    d = stab.action_dim
    n = finite_tables(stab).order
    domain = getattr(operator, "domain", None)
    if domain == "pair":
        lifting = f.dim() == d + 5 and f.shape[4] == 1 and n > 1
        return PairSignal(stab, d, lifting=lifting)
    if f.dim() == d + 3:
        return GroupSignal(stab, d)
    return Image(d)


def check_theorem1(
    operator,
    group: SemidirectProduct,
    f: Tensor,
    g_bar: Tensor | Sequence[Tensor] | None = None,
    atol: float | None = None,
    raise_on_failure: bool = False,
    layout: Layout | None = None,
    reference: str = "auto",
) -> Theorem1Report:
    r"""Evaluate :math:`\mathcal{A}[L_{\bar g} f]` and :math:`L_{\bar g}\mathcal{A}[f]` and report
    the largest difference.

    Args:
        operator: an :class:`~gattn.attention.AttentionOperator` (``domain`` ``"pair"`` or
            ``"signal"``).
        group: :math:`\mathbb{R}^2 \rtimes H` with finite :math:`H`.
        f: the operator's input (see the module docstring for layouts).
        g_bar: one element of ``group``, a list, or ``None`` for every element of :math:`H`
            (rotations/reflections about the centre). Elements must be grid-exact.
        atol: relative tolerance (default: :func:`~gattn.testing.default_tolerance`).
        raise_on_failure: raise :class:`Theorem1Error` if the tolerance is exceeded.
        layout: the layout of ``f`` (and of :math:`\alpha`); default: the operator's
            declared ``in_layout``, else read off its ``domain`` and the rank of ``f``.
        reference: sampled :math:`H`, non-exact elements: ``"auto"`` / ``"translated"``
            (translated samples) or ``"fixed"`` (only for elements that permute the samples).

    Sampled or continuous :math:`H` (layouts over :class:`~gattn.nn.HSamples`,
    docs/continuous.md): ``g_bar=None`` takes the elements that permute the samples and the
    lattice, tested exactly. Any other element needs an explicit ``atol`` (it is refused
    otherwise); :math:`f` is disc-masked and :math:`\mathcal{A}[L_{\bar g} f]` (spatial part of
    :math:`\bar g` only, :math:`f` read on :math:`h_{\bar g}^{-1}Q`) is compared, inside the
    disc, with the spatial part of :math:`\bar g` applied to :math:`\mathcal{A}[f]` computed
    with every sample set left-translated by :math:`h_{\bar g}^{-1}`
    (:mod:`gattn.testing.sampled`).

    Returns:
        A :class:`Theorem1Report` (``results``: per element, exact or not, the mode).

    Raises:
        TypeError: not an affine group, not an attention operator, ``f`` not a tensor.
        ValueError: a non-exact element without ``atol``; see
            :func:`~gattn.testing.assert_equivariant`.
    """
    if not isinstance(group, SemidirectProduct):
        raise TypeError(f"group must be an affine group R^d x| H, got {group!r}")
    domain = getattr(operator, "domain", None)
    if domain not in ("pair", "signal"):
        raise TypeError(
            f"operator must be an AttentionOperator with domain 'pair' or 'signal', got "
            f"{operator!r} (domain {domain!r})"
        )
    if not isinstance(f, Tensor):
        raise TypeError(f"f must be a torch.Tensor, got {type(f).__name__}")
    declared = layout if layout is not None else getattr(operator, "in_layout", None)
    sample_sets = find_samples(operator if isinstance(operator, torch.nn.Module) else None)
    sample_sets += [s for s in find_samples(declared) if s not in sample_sets]
    if is_sampled(group, sample_sets, declared if isinstance(declared, Layout) else None):
        if not isinstance(declared, (PairSignal, GroupSignal, Image)):
            raise TypeError(
                f"a sampled / continuous H needs the operator's layout: pass layout= (e.g. "
                f"PairSignal(H, d, samples=...)), got {declared!r}"
            )
        declared.check(f, "f")
        return _check_sampled(
            operator, group, f, g_bar, atol, raise_on_failure, declared, sample_sets, reference
        )
    if not group.stabiliser.is_finite:
        raise TypeError(f"group must be an affine group with a finite stabiliser, got {group!r}")
    lay = _layout(operator, group, f, layout)
    lay.check(f, "f")
    if g_bar is None:
        hs = finite_tables(group.stabiliser).elements
        elements = [group.embed(h, dtype=torch.float64) for h in hs]
    elif isinstance(g_bar, Tensor) and g_bar.dim() == 1:
        elements = [g_bar]
    else:
        elements = list(g_bar)
    tol = default_tolerance(f.dtype) if atol is None else atol
    with torch.no_grad():
        alpha = operator(f)
        alpha = alpha.expand(torch.broadcast_shapes(alpha.shape, f.shape))
        scale = max(float(alpha.abs().max()), torch.finfo(f.dtype).tiny)
        worst, per = 0.0, []
        for g in elements:
            lhs = operator(lay.act(group, g, f, "exact"))
            lhs = lhs.expand(alpha.shape)
            rhs = lay.act(group, g, alpha.contiguous(), "exact")
            err = float((lhs - rhs).abs().max())
            per.append(err / scale)
            worst = max(worst, err)
    report = Theorem1Report(worst, worst / scale, tol, per)
    report.results = [
        ElementResult(f"g_bar[{i}]", True, EXACT, e, e * scale) for i, e in enumerate(per)
    ]
    if raise_on_failure and not report.passed:
        raise Theorem1Error(
            f"Theorem 1 violated for {type(operator).__name__} on {group.name}: relative "
            f"{report.relative:.3e} > {tol:.1e} (per element {[f'{e:.1e}' for e in per]})"
        )
    return report


def _check_sampled(
    operator, group, f, g_bar, atol, raise_on_failure, lay, sample_sets, reference
) -> Theorem1Report:
    """:func:`check_theorem1` for a sampled / continuous :math:`H`."""
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {REFERENCES}, got reference={reference!r}")
    d = lay.dims
    space = tuple(int(v) for v in f.shape[-d:])
    if g_bar is None:
        elements = exact_elements(group, sample_sets, [space])
    elif isinstance(g_bar, Tensor) and g_bar.dim() == len(group.element_shape):
        elements = [check_element(group, g_bar, "g_bar")]
    elif isinstance(g_bar, (Tensor, Sequence)) and not isinstance(g_bar, str):
        elements = [check_element(group, g, f"g_bar[{i}]") for i, g in enumerate(g_bar)]
    else:
        raise TypeError(f"g_bar must be an element, a list of elements or None, got {g_bar!r}")
    tol = default_tolerance(f.dtype) if atol is None else atol
    tiny = torch.finfo(f.dtype).tiny
    results: list[ElementResult] = []
    with torch.no_grad():
        alpha = operator(f)
        alpha = alpha.expand(torch.broadcast_shapes(alpha.shape, f.shape)).contiguous()
        for g in elements:
            info = element_info(group, g, sample_sets, [space])
            if info.exact:
                lhs = operator(lay.act(group, g, f, "exact")).expand(alpha.shape)
                rhs = lay.act(group, g, alpha, "exact")
                mode, mask = EXACT, None
            else:
                if atol is None:
                    raise ValueError(
                        f"{info.label} is not exact for this operator (it does not map the H "
                        "samples or the lattice onto themselves): pass an explicit atol for its "
                        "discretisation error (docs/continuous.md)"
                    )
                mode = choose_reference(reference, info, True)
                mask = disc_mask(*space, device=f.device, dtype=f.dtype)
                f_in = f * mask
                if mode == TRANSLATED:
                    lhs = operator(spatial_act(group, g, f_in, lay, d))
                    with translated_samples(sample_sets, info.h_inv):
                        base = operator(f_in)
                    rhs = spatial_act(group, g, base, lay, d)
                else:
                    try:
                        lhs = operator(lay.act(group, g, f_in, "auto"))
                        rhs = lay.act(group, g, operator(f_in).expand(alpha.shape).contiguous())
                    except ValueError as err:
                        raise ValueError(
                            f"{info.label}: the fixed-samples reference is undefined ({err}); "
                            "use reference='translated'"
                        ) from None
                shape = torch.broadcast_shapes(lhs.shape, rhs.shape)
                lhs, rhs = lhs.expand(shape), rhs.expand(shape)
                if lhs.shape[-d:] != space or all(s == 1 for s in lhs.shape[-d:]):
                    mask = None  # attention constant in space: nothing to mask
            diff, ref = (lhs - rhs).abs(), rhs.abs()
            if mask is not None:
                diff, ref = diff * mask, ref * mask
            err = float(diff.max()) if diff.numel() else 0.0
            rel = err / max(float(ref.max()) if ref.numel() else 0.0, tiny)
            results.append(ElementResult(info.label, info.exact, mode, rel, err))
    worst = max((r.max_abs for r in results), default=0.0)
    rel = max((r.relative for r in results), default=0.0)
    report = Theorem1Report(worst, rel, tol, [r.relative for r in results], results)
    if raise_on_failure and not report.passed:
        raise Theorem1Error(
            f"Theorem 1 violated for {type(operator).__name__} on {group.name}: relative "
            f"{report.relative:.3e} > {tol:.1e} (per element "
            f"{[f'{r.label} {r.mode}: {r.relative:.1e}' for r in results]})"
        )
    return report

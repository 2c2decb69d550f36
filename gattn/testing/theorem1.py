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
    finite_tables,
    stabiliser_of,
)
from .equivariance import default_tolerance

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
    """

    max_abs: float
    relative: float
    tolerance: float
    per_element: list[float] = field(default_factory=list)

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

    Returns:
        A :class:`Theorem1Report`.
    """
    if not isinstance(group, SemidirectProduct) or not group.stabiliser.is_finite:
        raise TypeError(f"group must be an affine group with a finite stabiliser, got {group!r}")
    domain = getattr(operator, "domain", None)
    if domain not in ("pair", "signal"):
        raise TypeError(
            f"operator must be an AttentionOperator with domain 'pair' or 'signal', got "
            f"{operator!r} (domain {domain!r})"
        )
    if not isinstance(f, Tensor):
        raise TypeError(f"f must be a torch.Tensor, got {type(f).__name__}")
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
    if raise_on_failure and not report.passed:
        raise Theorem1Error(
            f"Theorem 1 violated for {type(operator).__name__} on {group.name}: relative "
            f"{report.relative:.3e} > {tol:.1e} (per element {[f'{e:.1e}' for e in per]})"
        )
    return report

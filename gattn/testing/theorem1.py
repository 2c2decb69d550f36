r"""Theorem 1 of [AGC] as a tool: is an attention operator equivariant?

The attentive convolution :math:`f \star^\alpha_G \psi` with :math:`\alpha = \mathcal{A}[f]` is
equivariant for all :math:`f` iff

.. math:: \mathcal{A}[L_{\bar g} f](g, \tilde g) = \mathcal{A}[f](\bar g^{-1} g,
          \bar g^{-1}\tilde g) \qquad \forall g, \bar g, \tilde g \in G .

On the grid, for :math:`\bar g = (t, k)`:

* pair operators (:class:`~gattn.attention.PairAttention`) read
  ``f: (B, C_out, |H|, C_in, |H_in|, Y, X)`` (a function of :math:`(x, h, \tilde h)`); the
  right-hand side is :math:`\alpha` transformed spatially and with *both* group axes permuted by
  the Cayley table (:math:`h \mapsto k h`, :math:`\tilde h \mapsto k \tilde h`; the input axis
  is left alone when ``|H_in| = 1``, a lifting layer);
* signal operators (:class:`~gattn.attention.SignalAttention`) read a group signal
  ``(B, C, |H|, Y, X)`` or an image ``(B, C, Y, X)``; :math:`\alpha` must transform like it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..groups import SemidirectProduct, transform_image, transform_signal
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


def _cayley_source(group: SemidirectProduct, g: Tensor) -> Tensor:
    stab = group.stabiliser
    h = group.split(g.detach().cpu().double())[1]
    return stab.product(stab.inverse(h), stab.grid())  # out[t] = in[k^{-1} t]


def transform_pairs(group: SemidirectProduct, g: Tensor, f: Tensor) -> Tensor:
    r""":math:`L_{\bar g}` on pair signals ``(B, C, |H|, C_in, |H_in|, Y, X)``."""
    if f.dim() != 7:
        raise ValueError(
            f"pair signals are (B, C_out, |H|, C_in, |H_in|, Y, X), got shape {tuple(f.shape)}"
        )
    b, c, n, ci, ni, y, x = f.shape
    flat = f.permute(0, 1, 3, 4, 2, 5, 6).reshape(b * c * ci * ni, 1, n, y, x)
    out = transform_signal(group, g, flat, "exact")
    out = out.reshape(b, c, ci, ni, n, y, x).permute(0, 1, 4, 2, 3, 5, 6)
    if ni == n and n > 1:
        out = out.index_select(4, _cayley_source(group, g).to(f.device))
    elif ni != 1:
        raise ValueError(f"|H_in| must be 1 or |H| = {n}, got {ni}")
    return out


def _transform(group: SemidirectProduct, g: Tensor, t: Tensor, pair: bool) -> Tensor:
    if pair:
        return transform_pairs(group, g, t)
    if t.dim() == 5:
        return transform_signal(group, g, t, "exact")
    if t.dim() == 4:
        return transform_image(group, g, t, "exact")
    raise ValueError(f"cannot transform a tensor of shape {tuple(t.shape)}")


def check_theorem1(
    operator,
    group: SemidirectProduct,
    f: Tensor,
    g_bar: Tensor | Sequence[Tensor] | None = None,
    atol: float | None = None,
    raise_on_failure: bool = False,
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
    pair = domain == "pair"
    if not isinstance(f, Tensor) or f.dim() not in ((7,) if pair else (4, 5)):
        expected = (
            "pair signals (B, C_out, |H|, C_in, |H_in|, Y, X)"
            if pair
            else "signals (B, C, |H|, Y, X) or images (B, C, Y, X)"
        )
        raise ValueError(
            f"f must hold {expected} for a {domain} operator, got shape "
            f"{tuple(getattr(f, 'shape', ()))}"
        )
    if g_bar is None:
        elements = [group.embed(h, dtype=torch.float64) for h in group.stabiliser.grid()]
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
            lhs = operator(_transform(group, g, f, pair))
            lhs = lhs.expand(alpha.shape)
            rhs = _transform(group, g, alpha.contiguous(), pair)
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

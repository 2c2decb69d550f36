r"""Generic combinations of signal attentions needed by prior mechanisms (BAM, residual attention).

* :class:`ParallelSignalAttention` — branches computed *in parallel from the same signal*, their
  logits summed before one sigmoid (BAM's paper, ``combine="sum"``):

  .. math:: \alpha(\tilde g) = \sigma\Big(\sum_i M_i[f](\tilde g)\Big),

  or multiplied (BAM's released code, ``combine="product"``):
  :math:`\alpha = \sigma(\prod_i M_i[f])`; each branch :math:`M_i` returning logits
  broadcastable to ``f`` (e.g. ``(B, C, |H|, 1, 1)`` channel logits and ``(B, 1, |H|, Y, X)``
  spatial logits).
* :class:`ResidualSignalAttention` — the residual form of Wang et al. (2017) and BAM,

  .. math:: \alpha'(\tilde g) = 1 + \alpha(\tilde g) \in [1, 2],\qquad
            \alpha' f = f + \alpha f,

  which can amplify but never suppress (docs/maths.md: the attentive layers' ``residual=True`` form
  :math:`1 - \alpha^-` replaces it).

Both are :class:`~gattn.attention.base.SignalAttention` operators, so they plug into the
attentive layers (``attention=`` argument). If every branch / the wrapped operator is
equivariant (:math:`M_i[L_{\bar g} f] = L_{\bar g} M_i[f]`), so is the combination: pointwise
sums and products, the pointwise sigmoid and ``1 +`` commute with :math:`L_{\bar g}`
(Theorem 1).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..base import SignalAttention

__all__ = ["ParallelSignalAttention", "ResidualSignalAttention", "COMBINES"]

#: how :class:`ParallelSignalAttention` combines its branches' logits
COMBINES = ("sum", "product")


class ParallelSignalAttention(SignalAttention):
    r""":math:`\alpha = \sigma(\sum_i M_i[f])` (or :math:`\sigma(\prod_i M_i[f])`) — parallel
    branches, logits summed (BAM's paper) or multiplied (BAM's released code).

    Args:
        branches: modules ``f -> logits`` (logits broadcastable to ``f``, any real values);
            each must be equivariant for the result to be.
        position: ``"input"`` or ``"output"`` (see
            :class:`~gattn.attention.base.SignalAttention`).
        combine: ``"sum"`` (default) or ``"product"`` of the broadcast logits (see
            docs/special_cases.md for BAM's paper/code discrepancy).

    Shapes:
        ``f: (B, C, |H|, Y, X) -> alpha``: the broadcast shape of the branch logits.

    Raises:
        ValueError: no branch, or an unknown ``combine``. TypeError: a branch is not an
            ``nn.Module``.
    """

    def __init__(self, *branches: nn.Module, position: str = "input", combine: str = "sum") -> None:
        super().__init__(position)
        if not branches:
            raise ValueError("ParallelSignalAttention needs at least one branch, got none")
        for i, b in enumerate(branches):
            if not isinstance(b, nn.Module):
                raise TypeError(f"branches[{i}] must be an nn.Module, got {type(b).__name__}")
        if not isinstance(combine, str) or combine not in COMBINES:
            raise ValueError(f"combine must be one of {COMBINES}, got {combine!r}")
        self.branches = nn.ModuleList(branches)
        self.combine = combine

    def logits(self, x: Tensor) -> Tensor:
        r""":math:`\sum_i M_i[f]` or :math:`\prod_i M_i[f]` (broadcast)."""
        total = self.branches[0](x)
        for branch in self.branches[1:]:
            total = total + branch(x) if self.combine == "sum" else total * branch(x)
        return total

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.logits(x))

    def extra_repr(self) -> str:
        return f"combine={self.combine!r}, position={self.position!r}"


class ResidualSignalAttention(SignalAttention):
    r"""Residual attention :math:`\alpha' = 1 + \alpha` around any signal attention.

    Args:
        operator: the wrapped :class:`~gattn.attention.base.SignalAttention`; its
            ``position`` is inherited.

    Shapes:
        as the wrapped operator; :meth:`attend` returns ``f + alpha f`` (shape of ``f``).

    Raises:
        TypeError: ``operator`` is not a ``SignalAttention``.
    """

    def __init__(self, operator: SignalAttention) -> None:
        if not isinstance(operator, SignalAttention):
            raise TypeError(
                f"operator must be a SignalAttention (alpha on one signal), "
                f"got {type(operator).__name__}"
            )
        super().__init__(operator.position)
        self.operator = operator

    def forward(self, x: Tensor) -> Tensor:
        return 1 + self.operator(x)

    def attend(self, x: Tensor) -> Tensor:
        return x + self.operator.attend(x)

r"""Channel attention, made equivariant (CBAM channel branch on G).

Pair form (:class:`ChannelAttention`, docs/maths.md): with spatial statistics of the partial
responses :math:`s(h, \tilde h) = \operatorname{mean}_x / \max_x \tilde f_{c,\cdot}(x, h, \tilde h)
\in \mathbb{R}^{C_{in}}`,

.. math::

    \alpha^C_{c,\cdot}(h, \tilde h) = \sigma\Big(\sum_{s \in \{\mathrm{mean}, \max\}}
        W^{(c)}_2(h^{-1}\tilde h)\,\mathrm{relu}\big(W^{(c)}_1(h^{-1}\tilde h)\,
        s(h, \tilde h)\big)\Big),

:math:`W_1(r) \in \mathbb{R}^{C_{in}/r \times C_{in}}`, :math:`W_2(r) \in
\mathbb{R}^{C_{in} \times C_{in}/r}` indexed by the relative element :math:`h^{-1}\tilde h`
(read off the Cayley table), one set per output channel :math:`c` (the parameter count of the
reference α-P4CNN). Relabelling :math:`h \to k h, \tilde h \to k\tilde h` leaves
:math:`h^{-1}\tilde h` fixed, hence Theorem 1 holds.

Signal form (:class:`SignalChannelAttention`, input-level :math:`\alpha F` or co-domain):
:math:`s(\tilde h) \in \mathbb{R}^C` spatial statistics of the signal, and the MLP is a group
convolution over :math:`H` (regular representation),

.. math::

    z(\tilde h) = \mathrm{relu}\Big(\sum_{h'} W_1(\tilde h^{-1} h')\, s(h')\Big),\qquad
    \alpha^C(\tilde h) = \sigma\Big(\sum_{s}\sum_{h'} W_2(\tilde h^{-1} h')\, z_s(h')\Big).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..groups import finite_tables
from ..groups.validation import check_int
from ._common import check_pooling, finite_stabiliser, pair_layout, signal_layout, spatial_axes
from .base import PairAttention, SignalAttention

__all__ = ["ChannelAttention", "SignalChannelAttention", "hidden_channels"]


def hidden_channels(channels: int, reduction: int) -> int:
    """Width of the bottleneck: ``max(channels // reduction, 1)``."""
    check_int("reduction", reduction)
    return max(channels // reduction, 1)


def _init(w: Tensor, fan_in: int) -> None:
    nn.init.normal_(w, std=math.sqrt(2.0 / fan_in))


class ChannelAttention(PairAttention):
    r"""Equivariant channel attention over (output, input) pairs, :math:`\alpha^C_{c,\tilde c}(h,
    \tilde h)`.

    Args:
        group: :math:`\mathbb{R}^d \rtimes H`, finite :math:`H`, :math:`d \in \{1, 2, 3\}`
            (statistics over all ``d`` spatial axes).
        in_channels: :math:`C_{in}` (channels attended).
        out_channels: :math:`C_{out}` (one MLP per output channel).
        reduction: bottleneck ratio :math:`r` (hidden width ``max(C_in // r, 1)``).
        lifting: the input lives on :math:`\mathbb{R}^d` (``|H_in| = 1``).
        pooling: statistics used, a subset of ``("mean", "max")`` (``"avg"`` is refused: it is
            spelled ``"mean"``).

    Attributes:
        in_layout: ``PairSignal(H, d, lifting)``.

    Shapes:
        :meth:`forward`: responses ``(B, C_out, |H|, C_in, |H_in|, *spatial)`` ->
        ``(B, C_out, |H|, C_in, |H_in|, *[1] * d)``.
    """

    def __init__(
        self,
        group,
        in_channels: int,
        out_channels: int,
        reduction: int = 2,
        lifting: bool = False,
        pooling: Sequence[str] = ("mean", "max"),
    ) -> None:
        super().__init__()
        stab, order, self.dims = finite_stabiliser(group)
        self.in_layout = pair_layout(stab, self.dims, lifting)
        self.in_channels = check_int("in_channels", in_channels)
        self.out_channels = check_int("out_channels", out_channels)
        self.hidden = hidden_channels(in_channels, reduction)
        self.pooling = check_pooling(pooling)
        self.order = order
        self.in_order = 1 if lifting else order
        rel = (
            torch.zeros(stab.order, 1, dtype=torch.long)
            if lifting
            else finite_tables(stab).relative
        )
        # rel[h, h~] = index of h^{-1} h~: which W(.) each (h, h~) pair uses
        self.register_buffer("rel", rel, persistent=False)
        n_rel = 1 if lifting else order
        self.w1 = nn.Parameter(torch.empty(out_channels, n_rel, self.hidden, in_channels))
        self.w2 = nn.Parameter(torch.empty(out_channels, n_rel, in_channels, self.hidden))
        _init(self.w1, in_channels)
        _init(self.w2, self.hidden)

    def weights(self, stats: dict[str, Tensor]) -> Tensor:
        r""":math:`\alpha^C` from statistics.

        Args:
            stats: ``{"mean": s_mean, "max": s_max}`` (the keys of :attr:`pooling`), each
                ``(B, C_out, |H|, C_in, |H_in|)``.

        Returns:
            ``(B, C_out, |H|, C_in, |H_in|)`` in :math:`(0, 1)`.
        """
        w1 = self.w1[:, self.rel]  # (C_out, |H|, |H_in|, hid, C_in)
        w2 = self.w2[:, self.rel]  # (C_out, |H|, |H_in|, C_in, hid)
        logits = 0
        for name in self.pooling:
            z = torch.relu(torch.einsum("ohtjc,bohct->bohtj", w1, stats[name]))
            logits = logits + torch.einsum("ohtcj,bohtj->bohct", w2, z)
        return torch.sigmoid(logits)

    def forward(self, responses: Tensor) -> Tensor:
        axes = spatial_axes(self.dims)
        stats = {}
        if "mean" in self.pooling:
            stats["mean"] = responses.mean(dim=axes)
        if "max" in self.pooling:
            stats["max"] = responses.amax(dim=axes)
        return self.weights(stats)[(...,) + (None,) * self.dims]

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, hidden={self.hidden}, "
            f"pooling={self.pooling}, |H|={self.order}, |H_in|={self.in_order}"
        )


class SignalChannelAttention(SignalAttention):
    r"""Equivariant channel attention on one signal, :math:`\alpha^C_{\tilde c}(\tilde h)`
    (squeeze-and-excitation / CBAM channel branch with an :math:`H`-convolution MLP).

    Args:
        group: :math:`\mathbb{R}^d \rtimes H`, finite :math:`H`, :math:`d \in \{1, 2, 3\}`.
        channels: :math:`C` of the attended signal.
        reduction: bottleneck ratio (hidden width ``max(C // r, 1)``).
        lifting: the attended signal is a spatial signal ``(B, C, *spatial)``.
        pooling: subset of ``("mean", "max")`` (``("mean",)`` is squeeze-and-excitation).
        position: ``"input"`` or ``"output"`` (see :class:`SignalAttention`).
        bias: learned biases of both MLP layers (one per hidden unit / channel, shared over
            :math:`H`, so equivariance is kept) — as in torchvision-style SE/CBAM code.
        hidden: explicit bottleneck width, overriding ``reduction`` (``None``: from
            ``reduction``) — e.g. timm's rounded ``rd_channels`` (docs/special_cases.md).

    Attributes:
        in_layout: ``GroupSignal(H, d, channels)``, or ``Image(d, channels)`` if ``lifting``.

    Shapes:
        ``x: (B, C, |H|, *spatial) -> (B, C, |H|, *[1] * d)``; spatial signals
        ``(B, C, *spatial) -> (B, C, *[1] * d)``.
    """

    def __init__(
        self,
        group,
        channels: int,
        reduction: int = 2,
        lifting: bool = False,
        pooling: Sequence[str] = ("mean", "max"),
        position: str = "input",
        bias: bool = False,
        hidden: int | None = None,
    ) -> None:
        super().__init__(position)
        stab, order, self.dims = finite_stabiliser(group)
        self.channels = check_int("channels", channels)
        self.in_layout = signal_layout(stab, self.dims, channels, lifting)
        self.hidden = (
            hidden_channels(channels, reduction) if hidden is None else check_int("hidden", hidden)
        )
        self.pooling = check_pooling(pooling)
        self.lifting = lifting
        n = 1 if lifting else order
        rel = torch.zeros(1, 1, dtype=torch.long) if lifting else finite_tables(stab).relative
        self.register_buffer("rel", rel, persistent=False)
        self.w1 = nn.Parameter(torch.empty(n, self.hidden, channels))
        self.w2 = nn.Parameter(torch.empty(n, channels, self.hidden))
        _init(self.w1, channels * n)
        _init(self.w2, self.hidden * n)
        self.b1 = nn.Parameter(torch.zeros(self.hidden)) if bias else None
        self.b2 = nn.Parameter(torch.zeros(channels)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        signal = x if not self.lifting else x.unsqueeze(2)  # (B, C, |H|, *spatial)
        axes = spatial_axes(self.dims)
        w1 = self.w1[self.rel]  # (|H|, |H|, hid, C): [t, t'] uses W(t^{-1} t')
        w2 = self.w2[self.rel]
        logits = 0
        for name in self.pooling:
            s = signal.mean(dim=axes) if name == "mean" else signal.amax(dim=axes)
            z = torch.einsum("tujc,bcu->bjt", w1, s)
            if self.b1 is not None:
                z = z + self.b1[:, None]
            out = torch.einsum("tucj,bju->bct", w2, torch.relu(z))
            if self.b2 is not None:
                out = out + self.b2[:, None]
            logits = logits + out
        alpha = torch.sigmoid(logits)[(...,) + (None,) * self.dims]  # (B, C, |H|, 1...)
        return alpha.squeeze(2) if self.lifting else alpha

    def extra_repr(self) -> str:
        return (
            f"{self.channels}, hidden={self.hidden}, pooling={self.pooling}, "
            f"lifting={self.lifting}, position={self.position!r}"
        )

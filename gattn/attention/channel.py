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

**Continuous or sampled** :math:`H` (``samples=``, docs/continuous.md): there is no index table
of relative elements; :math:`W_{1,2}(h_i^{-1}\tilde h_j)` are neural fields
(:class:`~gattn.nn.FieldKernel`) of :math:`\mathrm{features}(h_i^{-1}\tilde h_j)`, evaluated
once per forward on the samples' :math:`N \times N` relative elements, and the signal form's
sum over :math:`h'` is the quadrature with :math:`H`'s Haar weights :math:`\mu_j`. Both are
functions of the relative element, so Theorem 1 holds for every element that permutes the
samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..groups import finite_tables
from ..groups.validation import check_int
from ..nn.fields import FieldConfig, FieldKernel
from ..nn.samples import HSamples
from ._common import (
    check_field,
    check_pooling,
    haar_measure,
    operator_stabiliser,
    pair_layout,
    relative_features,
    signal_layout,
    spatial_axes,
)
from .base import PairAttention, SignalAttention

__all__ = ["ChannelAttention", "SignalChannelAttention", "hidden_channels"]


def hidden_channels(channels: int, reduction: int) -> int:
    """Width of the bottleneck: ``max(channels // reduction, 1)``."""
    check_int("reduction", reduction)
    return max(channels // reduction, 1)


def _init(w: Tensor, fan_in: int) -> None:
    nn.init.normal_(w, std=math.sqrt(2.0 / fan_in))


def _relative_field(
    samples: HSamples, out_features: int, config: FieldConfig, std: float, measure: bool = False
) -> FieldKernel:
    r"""A :class:`~gattn.nn.FieldKernel` of :math:`\mathrm{features}(h_i^{-1} h_j)` whose values
    on the samples (times :math:`\mu_j` if ``measure``) have root mean square ``std`` (the
    initialisation of the index-table weights it replaces)."""
    feats = relative_features(samples)
    field = FieldKernel(feats.shape[-1], out_features, config)
    with torch.no_grad():
        values = field(feats.to(field.out.weight.dtype)).double()
        if measure:
            values = values * haar_measure(samples)[None, :, None]
        field.rescale(values, std)
    return field


def _field_values(field: FieldKernel, samples: HSamples) -> Tensor:
    """The field on the samples' relative elements: ``(N, N, out_features)``."""
    return field(relative_features(samples).to(field.out.weight.dtype))


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
        samples: ``None`` (all of a finite :math:`H`: :math:`W_{1,2}` are tables indexed by
            :math:`h^{-1}\tilde h`), or the :math:`H` samples of the layer (an
            :class:`~gattn.nn.HSamples`, a number or a tensor of elements; any :math:`H`):
            :math:`W_{1,2}(h_i^{-1}\tilde h_j)` are then neural fields of
            :math:`\mathrm{features}(h_i^{-1}\tilde h_j)` (a lifting layer's do not depend on
            :math:`h` and stay plain parameters; docs/continuous.md).
        field: the fields' :class:`~gattn.nn.FieldConfig` (``samples`` given only).

    Attributes:
        in_layout: ``PairSignal(H, d, lifting, samples=samples)``.

    Raises:
        ValueError: a continuous :math:`H` without ``samples``, samples of another group, bad
            channel counts or pooling. TypeError: ``field`` not a FieldConfig.

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
        samples: HSamples | int | Tensor | None = None,
        field: FieldConfig | None = None,
    ) -> None:
        super().__init__()
        stab, order, self.dims, self.samples = operator_stabiliser(
            group, samples, "ChannelAttention"
        )
        self.in_layout = pair_layout(stab, self.dims, lifting, self.samples)
        self.in_channels = check_int("in_channels", in_channels)
        self.out_channels = check_int("out_channels", out_channels)
        self.hidden = hidden_channels(in_channels, reduction)
        self.pooling = check_pooling(pooling)
        self.order = order
        self.in_order = 1 if lifting else order
        #: W(h^{-1} h~) are fields of the samples' relative elements (else index tables)
        self.uses_field = self.samples is not None and not lifting
        if self.uses_field:
            config = check_field(field)
            n = out_channels * self.hidden * in_channels
            self.register_buffer("rel", None, persistent=False)
            self.w1 = self.w2 = None
            self.w1_field = _relative_field(self.samples, n, config, math.sqrt(2.0 / in_channels))
            self.w2_field = _relative_field(self.samples, n, config, math.sqrt(2.0 / self.hidden))
            return
        check_field(field)
        rel = torch.zeros(order, 1, dtype=torch.long) if lifting else finite_tables(stab).relative
        # rel[h, h~] = index of h^{-1} h~: which W(.) each (h, h~) pair uses
        self.register_buffer("rel", rel, persistent=False)
        n_rel = 1 if lifting else order
        self.w1 = nn.Parameter(torch.empty(out_channels, n_rel, self.hidden, in_channels))
        self.w2 = nn.Parameter(torch.empty(out_channels, n_rel, in_channels, self.hidden))
        _init(self.w1, in_channels)
        _init(self.w2, self.hidden)

    def relative_weights(self) -> tuple[Tensor, Tensor]:
        r""":math:`W_1(h^{-1}\tilde h)`, :math:`W_2(h^{-1}\tilde h)` for every pair:
        ``(C_out, |H|, |H_in|, hid, C_in)`` and ``(C_out, |H|, |H_in|, C_in, hid)`` (the
        fields evaluated once, on the samples' relative elements, when ``samples`` are given).
        """
        if not self.uses_field:
            return self.w1[:, self.rel], self.w2[:, self.rel]
        co, hid, ci = self.out_channels, self.hidden, self.in_channels
        n = self.order
        w1 = _field_values(self.w1_field, self.samples).reshape(n, n, co, hid, ci)
        w2 = _field_values(self.w2_field, self.samples).reshape(n, n, co, ci, hid)
        return w1.permute(2, 0, 1, 3, 4), w2.permute(2, 0, 1, 3, 4)

    def weights(self, stats: dict[str, Tensor]) -> Tensor:
        r""":math:`\alpha^C` from statistics.

        Args:
            stats: ``{"mean": s_mean, "max": s_max}`` (the keys of :attr:`pooling`), each
                ``(B, C_out, |H|, C_in, |H_in|)``.

        Returns:
            ``(B, C_out, |H|, C_in, |H_in|)`` in :math:`(0, 1)`.
        """
        w1, w2 = self.relative_weights()  # (C_out, |H|, |H_in|, hid, C_in) and (.., C_in, hid)
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
        samples: ``None`` (all of a finite :math:`H`, index tables), or the :math:`H` samples
            of the signal (as :class:`ChannelAttention`): the :math:`H`-convolution becomes the
            quadrature :math:`\sum_j W(h_i^{-1} h_j)\, s(h_j)\, \mu_j` with :math:`W` a neural
            field of :math:`\mathrm{features}(h_i^{-1} h_j)` and :math:`\mu_j` the Haar weights
            of :math:`H` (docs/continuous.md).
        field: the fields' :class:`~gattn.nn.FieldConfig` (``samples`` given only).

    Attributes:
        in_layout: ``GroupSignal(H, d, channels, samples=samples)``, or
            ``Image(d, channels)`` if ``lifting``.

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
        samples: HSamples | int | Tensor | None = None,
        field: FieldConfig | None = None,
    ) -> None:
        super().__init__(position)
        stab, order, self.dims, self.samples = operator_stabiliser(
            group, samples, "SignalChannelAttention"
        )
        self.channels = check_int("channels", channels)
        self.in_layout = signal_layout(stab, self.dims, channels, lifting, self.samples)
        self.hidden = (
            hidden_channels(channels, reduction) if hidden is None else check_int("hidden", hidden)
        )
        self.pooling = check_pooling(pooling)
        self.lifting = lifting
        n = 1 if lifting else order
        config = check_field(field)
        self.uses_field = self.samples is not None and not lifting
        if self.uses_field:
            self.register_buffer("rel", None, persistent=False)
            self.w1 = self.w2 = None
            size = self.hidden * channels
            self.w1_field = _relative_field(
                self.samples, size, config, math.sqrt(2.0 / (channels * n)), measure=True
            )
            self.w2_field = _relative_field(
                self.samples, size, config, math.sqrt(2.0 / (self.hidden * n)), measure=True
            )
        else:
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
        w1, w2 = self.relative_weights()  # (|H|, |H|, hid, C): [t, t'] uses W(t^{-1} t')
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

    def relative_weights(self) -> tuple[Tensor, Tensor]:
        r"""The :math:`H`-convolution's matrices for every pair ``[t, u]``: ``(|H|, |H|, hid, C)``
        and ``(|H|, |H|, C, hid)`` — :math:`W(h_t^{-1} h_u)`, times :math:`\mu_u` for samples
        (the fields evaluated once)."""
        if not self.uses_field:
            return self.w1[self.rel], self.w2[self.rel]
        n, hid, c = self.samples.order, self.hidden, self.channels
        mu = haar_measure(self.samples).to(self.w1_field.out.weight.dtype)[None, :, None]
        w1 = (_field_values(self.w1_field, self.samples) * mu).reshape(n, n, hid, c)
        w2 = (_field_values(self.w2_field, self.samples) * mu).reshape(n, n, c, hid)
        return w1, w2

    def extra_repr(self) -> str:
        return (
            f"{self.channels}, hidden={self.hidden}, pooling={self.pooling}, "
            f"lifting={self.lifting}, position={self.position!r}"
        )

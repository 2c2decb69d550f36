r"""Spatial attention, made equivariant (CBAM spatial branch on G).

Pair form (:class:`SpatialAttention`, docs/maths.md): channel statistics of the (channel-attended)
partial responses :math:`s_X(x, h, \tilde h) = (\operatorname{mean}_{\tilde c},
\max_{\tilde c})\, \tilde f_{c,\tilde c}(x, h, \tilde h) \in \mathbb{R}^2`, and

.. math::

    \alpha^X_c(x, h, \tilde h) = \sigma\Big(\sum_{j=1,2}\sum_y s_{X,j}(y, h, \tilde h)\,
        \psi^{(c)}_{X,j}\big(A(h)^{-1}(y - x),\, h^{-1}\tilde h\big)\Big),

a ``k^d`` (default ``k = 7``) kernel :math:`\psi_X` transformed by :math:`h` and indexed by the
relative element :math:`h^{-1}\tilde h` (a lifting kernel without that index for lifting
layers), one per output channel :math:`c`; zero padding ``k // 2`` keeps the size. Both forms
work in ``d = 1, 2, 3`` spatial dimensions (``conv1d`` / ``conv2d`` / ``conv3d``; statistics and
kernels over every spatial axis). Substituting
:math:`y \to A(k) y + t` shows :math:`\alpha^X` transforms like the responses (Theorem 1).

Signal form (:class:`SignalSpatialAttention`, the input-level :math:`\alpha F` attention):
:math:`s_X(\tilde g)` = (mean, max) over channels of the signal and
:math:`\alpha^X = \sigma(s_X \star_G \psi_X)`, a group correlation ``2 -> 1``. For images (the
lifting layer) the statistics are lifted and the logits pooled over :math:`H` before the sigmoid,

.. math::

    \alpha^X(x) = \sigma\Big(\max_{h \in H} \sum_{j=1,2}\sum_y s_{X,j}(y)\,
        \psi_{X,j}\big(A(h)^{-1}(y - x)\big)\Big),

the official αF lifting layer's form (``lifting_pool="max"``, the default; ``"mean"`` averages
over :math:`H` instead, i.e. correlates with the :math:`H`-averaged kernel). Either pooling is
invariant under :math:`H`, which only permutes the lifted axis, so :math:`\alpha^X` transforms
like an image. The kernel may be dilated (``dilation`` :math:`d`, zero padding
:math:`d\,(k - 1)/2` keeps the size; the official rot-MNIST αF-P4CNN uses :math:`d = 4` in its
lifting layer, docs/attention.md).

**Continuous or sampled** :math:`H` (``samples=``, docs/continuous.md): :math:`\psi_X` is a
neural field (:class:`~gattn.nn.FieldBank`, evaluated once per forward) at
:math:`A(h_i)^{-1} y` and :math:`h_i^{-1}\tilde h_j` of the samples, exactly (no pixel
interpolation), with the bank's Haar factors (:math:`1/|\det A(h_i)|` for a lifting kernel,
the weights :math:`w_j` of the input samples otherwise). An element that permutes the samples
leaves these factors unchanged, so Theorem 1 holds for it exactly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..groups.validation import check_int
from ..nn.fields import FieldBank, FieldConfig
from ..nn.kernels import KernelTransform
from ..nn.samples import HSamples
from ..ops.depthwise import depthwise_same
from ._common import check_field, operator_stabiliser, pair_layout, signal_layout
from .base import PairAttention, SignalAttention

__all__ = ["LIFTING_POOLS", "SpatialAttention", "SignalSpatialAttention", "channel_statistics"]

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _kernel_bank(
    stab,
    samples: HSamples | None,
    out_channels: int,
    kernel_size: int,
    group_input: bool,
    field: FieldConfig | None,
) -> tuple[nn.Module, nn.Parameter | None]:
    r"""``(transform, weight)`` of a spatial-attention kernel :math:`\psi_X` with 2 input
    channels (mean, max): pixel values transformed by :class:`~gattn.nn.kernels.KernelTransform`
    (``samples=None``, a finite :math:`H`), or a :class:`~gattn.nn.FieldBank` evaluated at
    :math:`A(h_i)^{-1} y` (and :math:`h_i^{-1}\tilde h_j`) of the samples, ``weight=None``.
    Both give ``(C_out N, 2 [N_in], *k^d)``, input index ``j N_in + t``; initial root mean
    square :math:`\sqrt{1 / \text{fan-in}}`."""
    config = check_field(field)
    if samples is None:
        order = stab.order if group_input else 1
        shape = (
            (out_channels, 2)
            + ((order,) if group_input else ())
            + (kernel_size,) * (stab.action_dim)
        )
        weight = nn.Parameter(torch.empty(shape))
        fan_in = 2 * order * kernel_size**stab.action_dim
        nn.init.normal_(weight, std=math.sqrt(1.0 / fan_in))
        return KernelTransform(stab, kernel_size, group_input, None), weight
    bank = FieldBank(stab, samples, 2, out_channels, kernel_size, group_input, config)
    with torch.no_grad():  # He's sqrt(2 / fan-in) -> the pixel kernels' sqrt(1 / fan-in)
        bank.field.out.weight.mul_(math.sqrt(0.5))
        bank.field.out.bias.mul_(math.sqrt(0.5))
    return bank, None


class _SameConv2d(torch.autograd.Function):
    """``conv2d`` with size-preserving padding whose input gradient is computed as the forward
    correlation of the output gradient with the flipped, transposed kernel (for the small
    ``2 |H| -> |H|`` 7x7 correlations of the signal spatial attention, oneDNN's input gradient
    is slower on the CPU than this forward correlation; measured in docs/benchmarks.md, "Eager
    path, profiled and optimised"). Twice differentiable: the backward pass is written
    in differentiable operations."""

    @staticmethod
    def forward(ctx, x, weight, padding, dilation):
        ctx.save_for_backward(x, weight)
        ctx.padding, ctx.dilation = padding, dilation
        return F.conv2d(x, weight, padding=padding, dilation=dilation)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        p, d = ctx.padding, ctx.dilation
        gx = gw = None
        if ctx.needs_input_grad[0]:
            flipped = weight.flip(-1, -2).transpose(0, 1)
            gx = F.conv2d(grad, flipped, padding=p, dilation=d)
        if ctx.needs_input_grad[1]:
            gw = torch.ops.aten.convolution_backward(
                grad,
                x,
                weight,
                None,
                [1, 1],
                [p, p],
                [d, d],
                False,
                [0, 0],
                1,
                [False, True, False],
            )[1]
        return gx, gw, None, None


def _same_conv(x: Tensor, weight: Tensor, padding: int, dilation: int, conv) -> Tensor:
    """``conv(x, weight)`` with size-preserving ``padding`` (odd kernels): through
    :class:`_SameConv2d` for 2-D maps on the CPU, else ``conv`` itself."""
    if x.dim() == 4 and x.device.type == "cpu" and 2 * padding == dilation * (weight.shape[-1] - 1):
        return _SameConv2d.apply(x, weight, padding, dilation)
    return conv(x, weight, padding=padding, dilation=dilation)


def channel_statistics(x: Tensor, dim: int) -> Tensor:
    """``(mean, max)`` over ``dim``, stacked in place of ``dim`` (size 2)."""
    return torch.stack([x.mean(dim=dim), x.amax(dim=dim)], dim=dim)


def _check_kernel(kernel_size: int) -> int:
    check_int("kernel_size", kernel_size)
    if kernel_size % 2 == 0:
        raise ValueError(
            f"kernel_size of spatial attention must be odd (size-preserving padding k // 2), "
            f"got {kernel_size}"
        )
    return kernel_size


class SpatialAttention(PairAttention):
    r"""Equivariant spatial attention over (output, input) pairs, :math:`\alpha^X_c(x, h,
    \tilde h)`.

    Args:
        group: :math:`\mathbb{R}^d \rtimes H`, finite :math:`H`, :math:`d \in \{1, 2, 3\}`.
        out_channels: :math:`C_{out}` (one kernel per output channel).
        kernel_size: odd size of :math:`\psi_X` (7 in the paper; ``k^d`` points, transformed
            by :math:`H` through :class:`~gattn.nn.kernels.KernelTransform`).
        lifting: the layer's input lives on :math:`\mathbb{R}^d` (``|H_in| = 1``).
        samples: ``None`` (all of a finite :math:`H`, pixel kernels), or the layer's :math:`H`
            samples (an :class:`~gattn.nn.HSamples`, a number or a tensor of elements; any
            :math:`H`): :math:`\psi_X` is then a neural field
            (:class:`~gattn.nn.FieldBank`) evaluated at :math:`A(h_i)^{-1} y` and
            :math:`h_i^{-1}\tilde h_j` exactly (docs/continuous.md).
        field: the field's :class:`~gattn.nn.FieldConfig` (``samples`` given only).

    Attributes:
        in_layout: ``PairSignal(H, d, lifting, samples=samples)``.
        weight: the pixel kernel (``None`` for a field; its parameters are in
            ``transform.field``).

    Raises:
        ValueError: a continuous :math:`H` without ``samples``, samples of another group, an
            even ``kernel_size``. TypeError: ``field`` not a FieldConfig.

    Shapes:
        :meth:`forward`: responses ``(B, C_out, |H|, C_in, |H_in|, *spatial)`` ->
        ``(B, C_out, |H|, 1, |H_in|, *spatial)``.
    """

    def __init__(
        self,
        group,
        out_channels: int,
        kernel_size: int = 7,
        lifting: bool = False,
        samples: HSamples | int | Tensor | None = None,
        field: FieldConfig | None = None,
    ) -> None:
        super().__init__()
        stab, order, self.dims, self.samples = operator_stabiliser(
            group, samples, "SpatialAttention"
        )
        self.in_layout = pair_layout(stab, self.dims, lifting, self.samples)
        self.out_channels = check_int("out_channels", out_channels)
        self.kernel_size = _check_kernel(kernel_size)
        self.order = order
        self.in_order = 1 if lifting else order
        self.lifting = lifting
        #: when True, lean attentive convolutions also evaluate :meth:`weights` on their
        #: statistics (without autograd) so that observers wrapping it (``gattn.viz``) see the
        #: maps; costs one more pass over the partial responses, off by default
        self.record_maps = False
        self.transform, self.weight = _kernel_bank(
            stab, self.samples, out_channels, kernel_size, not lifting, field
        )

    def rotated_kernels(self) -> Tensor:
        r""":math:`L_h\psi_X(\cdot, h^{-1}\tilde h)`: ``(C_out, |H|, |H_in|, 2, *[k] * d)``
        (a field: evaluated once, at :math:`A(h_i)^{-1} y`, :math:`h_i^{-1}\tilde h_j`)."""
        k, n, ni, d = self.kernel_size, self.order, self.in_order, self.dims
        # (C_out |H|, 2 |H_in|, *k^d), index j |H_in| + t
        bank = self.transform(self.weight) if self.weight is not None else self.transform()
        bank = bank.reshape(self.out_channels, n, 2, ni, *[k] * d)
        return bank.permute(0, 1, 3, 2, *range(4, 4 + d))

    def weights(self, stats: Tensor, kernels: Tensor | None = None) -> Tensor:
        r""":math:`\alpha^X` from channel statistics, for all or for a slice of :math:`\tilde h`.

        Args:
            stats: ``(B, C_out, |H|, T, 2, *spatial)`` (mean, max) for ``T`` input elements.
            kernels: the matching ``(C_out, |H|, T, 2, *[k] * d)`` slice of
                :meth:`rotated_kernels` (default: all of them, ``T = |H_in|``).

        Returns:
            ``(B, C_out, |H|, T, *spatial)`` in :math:`(0, 1)`.
        """
        kernels = self.rotated_kernels() if kernels is None else kernels
        b, c, n, t = stats.shape[:4]
        spatial = stats.shape[5:]
        k, d = self.kernel_size, self.dims
        groups = c * n * t
        # depthwise (one input channel per group): far faster on CPU than 2-channel groups;
        # the two statistics' responses are summed afterwards
        logits = depthwise_same(
            stats.reshape(b, groups * 2, *spatial), kernels.reshape(groups * 2, 1, *[k] * d)
        )
        logits = logits.reshape(b, groups, 2, *spatial).sum(dim=2)
        return torch.sigmoid(logits).reshape(b, c, n, t, *spatial)

    def forward(self, responses: Tensor) -> Tensor:
        stats = channel_statistics(responses, dim=3).transpose(3, 4)  # (B, C, |H|, T, 2, ...)
        return self.weights(stats).unsqueeze(3)

    def extra_repr(self) -> str:
        return (
            f"{self.out_channels}, kernel_size={self.kernel_size}, |H|={self.order}, "
            f"|H_in|={self.in_order}"
        )


LIFTING_POOLS = ("max", "mean")


class SignalSpatialAttention(SignalAttention):
    r"""Equivariant spatial attention on one signal, :math:`\alpha^X(\tilde g)` (docs/attention.md).

    Args:
        group: :math:`\mathbb{R}^d \rtimes H`, finite :math:`H`, :math:`d \in \{1, 2, 3\}`.
        kernel_size: odd size of :math:`\psi_X` (``k^d`` points).
        lifting: the attended signal is a spatial signal ``(B, C, *spatial)``.
        position: ``"input"`` or ``"output"``.
        dilation: dilation :math:`d` of :math:`\psi_X` (zero padding :math:`d\,(k-1)/2` keeps
            the size).
        lifting_pool: for images, how the lifted logits are pooled over :math:`H` before the
            sigmoid: ``"max"`` (the official αF lifting layer) or ``"mean"``. Ignored for group
            signals.
        samples: ``None`` (all of a finite :math:`H`, pixel kernels), or the :math:`H` samples
            (as :class:`SpatialAttention`): :math:`\psi_X` is then a neural field and the
            group correlation over :math:`H` the samples' Haar quadrature (docs/continuous.md).
        field: the field's :class:`~gattn.nn.FieldConfig` (``samples`` given only).

    Raises:
        ValueError: even or non-positive ``kernel_size``, ``dilation < 1``, unknown
            ``lifting_pool`` or ``position``; a continuous :math:`H` without ``samples``.

    Attributes:
        in_layout: ``GroupSignal(H, d, samples=samples)``, or ``Image(d)`` if ``lifting`` (any
            channel count).

    Shapes:
        ``x: (B, C, |H|, *spatial) -> (B, 1, |H|, *spatial)``; spatial signals
        ``(B, C, *spatial) -> (B, 1, *spatial)``.
    """

    def __init__(
        self,
        group,
        kernel_size: int = 7,
        lifting: bool = False,
        position: str = "input",
        dilation: int = 1,
        lifting_pool: str = "max",
        samples: HSamples | int | Tensor | None = None,
        field: FieldConfig | None = None,
    ) -> None:
        super().__init__(position)
        stab, order, self.dims, self.samples = operator_stabiliser(
            group, samples, "SignalSpatialAttention"
        )
        self.in_layout = signal_layout(stab, self.dims, None, lifting, self.samples)
        self.kernel_size = _check_kernel(kernel_size)
        self.dilation = check_int("dilation", dilation)
        if lifting_pool not in LIFTING_POOLS:
            raise ValueError(f"lifting_pool must be one of {LIFTING_POOLS}, got {lifting_pool!r}")
        self.lifting_pool = lifting_pool
        self.lifting = lifting
        self.order = order
        self.transform, self.weight = _kernel_bank(
            stab, self.samples, 1, kernel_size, not lifting, field
        )
        self._conv = _CONV[self.dims]

    def kernel_bank(self) -> Tensor:
        r"""The transformed :math:`\psi_X`: ``(N, 2 [N], *k^d)`` (a field evaluated once)."""
        return self.transform(self.weight) if self.weight is not None else self.transform()

    @property
    def padding(self) -> int:
        r"""Size-preserving zero padding :math:`d\,(k - 1)/2`."""
        return self.dilation * (self.kernel_size // 2)

    def logits(self, x: Tensor) -> Tensor:
        r"""The attention logits before the sigmoid.

        Args:
            x: the attended signal ``(B, C, |H|, *spatial)`` or spatial signal
                ``(B, C, *spatial)``.

        Returns:
            ``(B, |H|, *spatial)`` for group signals; for spatial signals the lifted logits
            ``(B, |H|, *spatial)`` (before the pooling over :math:`H`).
        """
        bank = self.kernel_bank()  # (|H|, 2 [|H|], *k^d)
        if self.lifting:
            stats = channel_statistics(x, dim=1)  # (B, 2, *spatial)
        else:
            b, _, n = x.shape[:3]
            stats = channel_statistics(x, dim=1).reshape(b, 2 * n, *x.shape[3:])
        return _same_conv(stats, bank, self.padding, self.dilation, self._conv)

    def forward(self, x: Tensor) -> Tensor:
        if self.lifting:
            if self.lifting_pool == "mean":
                # mean over h of the lifted logits = correlation with the H-averaged kernel
                bank = self.kernel_bank().mean(dim=0, keepdim=True)
                stats = channel_statistics(x, dim=1)
                pooled = _same_conv(stats, bank, self.padding, self.dilation, self._conv)
            else:
                pooled = self.logits(x).amax(dim=1, keepdim=True)
            return torch.sigmoid(pooled)  # (B, 1, *spatial)
        return torch.sigmoid(self.logits(x)).unsqueeze(1)

    def extra_repr(self) -> str:
        pool = f", lifting_pool={self.lifting_pool!r}" if self.lifting else ""
        return (
            f"kernel_size={self.kernel_size}, dilation={self.dilation}, lifting={self.lifting}"
            f"{pool}, position={self.position!r}"
        )

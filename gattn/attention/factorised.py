r"""Compositions: the paper's factorised full attention and sequential signal attention.

:class:`FactorisedAttention` (docs/maths.md) is the pair operator

.. math::

    \alpha_{c,\tilde c}(x, h, \tilde h) = \alpha^X_c(x, h, \tilde h)\,
        \alpha^C_{c,\tilde c}(h, \tilde h),

channel attention first, spatial statistics from the channel-attended responses
:math:`\alpha^C \tilde f`. Either factor may be absent (channel-only, spatial-only).

**Lean evaluation** (:meth:`FactorisedAttention.attentive_conv`), never holding the
``(B, C_out, |H|, C_in, |H_in|, Y, X)`` partial responses:

1. :math:`\operatorname{mean}_x\tilde f` is linear — a kernel-weighted sum of window means of
   the input; :math:`\max_x\tilde f` is found by streaming over input channels without
   autograd and re-evaluated at the arg-max with autograd (:mod:`gattn.ops.lean_attention`).
2. :math:`\alpha^C` does not depend on :math:`x`: it multiplies the filter bank per sample,
   :math:`K^{(b)} = \alpha^C_b \odot K` (a tiny tensor).
3. One custom autograd function per slice of :math:`\tilde h`
   (:func:`~gattn.ops.lean_attention.spatially_attended_responses`) streams over **batch chunks**:
   per chunk, im2col patches and two ``matmul`` calls give
   :math:`S(x,h,\tilde h) = \sum_{\tilde c}\alpha^C\tilde f` (contraction :math:`C_{in} k^2`)
   and the chunk's partial responses, reduced to :math:`M = \max_{\tilde c}\alpha^C\tilde f`
   and freed; then :math:`\alpha^X = \sigma((S / C_{in}, M) \star L_h\psi_X)` (a depthwise
   correlation in channels-last layout) and the chunk's output :math:`\sum_{\tilde h}\alpha^X
   S`, since

   .. math:: \sum_{\tilde c,\tilde h}\alpha^X\alpha^C\tilde f = \sum_{\tilde h}\alpha^X(x,h,
             \tilde h)\, S(x,h,\tilde h).

   Only :math:`S`, :math:`M` and a ``uint8`` arg-max over input channels are saved; the
   backward pass recomputes the logits and the patches chunk by chunk (no tensor of the whole
   batch's partial responses, stacked statistics or attention maps is ever stored). The
   slices of :math:`\tilde h` (``chunks`` of them; by default one input element per slice)
   keep each chunk's maps small.
   ``checkpoint=True`` saves not even :math:`S` and :math:`M`: the backward pass recomputes
   the partial responses once more (less memory, about one more partial-response pass of
   time).

Without spatial attention the output is :math:`\sum_{\tilde h} S`.

**Dimensions.** The lean evaluation is the 2-D one (images; the default, and what the
benchmarks measure). For 1-D signals and volumes (``d = 1, 3``) :meth:`attentive_conv` is the
exact reference evaluation of :class:`~gattn.attention.base.PairAttention`: it materialises the
partial responses (memory ``C_in |H_in|`` times a group convolution's output;
docs/attention.md), and ``checkpoint`` / ``chunks`` do not apply.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..groups.validation import check_int
from ..ops.im2col import output_size
from ..ops.lean_attention import (
    response_maxima,
    response_means,
    response_statistics,
    spatially_attended_responses,
    summed_responses,
)
from .base import PairAttention, SignalAttention
from .channel import ChannelAttention
from .spatial import SpatialAttention

__all__ = ["FactorisedAttention", "SequentialSignalAttention"]


class FactorisedAttention(PairAttention):
    r""":math:`\alpha = \alpha^X \cdot \alpha^C` over (output, input) pairs (full attention).

    Args:
        channel: a :class:`~gattn.attention.channel.ChannelAttention` or ``None``.
        spatial: a :class:`~gattn.attention.spatial.SpatialAttention` or ``None``.
        checkpoint: recompute :math:`S` and :math:`M` in the backward pass instead of saving
            them (the layer then saves nothing larger than its input; costs one more
            partial-response pass).
        chunks: number of :math:`\tilde h` slices (``None``: one per input element,
            ``|H_in|``; ``1``: all at once).

    Attributes:
        in_layout: ``PairSignal(H, d, lifting)``, the factors'.

    Raises:
        ValueError: neither factor, or factors for different groups, dimensions or layers.
        TypeError: a factor of the wrong type.

    Shapes:
        :meth:`forward`: responses ``(B, C_out, |H|, C_in, |H_in|, *spatial)`` ->
        broadcastable weights. :meth:`attentive_conv`: ``x: (B, C_in, |H_in|, *spatial)``,
        ``bank: (C_out, |H|, C_in, |H_in|, *[k] * d)`` -> ``(B, C_out, |H|, *spatial')`` —
        lean for ``d = 2``, the materialising reference for ``d = 1, 3`` (module docstring).
    """

    def __init__(
        self,
        channel: ChannelAttention | None = None,
        spatial: SpatialAttention | None = None,
        checkpoint: bool = False,
        chunks: int | None = None,
    ) -> None:
        super().__init__()
        if channel is None and spatial is None:
            raise ValueError("FactorisedAttention needs a channel or a spatial factor, got neither")
        if channel is not None and not isinstance(channel, ChannelAttention):
            raise TypeError(f"channel must be a ChannelAttention or None, got {channel!r}")
        if spatial is not None and not isinstance(spatial, SpatialAttention):
            raise TypeError(f"spatial must be a SpatialAttention or None, got {spatial!r}")
        layouts = [f.in_layout for f in (channel, spatial) if f is not None]
        if len(layouts) == 2 and (
            (layouts[0].dims, layouts[0].lifting, layouts[0].order)
            != (layouts[1].dims, layouts[1].lifting, layouts[1].order)
            or layouts[0].samples is not layouts[1].samples
        ):
            raise ValueError(
                f"FactorisedAttention: the channel and spatial factors read different layouts "
                f"({layouts[0]} and {layouts[1]}); build both for the same group and layer "
                "(with the same HSamples object when H is sampled)"
            )
        self.in_layout = layouts[0]
        self.dims = layouts[0].dims
        self.channel = channel
        self.spatial = spatial
        self.checkpoint = checkpoint
        self.chunks = None if chunks is None else check_int("chunks", chunks)

    def forward(self, responses: Tensor) -> Tensor:
        alpha = responses.new_ones(())
        if self.channel is not None:
            alpha = self.channel(responses)
            responses = alpha * responses
        if self.spatial is not None:
            alpha = alpha * self.spatial(responses)
        return alpha

    def channel_weights(self, x: Tensor, bank: Tensor, stride: int, padding: int) -> Tensor:
        r""":math:`\alpha^C`: ``(B, C_out, |H|, C_in, |H_in|)`` (ones without a channel factor)."""
        b, ci, hi = x.shape[:3]
        if self.channel is None:
            return bank.new_ones(b, *bank.shape[:2], ci, hi)
        stats = {}
        if "mean" in self.channel.pooling:
            stats["mean"] = response_means(x, bank, stride, padding)
        if "max" in self.channel.pooling:
            stats["max"] = response_maxima(x, bank, stride, padding)
        return self.channel.weights(stats)

    def attentive_conv(self, x: Tensor, bank: Tensor, stride: int = 1, padding: int = 0) -> Tensor:
        if x.dim() != 5:  # d = 1, 3: the exact reference evaluation (materialising)
            return super().attentive_conv(x, bank, stride, padding)
        b, ci, hi = x.shape[:3]
        co, n = bank.shape[:2]
        k = bank.shape[-1]
        y, w = (output_size(size, k, stride, padding) for size in x.shape[-2:])
        alpha_c = self.channel_weights(x, bank, stride, padding)
        if self.spatial is None:
            s = summed_responses(x, bank, alpha_c, stride, padding)  # (B, |H_in|, C_out |H|, L)
            return s.sum(dim=1).reshape(b, co, n, y, w)
        rot = self.spatial.rotated_kernels()  # (C_out, |H|, |H_in|, 2, k', k')
        step = 1 if self.chunks is None else -(-hi // self.chunks)
        out = None
        for t0 in range(0, hi, step):
            t1 = min(hi, t0 + step)
            args = (
                x[:, :, t0:t1],
                bank[:, :, :, t0:t1],
                alpha_c[..., t0:t1],
                rot[:, :, t0:t1],
                stride,
                padding,
            )
            part = spatially_attended_responses(*args, save_statistics=not self.checkpoint)
            if self.spatial.record_maps:  # an observer (gattn.viz) wants the maps themselves
                self.spatial.weights(response_statistics(*args[:3], stride, padding), args[3])
            out = part if out is None else out + part
        # channels last -> (B, C_out, |H|, Y', X')
        return out.reshape(b, y, w, co, n).permute(0, 3, 4, 1, 2).contiguous()

    def extra_repr(self) -> str:
        return f"checkpoint={self.checkpoint}, chunks={self.chunks}"


class SequentialSignalAttention(SignalAttention):
    r"""Signal attentions applied one after the other (CBAM order: channel, then spatial on the
    channel-attended signal): :math:`x_{i+1} = \alpha_i[x_i]\, x_i`,
    :math:`\alpha = \prod_i \alpha_i`.

    Args:
        operators: :class:`~gattn.attention.base.SignalAttention` instances.
        position: ``"input"`` or ``"output"``.
    """

    def __init__(self, *operators: SignalAttention, position: str = "input") -> None:
        super().__init__(position)
        if not operators:
            raise ValueError("SequentialSignalAttention needs at least one operator")
        for i, op in enumerate(operators):
            if not isinstance(op, SignalAttention):
                raise TypeError(f"operators[{i}] must be a SignalAttention, got {op!r}")
        self.operators = torch.nn.ModuleList(operators)
        #: the first operator's (a channel attention's declares the channel count)
        self.in_layout = getattr(operators[0], "in_layout", None)

    def forward(self, x: Tensor) -> Tensor:
        alpha = x.new_ones(())
        for op in self.operators:
            a = op(x)
            x = a * x
            alpha = alpha * a
        return alpha

    def attend(self, x: Tensor) -> Tensor:
        for op in self.operators:
            x = op.attend(x)
        return x

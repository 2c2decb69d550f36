r"""Compositions: the paper's factorised full attention and sequential signal attention.

:class:`FactorisedAttention` (SPEC §3) is the pair operator

.. math::

    \alpha_{c,\tilde c}(x, h, \tilde h) = \alpha^X_c(x, h, \tilde h)\,
        \alpha^C_{c,\tilde c}(h, \tilde h),

channel attention first, spatial statistics from the channel-attended responses
:math:`\alpha^C \tilde f`. Either factor may be absent (channel-only, spatial-only).

**Lean evaluation** (:meth:`FactorisedAttention.attentive_conv`), never holding the
``(B, C_out, |H|, C_in, |H_in|, Y, X)`` partial responses:

1. :math:`\operatorname{mean}_x\tilde f` is linear — a kernel-weighted sum of window means of
   the input; :math:`\max_x\tilde f` is found by streaming over input channels without
   autograd and re-evaluated at the arg-max with autograd (:mod:`gattn.attention.lean`).
2. :math:`\alpha^C` multiplies the filter bank per sample:
   :math:`K^{(b)} = \alpha^C_b \odot K` (it does not depend on :math:`x`).
3. For every input element :math:`\tilde h` (a chunk): one pass over input channels gives
   :math:`S(x,h,\tilde h) = \sum_{\tilde c}\alpha^C\tilde f` and
   :math:`M(x,h,\tilde h) = \max_{\tilde c}\alpha^C\tilde f`
   (:func:`~gattn.attention.lean.sum_max_conv`); then
   :math:`\alpha^X = \sigma((S / C_{in}, M) \star L_h\psi_X)` and the chunk contributes
   :math:`\alpha^X \odot S`, since

   .. math:: \sum_{\tilde c,\tilde h}\alpha^X\alpha^C\tilde f = \sum_{\tilde h}\alpha^X(x,h,
             \tilde h)\, S(x,h,\tilde h).

   With ``checkpoint=True`` each chunk is recomputed in the backward pass, so only one
   chunk's intermediates are alive at a time.

Without spatial attention the output is a single per-sample correlation with
:math:`K^{(b)}` (batch folded into ``conv2d`` groups).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint as _checkpoint

from .base import PairAttention, SignalAttention
from .channel import ChannelAttention
from .lean import per_sample_conv, response_maxima, response_means, sum_max_conv
from .spatial import SpatialAttention

__all__ = ["FactorisedAttention", "SequentialSignalAttention"]


class FactorisedAttention(PairAttention):
    r""":math:`\alpha = \alpha^X \cdot \alpha^C` over (output, input) pairs (full attention).

    Args:
        channel: a :class:`~gattn.attention.channel.ChannelAttention` or ``None``.
        spatial: a :class:`~gattn.attention.spatial.SpatialAttention` or ``None``.
        checkpoint: recompute each :math:`\tilde h` chunk in the backward pass (bounds memory
            by one chunk's intermediates at the price of one more forward of the chunk).

    Shapes:
        :meth:`forward`: responses ``(B, C_out, |H|, C_in, |H_in|, Y, X)`` -> broadcastable
        weights. :meth:`attentive_conv`: ``x: (B, C_in, |H_in|, Y, X)``,
        ``bank: (C_out, |H|, C_in, |H_in|, k, k)`` -> ``(B, C_out, |H|, Y', X')``.
    """

    def __init__(
        self,
        channel: ChannelAttention | None = None,
        spatial: SpatialAttention | None = None,
        checkpoint: bool = True,
    ) -> None:
        super().__init__()
        if channel is None and spatial is None:
            raise ValueError("FactorisedAttention needs a channel or a spatial factor, got neither")
        if channel is not None and not isinstance(channel, ChannelAttention):
            raise TypeError(f"channel must be a ChannelAttention or None, got {channel!r}")
        if spatial is not None and not isinstance(spatial, SpatialAttention):
            raise TypeError(f"spatial must be a SpatialAttention or None, got {spatial!r}")
        self.channel = channel
        self.spatial = spatial
        self.checkpoint = checkpoint

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
        if "avg" in self.channel.pooling:
            stats["avg"] = response_means(x, bank, stride, padding)
        if "max" in self.channel.pooling:
            stats["max"] = response_maxima(x, bank, stride, padding)
        return self.channel.weights(stats)

    def _chunk(self, x_t, bank_t, alpha_t, rot_t, stride: int, padding: int):
        b, co, n, ci = alpha_t.shape
        k = bank_t.shape[-1]
        s, m = sum_max_conv(
            x_t, bank_t.reshape(co * n, ci, k, k), alpha_t.reshape(b, co * n, ci), stride, padding
        )
        y, w = s.shape[-2:]
        s = s.reshape(b, co, n, y, w)
        stats = torch.stack([s / ci, m.reshape(b, co, n, y, w)], dim=3).unsqueeze(3)
        alpha_x = self.spatial.weights(stats, rot_t)[:, :, :, 0]
        return alpha_x * s

    def attentive_conv(self, x: Tensor, bank: Tensor, stride: int = 1, padding: int = 0) -> Tensor:
        b, ci, hi, y, w = x.shape
        co, n = bank.shape[:2]
        k = bank.shape[-1]
        alpha_c = self.channel_weights(x, bank, stride, padding)
        if self.spatial is None:
            kern = alpha_c[..., None, None] * bank
            out = per_sample_conv(
                x.reshape(b, ci * hi, y, w), kern.reshape(b, co * n, ci * hi, k, k), stride, padding
            )
            return out.reshape(b, co, n, *out.shape[-2:])
        rot = self.spatial.rotated_kernels()  # (C_out, |H|, |H_in|, 2, k', k')
        out = None
        for t in range(hi):
            args = (
                x[:, :, t],
                bank[:, :, :, t],
                alpha_c[..., t],
                rot[:, :, t : t + 1],
                stride,
                padding,
            )
            if self.checkpoint and torch.is_grad_enabled():
                part = _checkpoint(self._chunk, *args, use_reentrant=False)
            else:
                part = self._chunk(*args)
            out = part if out is None else out + part
        return out

    def extra_repr(self) -> str:
        return f"checkpoint={self.checkpoint}"


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

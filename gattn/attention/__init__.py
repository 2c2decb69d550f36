r"""Attentive group convolutions [AGC] and their attention operators (docs/maths.md).

* :class:`AttentiveLiftingConv`, :class:`AttentiveGroupConv` — the attentive layers; each hands
  its operator its plain convolution (:class:`LayerConvolution`).
* :class:`AttentionOperator` — the interface; :class:`PairAttention` for
  :math:`\alpha(g, \tilde g)` read from partial responses, :class:`SignalAttention` for
  input-level (:math:`\alpha F`) and co-domain attention.
* Shipped operators: :class:`ChannelAttention`, :class:`SpatialAttention` and their composition
  :class:`FactorisedAttention` (with a lean, non-materialising evaluation);
  :class:`SignalChannelAttention`, :class:`SignalSpatialAttention`,
  :class:`SequentialSignalAttention`.
* :func:`build_attention` — operators by name, as used by the attentive layers.
* The fused autograd code they run lives one floor down, in :mod:`gattn.ops`.
* Prior visual attention as special cases (:mod:`gattn.attention.prior`):
  :class:`SqueezeExcitation`, :class:`CBAM`, :class:`BAM`, :class:`ResidualAttention`,
  :class:`CoAttention`.
"""

from .base import (
    AttentionOperator,
    LayerConvolution,
    PairAttention,
    SignalAttention,
    pair_output,
    partial_responses,
)
from .build import ATTENTION_MODES, build_attention
from .channel import ChannelAttention, SignalChannelAttention, hidden_channels
from .factorised import FactorisedAttention, SequentialSignalAttention
from .layers import AttentiveGroupConv, AttentiveLiftingConv
from .prior import (
    BAM,
    CBAM,
    ChannelGateLogits,
    CoAttention,
    DilatedSpatialLogits,
    ParallelSignalAttention,
    PriorAttention,
    ResidualAttention,
    ResidualSignalAttention,
    SqueezeExcitation,
)
from .spatial import SignalSpatialAttention, SpatialAttention, channel_statistics

__all__ = [
    "AttentiveLiftingConv",
    "AttentiveGroupConv",
    "LayerConvolution",
    "AttentionOperator",
    "PairAttention",
    "SignalAttention",
    "partial_responses",
    "pair_output",
    "ChannelAttention",
    "SignalChannelAttention",
    "hidden_channels",
    "SpatialAttention",
    "SignalSpatialAttention",
    "channel_statistics",
    "FactorisedAttention",
    "SequentialSignalAttention",
    "build_attention",
    "ATTENTION_MODES",
    "PriorAttention",
    "SqueezeExcitation",
    "CBAM",
    "BAM",
    "ResidualAttention",
    "CoAttention",
    "ParallelSignalAttention",
    "ResidualSignalAttention",
    "ChannelGateLogits",
    "DilatedSpatialLogits",
]

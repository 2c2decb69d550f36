r"""Attention operators for attentive group convolutions [AGC] (docs/maths.md).

* :class:`AttentionOperator` — the interface; :class:`PairAttention` for
  :math:`\alpha(g, \tilde g)` read from partial responses, :class:`SignalAttention` for
  input-level (:math:`\alpha F`) and co-domain attention.
* Shipped operators: :class:`ChannelAttention`, :class:`SpatialAttention` and their composition
  :class:`FactorisedAttention` (with a lean, non-materialising evaluation);
  :class:`SignalChannelAttention`, :class:`SignalSpatialAttention`,
  :class:`SequentialSignalAttention`.
* :func:`build_attention` — operators by name, as used by the attentive layers.
* Prior visual attention as special cases (:mod:`gattn.attention.prior`):
  :class:`SqueezeExcitation`, :class:`CBAM`, :class:`BAM`, :class:`ResidualAttention`,
  :class:`CoAttention`.
"""

from .base import (
    AttentionOperator,
    PairAttention,
    SignalAttention,
    pair_output,
    partial_responses,
)
from .build import ATTENTION_MODES, build_attention
from .channel import ChannelAttention, SignalChannelAttention, hidden_channels
from .factorised import FactorisedAttention, SequentialSignalAttention
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

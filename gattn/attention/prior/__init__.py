r"""Prior visual attention as special cases of attentive group convolutions [AGC] (docs/maths.md).

Drop-in modules (trivial stabiliser: the published module; finite :math:`H`: its equivariant
generalisation) — :class:`SqueezeExcitation`, :class:`CBAM`, :class:`BAM`,
:class:`ResidualAttention`, :class:`CoAttention` — each holding a
:class:`~gattn.attention.base.SignalAttention` operator composed from the generic ones, plus
the generic pieces the composition needed: :class:`ParallelSignalAttention`,
:class:`ResidualSignalAttention` (the :math:`1 + \alpha` form), and BAM's branches
:class:`ChannelGateLogits`, :class:`DilatedSpatialLogits`. See ``docs/special_cases.md``.
"""

from .branches import ChannelGateLogits, DilatedSpatialLogits
from .combine import ParallelSignalAttention, ResidualSignalAttention
from .modules import BAM, CBAM, CoAttention, PriorAttention, ResidualAttention, SqueezeExcitation

__all__ = [
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

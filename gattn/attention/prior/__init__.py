r"""Prior visual attention as special cases of attentive group convolutions [AGC] (docs/maths.md).

Drop-in modules (trivial stabiliser: the published module; finite :math:`H`: its equivariant
generalisation) — :class:`SqueezeExcitation`, :class:`CBAM`, :class:`BAM`,
:class:`ResidualAttention`, :class:`CoAttention` — each holding a
:class:`~gattn.attention.base.SignalAttention` operator composed from the generic ones, plus
the generic pieces the composition needed: :class:`ParallelSignalAttention`,
:class:`ResidualSignalAttention` (the :math:`1 + \alpha` form), BAM's branches
:class:`ChannelGateLogits`, :class:`DilatedSpatialLogits`, and the released CBAM's spatial gate
:class:`SignalSpatialGate` (batch norm, order of the statistics). Trained modules of timm and
of the original authors load with :func:`load_timm_cbam`, :func:`load_authors_cbam` and
:func:`load_authors_bam` (also ``CBAM.from_timm``, ``CBAM.from_authors``,
``BAM.from_authors``). See ``docs/special_cases.md``.
"""

from .branches import ChannelGateLogits, DilatedSpatialLogits, SignalSpatialGate
from .combine import ParallelSignalAttention, ResidualSignalAttention
from .convert import load_authors_bam, load_authors_cbam, load_timm_cbam
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
    "SignalSpatialGate",
    "load_timm_cbam",
    "load_authors_cbam",
    "load_authors_bam",
]

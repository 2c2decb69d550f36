"""Equivariant layers on :math:`\\mathbb{R}^2 \\rtimes H`: lifting and group convolutions,
pooling, normalisation (attentive layers and self-attention are exported here too)."""

from .attentive import AttentiveGroupConv, AttentiveLiftingConv
from .conv import GroupConv, LiftingConv, stabiliser_of
from .kernels import KernelTransform, relative_indices, spatial_sampling
from .pooling import GlobalPool, GroupBatchNorm, GroupPool, SpatialPool
from .positional import RelativePositionMLP
from .self_attention import GroupSelfAttention, LiftingSelfAttention

__all__ = [
    "AttentiveLiftingConv",
    "AttentiveGroupConv",
    "LiftingSelfAttention",
    "GroupSelfAttention",
    "RelativePositionMLP",
    "LiftingConv",
    "GroupConv",
    "stabiliser_of",
    "KernelTransform",
    "relative_indices",
    "spatial_sampling",
    "GroupPool",
    "SpatialPool",
    "GlobalPool",
    "GroupBatchNorm",
]

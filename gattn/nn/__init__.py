"""Equivariant layers on :math:`\\mathbb{R}^2 \\rtimes H`: lifting and group convolutions,
pooling, normalisation, group self-attention. The attentive convolutions sit one floor up, in
:mod:`gattn.attention` (which builds on these layers); the fused autograd code one floor down,
in :mod:`gattn.ops`."""

from .conv import KERNEL_KINDS, GroupConv, LiftingConv
from .fields import FieldBank, FieldConfig, FieldKernel
from .kernels import KernelTransform, kernel_sampling
from .pooling import GlobalPool, GroupBatchNorm, GroupPool, SpatialPool
from .positional import RelativePositionMLP
from .samples import HSamples, as_samples, optional_samples, resample
from .self_attention import GroupSelfAttention, LiftingSelfAttention

__all__ = [
    "LiftingSelfAttention",
    "GroupSelfAttention",
    "RelativePositionMLP",
    "LiftingConv",
    "GroupConv",
    "KERNEL_KINDS",
    "FieldConfig",
    "FieldKernel",
    "FieldBank",
    "HSamples",
    "as_samples",
    "optional_samples",
    "resample",
    "KernelTransform",
    "kernel_sampling",
    "GroupPool",
    "SpatialPool",
    "GlobalPool",
    "GroupBatchNorm",
]

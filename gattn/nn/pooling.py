r"""Pooling and normalisation that keep equivariance.

* :class:`GroupPool`: max or mean over the group axis, :math:`(B, C, |H|, Y, X) \to
  (B, C, Y, X)` — invariant to the permutation of :math:`H`, so it maps equivariant signals
  to equivariant images.
* :class:`SpatialPool`: max/avg pooling over :math:`(Y, X)` of each group channel (exact
  when the sizes satisfy docs/analysis.md, see :mod:`gattn.analysis`).
* :class:`GroupBatchNorm`: batch norm whose statistics and affine parameters are shared
  over :math:`H` and space, so it commutes with :math:`L_g`.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from .checks import check_matches_parameters

__all__ = ["GroupPool", "SpatialPool", "GroupBatchNorm", "GlobalPool"]


def _check5(x: Tensor, layer: str) -> None:
    if x.dim() != 5:
        raise ValueError(
            f"{layer}: x must be a group signal (B, C, |H|, Y, X), got shape {tuple(x.shape)}"
        )


class GroupPool(nn.Module):
    """Pool over the group axis: ``(B, C, |H|, Y, X) -> (B, C, Y, X)``.

    Args:
        mode: ``"max"`` or ``"mean"``.
    """

    def __init__(self, mode: str = "max") -> None:
        super().__init__()
        if mode not in ("max", "mean"):
            raise ValueError(f"mode must be 'max' or 'mean', got {mode!r}")
        self.mode = mode

    def forward(self, x: Tensor) -> Tensor:
        _check5(x, "GroupPool")
        return x.amax(2) if self.mode == "max" else x.mean(2)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


class SpatialPool(nn.Module):
    """Max or average pooling over space for images ``(B, C, Y, X)`` or group signals
    ``(B, C, |H|, Y, X)`` (each group channel pooled separately).

    Args:
        kernel_size, stride, padding: as in ``max_pool2d`` (``stride`` defaults to the kernel).
        mode: ``"max"`` or ``"avg"``.
    """

    def __init__(
        self, kernel_size: int = 2, stride: int | None = None, padding: int = 0, mode: str = "max"
    ) -> None:
        super().__init__()
        if mode not in ("max", "avg"):
            raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.mode = mode

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() not in (4, 5):
            raise ValueError(
                f"SpatialPool: x must be (B, C, Y, X) or (B, C, |H|, Y, X), got {tuple(x.shape)}"
            )
        lead = x.shape[:-2]
        # explicit channel count: ``reshape(b, -1, ...)`` is ambiguous for an empty batch
        flat = x.reshape(x.shape[0], math.prod(lead[1:]), *x.shape[-2:])
        pool = F.max_pool2d if self.mode == "max" else F.avg_pool2d
        y = pool(flat, self.kernel_size, self.stride, self.padding)
        return y.reshape(*lead, *y.shape[-2:])

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"mode={self.mode!r}"
        )


class GlobalPool(nn.Module):
    """Invariant global pooling: group axis and space to ``(B, C)``.

    Args:
        group_mode, spatial_mode: ``"max"`` or ``"mean"`` for each reduction.
    """

    def __init__(self, group_mode: str = "max", spatial_mode: str = "max") -> None:
        super().__init__()
        for name, m in (("group_mode", group_mode), ("spatial_mode", spatial_mode)):
            if m not in ("max", "mean"):
                raise ValueError(f"{name} must be 'max' or 'mean', got {m!r}")
        self.group_mode, self.spatial_mode = group_mode, spatial_mode

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 5:
            x = x.amax(2) if self.group_mode == "max" else x.mean(2)
        if x.dim() != 4:
            raise ValueError(f"GlobalPool: x must be 4- or 5-dimensional, got {tuple(x.shape)}")
        return x.amax((-2, -1)) if self.spatial_mode == "max" else x.mean((-2, -1))


class GroupBatchNorm(nn.BatchNorm3d):
    """Batch norm for ``(B, C, |H|, Y, X)`` with statistics shared over :math:`H` and space.

    Args:
        channels: ``C``.
        eps, momentum, affine, track_running_stats: as in ``torch.nn.BatchNorm3d``.
    """

    def forward(self, x: Tensor) -> Tensor:
        _check5(x, "GroupBatchNorm")
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"GroupBatchNorm: x has {x.shape[1]} channels, expected {self.num_features}"
            )
        reference = self.weight if self.weight is not None else self.running_mean
        check_matches_parameters(x, reference, "GroupBatchNorm")
        return super().forward(x)

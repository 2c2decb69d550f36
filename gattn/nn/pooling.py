r"""Pooling and normalisation that keep equivariance, on :math:`\mathbb{R}^d \rtimes H` for
:math:`d \in \{1, 2, 3\}` (docs/layers.md).

* :class:`GroupPool`: max or mean over the group axis, :math:`(B, C, |H|, *spatial) \to
  (B, C, *spatial)` — invariant to the permutation of :math:`H`, so it maps equivariant signals
  to equivariant images.
* :class:`SpatialPool`: max / mean pooling over the spatial axes of each (group) channel
  (exact when the sizes satisfy docs/analysis.md, see :mod:`gattn.analysis`).
* :class:`GlobalPool`: group axis and space to invariants ``(B, C)``.
* :class:`GroupBatchNorm`: batch norm whose statistics and affine parameters are shared
  over :math:`H` and space, so it commutes with :math:`L_g`.

Every layer declares ``in_layout`` / ``out_layout`` (:mod:`gattn.groups.layouts`). The spatial
dimension ``d`` and :math:`H` come from ``group=`` (an affine group, as for the convolutions);
without it, ``dims=`` (default 2) fixes ``d`` and the group axis length is not checked.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from .. import groups
from ..groups import GroupSignal, Image, Invariant, Layout, MatrixGroup
from ..groups.validation import check_choice, check_int
from .checks import ImageOrSignal, check_input, check_matches_parameters

__all__ = ["GroupPool", "SpatialPool", "GroupBatchNorm", "GlobalPool", "POOL_MODES"]

#: the pooling vocabulary of every layer
POOL_MODES = ("max", "mean")

_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_MEAN_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def _mode(name: str, mode: object) -> str:
    if mode == "avg":
        raise ValueError(f"{name} must be one of {POOL_MODES}, got {name}='avg' (use 'mean')")
    return check_choice(name, mode, POOL_MODES)


def _geometry(
    group: MatrixGroup | None, dims: int | None, default: int | None = 2, samples: object = None
) -> tuple[int | None, MatrixGroup | None]:
    """``(d, H)`` from ``group`` (``H`` finite, or continuous with ``samples``) or from ``dims``
    alone (``H`` unknown; ``d`` is ``default`` when ``dims`` is not given either)."""
    if samples is not None and group is None:
        raise ValueError("samples= needs group= (the group whose H the samples are of)")
    if group is None:
        d = default if dims is None else dims
        if d is not None and (d not in (1, 2, 3) or isinstance(d, bool)):
            raise ValueError(f"dims must be 1, 2 or 3 (spatial dimensions), got dims={dims!r}")
        return d, None
    stab = groups.stabiliser_of(group, finite=samples is None, dims=(1, 2, 3))
    if dims is not None and dims != stab.action_dim:
        raise ValueError(
            f"dims={dims!r} contradicts group {group.name}, which acts on R^{stab.action_dim}"
        )
    return stab.action_dim, stab


def _signal_layout(
    d: int, stab: MatrixGroup | None, channels: int | None = None, samples: object = None
) -> Layout:
    if stab is None:
        return ImageOrSignal(d, None, channels, images=False)
    return GroupSignal(stab, d, channels, samples=samples)


class GroupPool(nn.Module):
    """Pool over the group axis: ``(B, C, |H|, *spatial) -> (B, C, *spatial)``.

    Args:
        mode: ``"max"`` or ``"mean"``.
        group: the affine group (gives ``d`` and :math:`H`; optional).
        dims: spatial dimensions ``d`` when ``group`` is not given (default 2).
        samples: the :math:`H` samples of the group axis (a shared
            :class:`~gattn.nn.HSamples`) when ``group`` has a continuous :math:`H`; ``"mean"``
            is then the plain mean over the samples (the Haar mean for uniform samples).

    Attributes:
        in_layout: ``GroupSignal(H, d)``. out_layout: ``Image(d)``.

    Raises:
        ValueError: a mode outside ``("max", "mean")``, or ``dims`` / ``group`` invalid.
    """

    def __init__(
        self,
        mode: str = "max",
        *,
        group: MatrixGroup | None = None,
        dims: int | None = None,
        samples: object = None,
    ) -> None:
        super().__init__()
        self.mode = _mode("mode", mode)
        self.dims, stab = _geometry(group, dims, samples=samples)
        self.in_layout = _signal_layout(self.dims, stab, samples=samples)
        self.out_layout = Image(self.dims)

    def forward(self, x: Tensor) -> Tensor:
        check_input(self.in_layout, x, "GroupPool")
        return x.amax(2) if self.mode == "max" else x.mean(2)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, dims={self.dims}"


class SpatialPool(nn.Module):
    """Max or mean pooling over space for images ``(B, C, *spatial)`` or group signals
    ``(B, C, |H|, *spatial)`` (each group channel pooled separately).

    Args:
        kernel_size, stride, padding: as in ``max_pool{d}d`` (``stride`` defaults to the
            kernel); an int or ``d`` ints.
        mode: ``"max"`` or ``"mean"``.
        group: the affine group (gives ``d`` and :math:`H`; optional).
        dims: spatial dimensions ``d`` when ``group`` is not given (default 2).
        samples: the :math:`H` samples (:class:`~gattn.nn.HSamples`) for a continuous
            :math:`H`.

    Attributes:
        in_layout, out_layout: the same :class:`~gattn.nn.checks.ImageOrSignal` (the input's
            layout is kept).

    Raises:
        ValueError: a mode outside ``("max", "mean")``, or invalid sizes / ``dims`` / ``group``.
    """

    def __init__(
        self,
        kernel_size: int = 2,
        stride: int | None = None,
        padding: int = 0,
        mode: str = "max",
        *,
        group: MatrixGroup | None = None,
        dims: int | None = None,
        samples: object = None,
    ) -> None:
        super().__init__()
        self.mode = _mode("mode", mode)
        self.dims, stab = _geometry(group, dims, samples=samples)
        self.kernel_size = _sizes("kernel_size", kernel_size, 1, self.dims)
        self.stride = self.kernel_size if stride is None else _sizes("stride", stride, 1, self.dims)
        self.padding = _sizes("padding", padding, 0, self.dims)
        self.in_layout = self.out_layout = ImageOrSignal(self.dims, stab, samples=samples)
        self._pool = (_MAX_POOL if self.mode == "max" else _MEAN_POOL)[self.dims]

    def forward(self, x: Tensor) -> Tensor:
        check_input(self.in_layout, x, "SpatialPool")
        d = self.dims
        lead = x.shape[:-d]
        # explicit channel count: ``reshape(b, -1, ...)`` is ambiguous for an empty batch
        flat = x.reshape(x.shape[0], math.prod(lead[1:]), *x.shape[-d:])
        y = self._pool(flat, self.kernel_size, self.stride, self.padding)
        return y.reshape(*lead, *y.shape[-d:])

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"mode={self.mode!r}, dims={self.dims}"
        )


def _sizes(name: str, value: object, minimum: int, dims: int) -> int | tuple[int, ...]:
    if isinstance(value, (tuple, list)):
        if len(value) != dims:
            raise ValueError(f"{name} must be an integer or {dims} integers, got {name}={value!r}")
        return tuple(check_int(f"{name}[{i}]", v, minimum) for i, v in enumerate(value))
    return check_int(name, value, minimum)


class GlobalPool(nn.Module):
    """Invariant global pooling: group axis and space to ``(B, C)``.

    Args:
        group_mode, spatial_mode: ``"max"`` or ``"mean"`` for each reduction.
        group: the affine group (gives ``d`` and :math:`H`; optional).
        dims: spatial dimensions ``d`` when ``group`` is not given. Without either, any ``d``
            is accepted: with equal modes every axis after ``C`` is reduced (the same for every
            reading of the input); with different modes ranks 4 and 5 are read as 2-D (images,
            group signals), rank 3 as a 1-D signal and rank 6 as a 3-D group signal.
        samples: the :math:`H` samples (:class:`~gattn.nn.HSamples`) for a continuous
            :math:`H`.

    Attributes:
        in_layout: an image or a group signal (:class:`~gattn.nn.checks.ImageOrSignal`).
        out_layout: ``Invariant()``.
    """

    def __init__(
        self,
        group_mode: str = "max",
        spatial_mode: str = "max",
        *,
        group: MatrixGroup | None = None,
        dims: int | None = None,
        samples: object = None,
    ) -> None:
        super().__init__()
        self.group_mode = _mode("group_mode", group_mode)
        self.spatial_mode = _mode("spatial_mode", spatial_mode)
        self.dims, stab = _geometry(group, dims, default=None, samples=samples)
        self.in_layout = ImageOrSignal(self.dims, stab, samples=samples)
        self.out_layout = Invariant()

    def forward(self, x: Tensor) -> Tensor:
        check_input(self.in_layout, x, "GlobalPool")
        rank = x.dim()
        if self.dims is None and self.group_mode == self.spatial_mode:
            axes = tuple(range(2, rank))
            return x.amax(axes) if self.spatial_mode == "max" else x.mean(axes)
        d = self.dims if self.dims is not None else {3: 1, 4: 2, 5: 2, 6: 3}[rank]
        if rank == d + 3:
            x = x.amax(2) if self.group_mode == "max" else x.mean(2)
        space = tuple(range(-d, 0))
        return x.amax(space) if self.spatial_mode == "max" else x.mean(space)

    def extra_repr(self) -> str:
        return f"group_mode={self.group_mode!r}, spatial_mode={self.spatial_mode!r}"


class GroupBatchNorm(nn.BatchNorm3d):
    """Batch norm for group signals ``(B, C, |H|, *spatial)`` (and images
    ``(B, C, *spatial)``) with statistics shared over :math:`H` and space.

    Args:
        num_features: ``C``.
        eps, momentum, affine, track_running_stats: as in ``torch.nn.BatchNorm3d``.
        group: the affine group (gives ``d`` and :math:`H`, whose order is then checked).
        dims: spatial dimensions ``d`` when ``group`` is not given; without either, any ``d``
            (the statistics are over every axis but ``C`` whatever the reading).
        samples: the :math:`H` samples (:class:`~gattn.nn.HSamples`) for a continuous
            :math:`H`.

    Attributes:
        in_layout, out_layout: the same :class:`~gattn.nn.checks.ImageOrSignal` with ``C``
            channels.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device=None,
        dtype=None,
        *,
        group: MatrixGroup | None = None,
        dims: int | None = None,
        samples: object = None,
    ) -> None:
        check_int("num_features", num_features, 1)
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        self.dims, stab = _geometry(group, dims, default=None, samples=samples)
        self.in_layout = self.out_layout = ImageOrSignal(
            self.dims, stab, num_features, samples=samples
        )

    def _check_input_dim(self, input: Tensor) -> None:
        """Shapes are checked against ``in_layout`` in :meth:`forward` (any ``d``)."""

    def forward(self, x: Tensor) -> Tensor:
        check_input(self.in_layout, x, "GroupBatchNorm")
        reference = self.weight if self.weight is not None else self.running_mean
        check_matches_parameters(x, reference, "GroupBatchNorm")
        return super().forward(x)

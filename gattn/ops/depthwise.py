r"""Depthwise "same" correlation, forward and backward, in the layout that is fast on the CPU.

Spatial attention convolves many small statistic maps, each with its own ``k x k`` kernel
(:math:`C_{out} |H| |H_{in}|` pairs of maps per sample): a depthwise correlation

.. math:: y_c(x) = \sum_{q} w_c(q)\, s_c(x + q - \lfloor k/2 \rfloor),

zero padded so that :math:`y` has the size of :math:`s`. oneDNN's depthwise kernels (CPU,
float32) are several times faster on channels-last maps than on ``NCHW`` ones (measured in
docs/benchmarks.md), so the lean attention (:mod:`gattn.ops.lean_attention`) produces its
statistics channels last and these helpers keep them so.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["depthwise_same", "depthwise_same_backward"]


def _layout(x: Tensor) -> Tensor:
    if x.device.type == "cpu" and x.dtype == torch.float32:
        return x.contiguous(memory_format=torch.channels_last)
    return x.contiguous()


_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def depthwise_same(s: Tensor, weight: Tensor) -> Tensor:
    """Depthwise "same" correlation in ``d = 1, 2, 3`` spatial dimensions.

    Args:
        s: maps ``(B, C, *spatial)`` with ``d`` spatial axes (2-D: channels-last strides are
            kept on the CPU).
        weight: ``(C, 1, *[k] * d)``, ``k`` odd.

    Returns:
        ``(B, C, *spatial)``.

    Raises:
        ValueError: ``weight`` has neither 3, 4 nor 5 axes, or not as many spatial axes as ``s``.
    """
    d = weight.dim() - 2
    if d not in _CONV or s.dim() != d + 2:
        raise ValueError(
            f"depthwise_same: weight (C, 1, *k^d) with d in 1..3 and maps (B, C, *spatial) with "
            f"as many spatial axes, got weight {tuple(weight.shape)} and maps {tuple(s.shape)}"
        )
    k = weight.shape[-1]
    if d == 2:
        return F.conv2d(_layout(s), weight, padding=k // 2, groups=s.shape[1])
    return _CONV[d](s, weight, padding=k // 2, groups=s.shape[1])


def depthwise_same_backward(
    grad: Tensor, s: Tensor, weight: Tensor, need_weight: bool = True
) -> tuple[Tensor, Tensor | None]:
    """Gradients of :func:`depthwise_same` w.r.t. the maps and (if ``need_weight``) the weight.

    Args:
        grad: ``(B, C, Y, X)``; s: ``(B, C, Y, X)``; weight: ``(C, 1, k, k)``.

    Returns:
        ``(grad_s, grad_weight)``: ``(B, C, Y, X)`` and ``(C, 1, k, k)`` (or ``None``).
    """
    k = weight.shape[-1]
    p = k // 2
    grad_s, grad_w, _ = torch.ops.aten.convolution_backward(
        _layout(grad),
        _layout(s),
        weight,
        None,
        [1, 1],
        [p, p],
        [1, 1],
        False,
        [0, 0],
        s.shape[1],
        [True, need_weight, False],
    )
    return grad_s, grad_w

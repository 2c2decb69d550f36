r"""Depthwise "same" correlation, forward and backward, in the layout that is fast on the CPU.

Spatial attention convolves many small statistic maps, each with its own ``k x k`` kernel
(:math:`C_{out} |H| |H_{in}|` pairs of maps per sample): a depthwise correlation

.. math:: y_c(x) = \sum_{q} w_c(q)\, s_c(x + q - \lfloor k/2 \rfloor),

zero padded so that :math:`y` has the size of :math:`s`. oneDNN's depthwise kernels (CPU,
float32) are several times faster on channels-last maps than on ``NCHW`` ones (measured in
docs/benchmarks.md), so the lean attention (:mod:`gattn.ops.lean_attention`) produces its
statistics channels last and these helpers keep them so. oneDNN's depthwise weight gradient
runs far below the throughput of its forward pass on the CPU; there
:func:`depthwise_same_backward` computes it instead as a depthwise correlation of the padded
maps with the output gradients as ``Y x X`` kernels, in small batch chunks
(:func:`depthwise_weight_grad`; measured in docs/benchmarks.md, "Eager path, profiled and
optimised").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "WEIGHT_GRAD_CHUNK",
    "depthwise_same",
    "depthwise_same_backward",
    "depthwise_weight_grad",
    "library_backward",
]


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


#: samples per call of the CPU weight gradient of :func:`depthwise_weight_grad` (small chunks
#: keep the padded maps and the gradient kernels in cache; docs/benchmarks.md)
WEIGHT_GRAD_CHUNK = 8


def depthwise_weight_grad(grad: Tensor, s: Tensor, k: int) -> Tensor:
    r"""The weight gradient of :func:`depthwise_same` (2-D),
    :math:`\partial w_c(q) = \sum_{b, x} g_{b,c}(x)\, s_{b,c}(x + q - \lfloor k/2 \rfloor)`.

    On the CPU: per chunk of :data:`WEIGHT_GRAD_CHUNK` samples one depthwise correlation of the
    zero-padded maps (one channel per (sample, map)) with the gradients as ``Y x X`` kernels,
    summed over the chunk's samples. Elsewhere: the convolution backward of the library.

    Args:
        grad: ``(B, C, Y, X)``; s: ``(B, C, Y, X)``; k: the odd kernel size.

    Returns:
        ``(C, 1, k, k)``.

    Raises:
        ValueError: ``grad`` and ``s`` not of one ``(B, C, Y, X)`` shape, or ``k`` not a
            positive odd integer.
    """
    if s.dim() != 4 or grad.shape != s.shape:
        raise ValueError(
            f"depthwise_weight_grad: grad and s must both be (B, C, Y, X), got grad "
            f"{tuple(grad.shape)} and s {tuple(s.shape)}"
        )
    if not isinstance(k, int) or k < 1 or k % 2 == 0:
        raise ValueError(f"depthwise_weight_grad: k must be a positive odd integer, got {k!r}")
    b, c, y, x = s.shape
    p = k // 2
    if s.device.type != "cpu" or b == 0:
        return library_backward(_layout(grad), _layout(s), s.new_zeros(c, 1, k, k), weight=True)
    out = s.new_zeros(c, 1, k, k)
    for b0 in range(0, b, WEIGHT_GRAD_CHUNK):
        bc = min(b, b0 + WEIGHT_GRAD_CHUNK) - b0
        sp = F.pad(s[b0 : b0 + bc], (p, p, p, p)).reshape(1, bc * c, y + 2 * p, x + 2 * p)
        g = grad[b0 : b0 + bc].reshape(bc * c, 1, y, x)
        part = F.conv2d(sp, g, groups=bc * c).reshape(bc, c, 1, k, k)
        out += part.sum(dim=0)
    return out


def library_backward(grad: Tensor, s: Tensor, kernel: Tensor, weight: bool) -> Tensor:
    """PyTorch's own gradient of the "same" depthwise correlation of ``s: (B, C, Y, X)`` with
    ``kernel: (C, 1, k, k)``: w.r.t. the maps (``weight=False``) or the kernel (``True``)."""
    p = kernel.shape[-1] // 2
    mask = [not weight, weight, False]
    out = torch.ops.aten.convolution_backward(
        grad, s, kernel, None, [1, 1], [p, p], [1, 1], False, [0, 0], s.shape[1], mask
    )
    return out[1] if weight else out[0]


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
    grad = _layout(grad)
    grad_s = library_backward(grad, _layout(s), weight, weight=False)
    grad_w = depthwise_weight_grad(grad, s, k) if need_weight else None
    return grad_s, grad_w

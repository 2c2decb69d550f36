r"""Building blocks of the lean (non-materialising) full attentive convolution.

Everything here computes statistics of the partial responses
:math:`\tilde f_{c,\tilde c}(x, h, \tilde h) = \sum_y f_{\tilde c}(x + y, \tilde h)\,
K_{c,h,\tilde c,\tilde h}(y)` without ever holding all of them:

* :func:`response_means` — :math:`\operatorname{mean}_x \tilde f` is linear:
  :math:`\sum_y K(y)\, \bar f(y)` with :math:`\bar f(y)` the mean of the input over the window
  shifted by :math:`y` (one tiny box correlation).
* :func:`response_maxima` — :math:`\max_x \tilde f`: the arg-max is found without autograd in
  chunks of input channels; the value is then re-evaluated *with* autograd as the dot product
  of the kernel with the input patch at the arg-max (exactly :math:`\tilde f` there, so the
  gradient is the usual sub-gradient of the max).
* :func:`sum_max_conv` — per-sample kernels :math:`W_b`, returns
  :math:`\sum_{\tilde c} \tilde f` and :math:`\max_{\tilde c} \tilde f` in one pass over the
  input channels (a custom autograd function: saves only the arg-max index, the backward
  pass is one ``convolution_backward`` per input channel with the masked gradient).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["response_means", "response_maxima", "sum_max_conv", "per_sample_conv"]


def _out_size(n: int, k: int, stride: int, padding: int) -> int:
    return (n + 2 * padding - k) // stride + 1


def response_means(x: Tensor, bank: Tensor, stride: int, padding: int) -> Tensor:
    r""":math:`\operatorname{mean}_x \tilde f_{c,\tilde c}(x, h, \tilde h)`.

    Args:
        x: ``(B, C_in, |H_in|, Y, X)``; bank: ``(C_out, |H|, C_in, |H_in|, k, k)``.

    Returns:
        ``(B, C_out, |H|, C_in, |H_in|)``.
    """
    b, ci, hi, y, w = x.shape
    k = bank.shape[-1]
    oy, ox = _out_size(y, k, stride, padding), _out_size(w, k, stride, padding)
    xp = F.pad(x.reshape(b * ci * hi, 1, y, w), (padding,) * 4)
    box = x.new_ones(1, 1, oy, ox) / (oy * ox)
    means = F.conv2d(xp, box, dilation=stride)[..., :k, :k].reshape(b, ci, hi, k, k)
    return torch.einsum("ohctyx,bctyx->bohct", bank, means)


def response_maxima(x: Tensor, bank: Tensor, stride: int, padding: int, chunk: int = 1) -> Tensor:
    r""":math:`\max_x \tilde f_{c,\tilde c}(x, h, \tilde h)` with peak memory of ``chunk`` input
    channels' responses (``chunk |H_in|`` group-convolution outputs, without autograd).

    Args:
        x: ``(B, C_in, |H_in|, Y, X)``; bank: ``(C_out, |H|, C_in, |H_in|, k, k)``.

    Returns:
        ``(B, C_out, |H|, C_in, |H_in|)``, differentiable in ``x`` and ``bank``.
    """
    b, ci, hi, y, w = x.shape
    co, n = bank.shape[:2]
    k = bank.shape[-1]
    oy, ox = _out_size(y, k, stride, padding), _out_size(w, k, stride, padding)
    with torch.no_grad():
        xd, kd = x.detach(), bank.detach()
        idx = []
        for start in range(0, ci, chunk):
            c = min(chunk, ci - start)
            weight = kd[:, :, start : start + c].permute(2, 3, 0, 1, 4, 5)
            weight = weight.reshape(c * hi * co * n, 1, k, k)
            resp = F.conv2d(
                xd[:, start : start + c].reshape(b, c * hi, y, w),
                weight,
                stride=stride,
                padding=padding,
                groups=c * hi,
            )
            idx.append(resp.flatten(2).argmax(dim=2).reshape(b, c, hi, co, n))
        flat = torch.cat(idx, dim=1).permute(0, 3, 4, 1, 2)  # (B, C_out, |H|, C_in, |H_in|)
        rows = torch.div(flat, ox, rounding_mode="floor") * stride
        cols = (flat % ox) * stride
        yp, xp_ = y + 2 * padding, w + 2 * padding
        ar = torch.arange(k, device=x.device)
        ch = torch.arange(ci, device=x.device)[:, None] * hi + torch.arange(hi, device=x.device)
        base = ch[None, None, None] * (yp * xp_) + rows * xp_ + cols  # (B, C_out, |H|, C_in, H_in)
        offs = ar[:, None] * xp_ + ar[None, :]  # (k, k)
        index = (base[..., None, None] + offs).reshape(b, -1)
    xp = F.pad(x, (padding,) * 4).reshape(b, -1)
    patches = torch.gather(xp, 1, index).reshape(b, co, n, ci, hi, k, k)
    del oy
    return (patches * bank).sum(dim=(-2, -1))


def per_sample_conv(x: Tensor, kernels: Tensor, stride: int, padding: int) -> Tensor:
    r"""One correlation per sample: ``x: (B, C_in, Y, X)``, ``kernels: (B, O, C_in, k, k)`` ->
    ``(B, O, Y', X')`` (batch folded into the groups of one ``conv2d``)."""
    b, ci, y, w = x.shape
    o, k = kernels.shape[1], kernels.shape[-1]
    out = F.conv2d(
        x.reshape(1, b * ci, y, w),
        kernels.reshape(b * o, ci, k, k),
        stride=stride,
        padding=padding,
        groups=b,
    )
    return out.reshape(b, o, *out.shape[-2:])


class _SumMaxConv(torch.autograd.Function):
    # v_c = a[:, :, c] * (x[:, c] \star w[:, c]) with a shared kernel w and per-sample scale a
    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor, a: Tensor, stride: int, padding: int):
        ci = x.shape[1]
        total = maximum = arg = None
        for c in range(ci):
            u = F.conv2d(x[:, c : c + 1], w[:, c : c + 1], stride=stride, padding=padding)
            v = u * a[:, :, c, None, None]
            if total is None:
                total, maximum = v.clone(), v
                dtype = torch.uint8 if ci < 256 else torch.int64
                arg = torch.zeros(v.shape, dtype=dtype, device=v.device)
            else:
                total += v
                better = v > maximum
                maximum = torch.where(better, v, maximum)
                arg.masked_fill_(better, c)
        ctx.save_for_backward(x, w, a, arg)
        ctx.conf = (stride, padding)
        return total, maximum

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_sum: Tensor | None, g_max: Tensor | None):
        x, w, a, arg = ctx.saved_tensors
        stride, padding = ctx.conf
        ci = x.shape[1]
        need_x, need_w, need_a = ctx.needs_input_grad[:3]
        gx = torch.zeros_like(x) if need_x else None
        gw = torch.zeros_like(w) if need_w else None
        ga = torch.zeros_like(a) if need_a else None
        for c in range(ci):
            g = g_sum
            if g_max is not None:
                masked = g_max * (arg == c)
                g = masked if g is None else g + masked
            if g is None:
                break
            xc, wc = x[:, c : c + 1], w[:, c : c + 1]
            if need_a:
                u = F.conv2d(xc, wc, stride=stride, padding=padding)
                ga[:, :, c] = (g * u).sum(dim=(-2, -1))
            if need_x or need_w:
                dx, dw, _ = torch.ops.aten.convolution_backward(
                    g * a[:, :, c, None, None],
                    xc,
                    wc,
                    None,
                    [stride] * 2,
                    [padding] * 2,
                    [1, 1],
                    False,
                    [0, 0],
                    1,
                    [need_x, need_w, False],
                )
                if need_x:
                    gx[:, c : c + 1] = dx
                if need_w:
                    gw[:, c : c + 1] = dw
        return gx, gw, ga, None, None


def sum_max_conv(
    x: Tensor, kernels: Tensor, scale: Tensor, stride: int, padding: int
) -> tuple[Tensor, Tensor]:
    r""":math:`\big(\sum_{\tilde c} v_{\tilde c},\ \max_{\tilde c} v_{\tilde c}\big)` with
    :math:`v_{\tilde c} = a_{b,\cdot,\tilde c}\,(x_{\tilde c} \star W_{\cdot, \tilde c})`: a shared
    kernel and a per-sample scale (:math:`\alpha^C` does not depend on :math:`x`, so it scales
    whole responses — ordinary batched correlations, no per-sample kernels).

    Args:
        x: ``(B, C_in, Y, X)``; kernels: ``(O, C_in, k, k)``; scale: ``(B, O, C_in)``.

    Returns:
        two ``(B, O, Y', X')`` tensors. Memory: two outputs and a ``uint8`` arg-max, never the
        ``C_in`` responses.
    """
    return _SumMaxConv.apply(x, kernels, scale, stride, padding)

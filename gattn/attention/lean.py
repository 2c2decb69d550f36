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
* :func:`sum_max_responses` — with the channel weights folded into per-sample kernels, returns
  :math:`\sum_{\tilde c} \tilde f` and :math:`\max_{\tilde c} \tilde f` from im2col patches
  and batched matmuls over chunks of the batch (a custom autograd function: saves only a
  ``uint8`` arg-max index; the backward pass recomputes each chunk).
* :func:`spatially_attended` — :math:`\sigma(\text{[mean, max]} \star \psi_X) \odot S`, a
  custom autograd function that keeps only its two statistic maps for the backward pass and
  recomputes the attention logits there (the sigmoid, its product and the stacked statistics
  are never stored).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .depthwise import depthwise_same, depthwise_same_backward

__all__ = [
    "response_means",
    "response_maxima",
    "sum_max_responses",
    "spatially_attended",
]


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
        xpd = F.pad(x.detach(), (padding,) * 4)
        kt = bank.detach().permute(2, 3, 0, 1, 4, 5).reshape(ci, hi, co * n, k * k)
        step = max(1, chunk * _batch_chunk(ci * hi * co * n * oy * ox))
        # one preallocated index tensor: small per-chunk results kept alive between the
        # chunk's large temporaries fragment the heap (the resident set then grows by one
        # chunk of responses per iteration)
        small = torch.int16 if oy * ox <= torch.iinfo(torch.int16).max else torch.int64
        arg = torch.empty(b, ci, hi, co * n, dtype=small, device=x.device)
        for b0 in range(0, b, step):
            # partial responses of a batch chunk: (bc, C_in, |H_in|, C_out |H|, Y' X')
            resp = torch.matmul(kt, _im2col(xpd[b0 : b0 + step], k, stride, oy, ox))
            arg[b0 : b0 + step] = resp.max(dim=-1).indices
            del resp
        flat = arg.long().reshape(b, ci, hi, co, n).permute(0, 3, 4, 1, 2)
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


def _im2col(xp: Tensor, k: int, stride: int, oy: int, ox: int) -> Tensor:
    """``(b, C, T, Yp, Xp)`` padded input -> patches ``(b, C, T, k*k, oy*ox)``."""
    ey, ex = stride * (oy - 1) + 1, stride * (ox - 1) + 1
    cols = [xp[..., i : i + ey : stride, j : j + ex : stride] for i in range(k) for j in range(k)]
    return torch.stack(cols, 3).reshape(*xp.shape[:3], k * k, oy * ox)


def _col2im(gu: Tensor, k: int, stride: int, oy: int, ox: int, yp: int, xp: int) -> Tensor:
    """Adjoint of :func:`_im2col`: ``(b, C, T, k*k, oy*ox)`` -> ``(b, C, T, Yp, Xp)``."""
    out = gu.new_zeros(*gu.shape[:3], yp, xp)
    gu = gu.reshape(*gu.shape[:4], oy, ox)
    ey, ex = stride * (oy - 1) + 1, stride * (ox - 1) + 1
    for q in range(k * k):
        i, j = divmod(q, k)
        out[..., i : i + ey : stride, j : j + ex : stride] += gu[:, :, :, q]
    return out


def _max_first(values: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """``max`` over ``dim`` (at most 256 entries) with the *first* maximiser as a ``uint8``
    index: ``amax`` plus an equality pass, several times faster on the CPU than
    ``torch.max(dim=...)`` with indices over a non-innermost axis."""
    n = values.shape[dim]
    top = values.amax(dim=dim, keepdim=True)
    shape = [1] * values.dim()
    shape[dim] = n
    rank = torch.arange(n - 1, -1, -1, device=values.device, dtype=torch.uint8).view(shape)
    last_rank = ((values == top) * rank).amax(dim=dim)  # n - 1 - (first maximiser)
    return top.squeeze(dim), (n - 1) - last_rank


def _batch_chunk(per_sample: int, budget: int = 1 << 21) -> int:
    """Samples per chunk so that one chunk's partial responses hold about ``budget`` numbers."""
    return max(1, budget // max(per_sample, 1))


class _SumMaxResponses(torch.autograd.Function):
    # x: (B, T, C_in, Y, X) (input elements first), w = alpha * K per sample:
    # (B, T, C_in, O, k*k); U = im2col(x): (B, T, C_in, k*k, L).
    # P[b, t, c~, o, x] = sum_q w[b, t, c~, o, q] U[b, t, c~, q, x]; S = sum_c~ P, M = max_c~ P.
    # S is one matmul with contraction C_in k*k; P (for M) is streamed over batch chunks.
    @staticmethod
    @torch.no_grad()
    def forward(ctx, x, w, stride, padding, need_max):
        b, t, ci, y, xw = x.shape
        o, kk = w.shape[-2:]
        k = int(round(kk**0.5))
        oy, ox = _out_size(y, k, stride, padding), _out_size(xw, k, stride, padding)
        xp = F.pad(x, (padding,) * 4)
        # preallocated outputs: small per-chunk results kept alive between the chunks' large
        # temporaries would fragment the heap (the resident set then grows chunk by chunk)
        s_out = x.new_empty(b, t, o, oy * ox)
        m_out = x.new_empty(b, t, o, oy * ox) if need_max else None
        arg = x.new_empty(b, t, o, oy * ox, dtype=torch.uint8) if need_max else None
        step = _batch_chunk(ci * t * o * oy * ox)
        ws = w.transpose(-2, -3).reshape(b, t, o, ci * kk)
        for b0 in range(0, b, step):
            b1 = min(b, b0 + step)
            u = _im2col(xp[b0:b1], k, stride, oy, ox)
            s_out[b0:b1] = torch.matmul(ws[b0:b1], u.reshape(b1 - b0, t, ci * kk, -1))
            if need_max:
                resp = torch.matmul(w[b0:b1], u)  # (bc, T, C_in, O, L)
                m_out[b0:b1], arg[b0:b1] = _max_first(resp, dim=2)  # over input channels
                del resp
        ctx.save_for_backward(x, w, arg)
        ctx.conf = (stride, padding, k, oy, ox)
        return s_out, m_out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_s, g_m):
        x, w, arg = ctx.saved_tensors
        stride, padding, k, oy, ox = ctx.conf
        need_x, need_w = ctx.needs_input_grad[:2]
        b, t, ci, y, xw = x.shape
        o, kk = w.shape[-2:]
        if (g_s is None and g_m is None) or not (need_x or need_w):
            return None, None, None, None, None
        xp = F.pad(x, (padding,) * 4)
        yp, wp = xp.shape[-2:]
        gx = torch.empty_like(xp) if need_x else None
        gw = torch.empty_like(w) if need_w else None
        step = _batch_chunk(ci * t * o * oy * ox)
        for b0 in range(0, b, step):
            b1 = min(b, b0 + step)
            bc = b1 - b0
            u = _im2col(xp[b0:b1], k, stride, oy, ox)  # (bc, T, C_in, k*k, L)
            if g_m is None:  # S only: dense matmuls with contractions L and C_out |H|
                gs2, u2 = g_s[b0:b1], u.reshape(bc, t, ci * kk, -1)
                if need_w:
                    gws = torch.matmul(gs2, u2.transpose(-1, -2))  # (bc, T, O, C_in k*k)
                    gw[b0:b1] = gws.reshape(bc, t, o, ci, kk).transpose(2, 3)
                if need_x:
                    ws = w[b0:b1].transpose(2, 3).reshape(bc, t, o, ci * kk)
                    gu = torch.matmul(ws.transpose(-1, -2), gs2).reshape(bc, t, ci, kk, -1)
                    gx[b0:b1] = _col2im(gu, k, stride, oy, ox, yp, wp)
                continue
            # gradient of every partial response (bc, T, C_in, O, L): dS/dP = 1 for each input
            # channel, plus dM at the arg-max channel
            if g_s is not None:
                grad = g_s[b0:b1].unsqueeze(2).expand(bc, t, ci, o, oy * ox).contiguous()
            else:
                grad = u.new_zeros(bc, t, ci, o, oy * ox)
            grad.scatter_add_(2, arg[b0:b1].unsqueeze(2).long(), g_m[b0:b1].unsqueeze(2))
            if need_w:
                gw[b0:b1] = torch.matmul(grad, u.transpose(-1, -2))
            if need_x:
                gu = torch.matmul(w[b0:b1].transpose(-1, -2), grad)
                gx[b0:b1] = _col2im(gu, k, stride, oy, ox, yp, wp)
            del grad
        if need_x:
            gx = gx[..., padding : padding + y, padding : padding + xw]
        return gx, gw, None, None, None


def sum_max_responses(
    x: Tensor, bank: Tensor, alpha: Tensor, stride: int, padding: int, need_max: bool = True
) -> tuple[Tensor, Tensor | None]:
    r"""Channel-attended partial responses summed and maximised over input channels.

    :math:`S(x,h,\tilde h) = \sum_{\tilde c}\alpha_{\tilde c}(h,\tilde h)\tilde f_{\tilde c}(x,
    h,\tilde h)` and :math:`M = \max_{\tilde c}` of the same, in one pass over batch chunks:
    per chunk the partial responses of all (input, output) pairs are one broadcast ``matmul`` of
    the bank with im2col patches (no grouped convolutions), scaled by :math:`\alpha`, reduced,
    freed. A custom autograd function: saves only a ``uint8`` arg-max over input channels and
    recomputes the chunks in the backward pass.

    Args:
        x: ``(B, C_in, |H_in|, Y, X)``; bank: ``(C_out, |H|, C_in, |H_in|, k, k)``;
        alpha: ``(B, C_out, |H|, C_in, |H_in|)``.

    Returns:
        ``S, M``: ``(B, |H_in|, C_out |H|, Y' X')`` each (``M`` is ``None`` unless
        ``need_max``).
    """
    b, ci, hi = x.shape[:3]
    co, n = bank.shape[:2]
    k = bank.shape[-1]
    if ci > 256:
        raise ValueError(f"sum_max_responses supports at most 256 input channels, got {ci}")
    # per-sample kernels alpha * K (small), arranged (B, |H_in|, C_in, C_out |H|, k*k)
    w = (alpha[..., None, None] * bank[None]).permute(0, 4, 3, 1, 2, 5, 6)
    w = w.reshape(b, hi, ci, co * n, k * k)
    return _SumMaxResponses.apply(x.transpose(1, 2), w, stride, padding, need_max)


def _spatial_logits(s: Tensor, m: Tensor, kernels: Tensor, ci: int) -> tuple[Tensor, Tensor]:
    """Statistics as a channels-last ``(B, 2G, Y, X)`` view and the logits ``(B, Y, X, G)``."""
    b, y, x, g = s.shape
    stats = torch.stack([s / ci, m], dim=-1).reshape(b, y, x, 2 * g).permute(0, 3, 1, 2)
    k = kernels.shape[-1]
    logits = depthwise_same(stats, kernels.reshape(2 * g, 1, k, k))
    return stats, logits.permute(0, 2, 3, 1).reshape(b, y, x, g, 2).sum(dim=-1)


class _SpatiallyAttended(torch.autograd.Function):
    @staticmethod
    def forward(ctx, s, m, kernels, ci):
        _, logits = _spatial_logits(s, m, kernels, ci)
        ctx.save_for_backward(s, m, kernels)
        ctx.ci = ci
        return torch.sigmoid(logits) * s

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        s, m, kernels = ctx.saved_tensors
        ci = ctx.ci
        b, y, x, g = s.shape
        k = kernels.shape[-1]
        stats, logits = _spatial_logits(s, m, kernels, ci)  # recomputed: nothing big was saved
        alpha = torch.sigmoid(logits)
        grad_s = grad * alpha
        grad_logits = grad * s * alpha * (1 - alpha)  # (B, Y, X, G)
        grad_logits = grad_logits.unsqueeze(-1).expand(b, y, x, g, 2).reshape(b, y, x, 2 * g)
        grad_stats, grad_k = depthwise_same_backward(
            grad_logits.permute(0, 3, 1, 2),
            stats,
            kernels.reshape(2 * g, 1, k, k),
            ctx.needs_input_grad[2],
        )
        grad_stats = grad_stats.permute(0, 2, 3, 1).reshape(b, y, x, g, 2)
        grad_s = grad_s + grad_stats[..., 0] / ci
        grad_m = grad_stats[..., 1]
        if grad_k is not None:
            grad_k = grad_k.reshape(g, 2, k, k)
        return grad_s, grad_m, grad_k, None


def spatially_attended(s: Tensor, m: Tensor, kernels: Tensor, in_channels: int) -> Tensor:
    r"""Spatial attention applied to the channel-attended responses, :math:`\alpha^X \odot S`.

    .. math:: \alpha^X = \sigma\big(\tfrac{S}{C_{in}} \star \psi_{X,1} + M \star
              \psi_{X,2}\big)

    for ``G`` independent maps (one per output channel, output element and input element),
    each with its own pair of ``k x k`` kernels (zero "same" padding). Maps are laid out
    channels last. A custom autograd function: it saves ``S`` and ``M`` only and recomputes
    the logits in the backward pass.

    Args:
        s: :math:`S = \sum_{\tilde c}\alpha^C\tilde f`, ``(B, Y, X, G)``.
        m: :math:`M = \max_{\tilde c}\alpha^C\tilde f`, ``(B, Y, X, G)``.
        kernels: ``(G, 2, k, k)`` (the kernel of the mean, then of the max statistic).
        in_channels: :math:`C_{in}` (``S / C_{in}`` is the mean over input channels).

    Returns:
        ``(B, Y, X, G)``.
    """
    if s.shape != m.shape or s.dim() != 4:
        raise ValueError(f"s and m must be (B, Y, X, G) of one shape, got {s.shape}, {m.shape}")
    if kernels.dim() != 4 or kernels.shape[:2] != (s.shape[-1], 2):
        raise ValueError(
            f"kernels must be (G, 2, k, k) with G = {s.shape[-1]}, got {tuple(kernels.shape)}"
        )
    return _SpatiallyAttended.apply(s, m, kernels, in_channels)

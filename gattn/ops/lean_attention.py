r"""The lean (non-materialising) full attentive convolution: fused autograd functions.

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
* :func:`summed_responses` — with the channel weights folded into per-sample kernels,
  :math:`S = \sum_{\tilde c} \alpha^C \tilde f` (one matmul of im2col patches per batch chunk).
* :func:`spatially_attended_responses` — the whole spatial branch for a slice of input
  elements: :math:`S`, :math:`M = \max_{\tilde c} \alpha^C \tilde f`, the attention logits
  :math:`(S / C_{in}, M) \star \psi_X` and :math:`\sum_{\tilde h} \sigma(\cdot)\, S`, over batch
  chunks, in one custom autograd function. It saves :math:`S`, :math:`M` and a ``uint8``
  arg-max over input channels (or, with ``save_statistics=False``, nothing but its inputs); the
  backward pass recomputes the logits and, per chunk, the patches — never the partial
  responses of the whole batch. The eager chunks compute the partial responses
  positions-major, so that :math:`S` and :math:`M` come out as ``(B, Y' X', T, O)``: each map
  chunk is a channels-last view for the depthwise correlations, with no stacking or
  transposing copy (docs/benchmarks.md, "Eager path, profiled and optimised").

With the ``"compiled"`` backend (:mod:`gattn.ops.fused`, selected by
:func:`gattn.ops.fused.use_backend`) the chunks of :func:`spatially_attended_responses` run
through ``torch.compile`` kernels instead (:mod:`gattn.ops.fused.compiled`); this eager path is
their reference and their fallback.

Patches come from the shared :func:`gattn.ops.im2col.im2col` (its adjoint
:func:`~gattn.ops.im2col.col2im` in the backward passes). See docs/attention.md.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .depthwise import depthwise_same, depthwise_same_backward
from .fused import current_backend, resolve_backend
from .im2col import col2im, im2col, output_size

__all__ = [
    "RESPONSE_BUDGET",
    "MAP_BUDGET",
    "batch_chunk",
    "response_means",
    "response_maxima",
    "summed_responses",
    "spatially_attended_responses",
    "response_statistics",
]


def response_means(x: Tensor, bank: Tensor, stride: int, padding: int) -> Tensor:
    r""":math:`\operatorname{mean}_x \tilde f_{c,\tilde c}(x, h, \tilde h)`.

    Args:
        x: ``(B, C_in, |H_in|, Y, X)``; bank: ``(C_out, |H|, C_in, |H_in|, k, k)``.

    Returns:
        ``(B, C_out, |H|, C_in, |H_in|)``.
    """
    b, ci, hi, y, w = x.shape
    k = bank.shape[-1]
    oy, ox = output_size(y, k, stride, padding), output_size(w, k, stride, padding)
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
    oy, ox = output_size(y, k, stride, padding), output_size(w, k, stride, padding)
    with torch.no_grad():
        xpd = F.pad(x.detach(), (padding,) * 4)
        kt = bank.detach().permute(2, 3, 0, 1, 4, 5).reshape(ci, hi, co * n, k * k)
        step = max(1, chunk * batch_chunk(ci * hi * co * n * oy * ox))
        # one preallocated index tensor: small per-chunk results kept alive between the
        # chunk's large temporaries fragment the heap (the resident set then grows by one
        # chunk of responses per iteration)
        small = torch.int16 if oy * ox <= torch.iinfo(torch.int16).max else torch.int64
        arg = torch.empty(b, ci, hi, co * n, dtype=small, device=x.device)
        for b0 in range(0, b, step):
            # partial responses of a batch chunk: (bc, C_in, |H_in|, C_out |H|, Y' X')
            resp = torch.matmul(kt, im2col(xpd[b0 : b0 + step], k, (oy, ox), stride))
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
        # explicit sizes: ``reshape(b, -1)`` is ambiguous for an empty batch (b = 0)
        index = (base[..., None, None] + offs).reshape(b, co * n * ci * hi * k * k)
    xp = F.pad(x, (padding,) * 4).reshape(b, ci * hi * yp * xp_)
    patches = torch.gather(xp, 1, index).reshape(b, co, n, ci, hi, k, k)
    del oy
    return (patches * bank).sum(dim=(-2, -1))


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


#: numbers held by one batch chunk of partial responses / of attention maps (module-level so
#: that tests can shrink them and exercise many chunks on small inputs)
RESPONSE_BUDGET = 1 << 21
MAP_BUDGET = 1 << 20


def batch_chunk(per_sample: int, budget: int | None = None) -> int:
    """Samples per batch chunk.

    Args:
        per_sample: numbers one sample of the chunked tensor holds.
        budget: numbers one chunk may hold (default :data:`RESPONSE_BUDGET`, read at call time).

    Returns:
        ``max(1, budget // per_sample)``.
    """
    budget = RESPONSE_BUDGET if budget is None else budget
    return max(1, budget // max(per_sample, 1))


class _Geometry:
    """Sizes of one lean pass: input ``(B, T, C_in, Y, X)``, per-sample kernels
    ``(B, T, C_in, O, k*k)``, output ``Y' x X'``."""

    def __init__(self, x: Tensor, w: Tensor, stride: int, padding: int) -> None:
        self.b, self.t, self.ci, self.y, self.x = x.shape
        self.o, kk = w.shape[-2:]
        self.k = int(round(kk**0.5))
        self.stride, self.padding = stride, padding
        self.oy = output_size(self.y, self.k, stride, padding)
        self.ox = output_size(self.x, self.k, stride, padding)
        # samples per chunk: one chunk's partial responses hold about RESPONSE_BUDGET numbers,
        # one chunk's attention maps (T O of them) about MAP_BUDGET
        self.step = batch_chunk(self.ci * self.t * self.o * self.oy * self.ox)
        self.map_step = batch_chunk(self.t * self.o * self.oy * self.ox, MAP_BUDGET)

    def chunks(self, maps: bool = False):
        """``(b0, b1)`` of the batch chunks (of attention maps if ``maps``)."""
        step = self.map_step if maps else self.step
        for b0 in range(0, self.b, step):
            yield b0, min(self.b, b0 + step)

    def patches(self, xp: Tensor) -> Tensor:
        """im2col of a padded chunk: ``(bc, T, C_in, k*k, L)``."""
        return im2col(xp, self.k, (self.oy, self.ox), self.stride)

    def fold(self, gu: Tensor, xp_shape) -> Tensor:
        """Adjoint of :meth:`patches`: ``(bc, T, C_in, k*k, L)`` -> the padded chunk."""
        return col2im(gu, self.k, (self.oy, self.ox), xp_shape[-2:], self.stride)


def _summed(u: Tensor, w: Tensor) -> Tensor:
    """``S = sum_c~ P`` of a chunk: ``(bc, T, O, L)`` (one matmul, contraction ``C_in k*k``)."""
    bc, t, ci, o, kk = w.shape
    ws = w.transpose(2, 3).reshape(bc, t, o, ci * kk)
    return torch.matmul(ws, u.reshape(bc, t, ci * kk, -1))


def _responses_backward(u, w, g_s, need_x: bool, need_w: bool):
    """Gradients of ``S`` of one chunk w.r.t. the patches ``u`` and the per-sample kernels
    ``w``: ``(gu, gw)``, dense matmuls with contractions ``L`` and ``O``."""
    bc, t, ci, o, kk = w.shape
    gu = gw = None
    u2 = u.reshape(bc, t, ci * kk, -1)
    if need_w:
        gw = torch.matmul(g_s, u2.transpose(-1, -2)).reshape(bc, t, o, ci, kk).transpose(2, 3)
    if need_x:
        ws = w.transpose(2, 3).reshape(bc, t, o, ci * kk)
        gu = torch.matmul(ws.transpose(-1, -2), g_s).reshape(bc, t, ci, kk, -1)
    return gu, gw


class _SummedResponses(torch.autograd.Function):
    # x: (B, T, C_in, Y, X), w: (B, T, C_in, O, k*k) -> S: (B, T, O, L)
    @staticmethod
    @torch.no_grad()
    def forward(ctx, x, w, stride, padding):
        geo = _Geometry(x, w, stride, padding)
        xp = F.pad(x, (padding,) * 4)
        s = x.new_empty(geo.b, geo.t, geo.o, geo.oy * geo.ox)
        for b0, b1 in geo.chunks():
            s[b0:b1] = _summed(geo.patches(xp[b0:b1]), w[b0:b1])
        ctx.save_for_backward(x, w)
        ctx.geo = geo
        return s

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_s):
        x, w = ctx.saved_tensors
        geo = ctx.geo
        need_x, need_w = ctx.needs_input_grad[:2]
        xp = F.pad(x, (geo.padding,) * 4)
        gx = torch.empty_like(xp) if need_x else None
        gw = torch.empty_like(w) if need_w else None
        for b0, b1 in geo.chunks():
            gu, gwc = _responses_backward(
                geo.patches(xp[b0:b1]), w[b0:b1], g_s[b0:b1], need_x, need_w
            )
            if need_w:
                gw[b0:b1] = gwc
            if need_x:
                gx[b0:b1] = geo.fold(gu, xp.shape)
        return _crop(gx, geo), gw, None, None


def _crop(gx: Tensor | None, geo: _Geometry) -> Tensor | None:
    if gx is None:
        return None
    p = geo.padding
    return gx[..., p : p + geo.y, p : p + geo.x]


def _per_sample_kernels(x: Tensor, bank: Tensor, alpha: Tensor) -> tuple[Tensor, Tensor]:
    r"""``x`` as ``(B, |H_in|, C_in, Y, X)`` and :math:`\alpha^C K` as
    ``(B, |H_in|, C_in, C_out |H|, k*k)``."""
    b, ci, hi = x.shape[:3]
    co, n = bank.shape[:2]
    k = bank.shape[-1]
    w = (alpha[..., None, None] * bank[None]).permute(0, 4, 3, 1, 2, 5, 6)
    return x.transpose(1, 2), w.reshape(b, hi, ci, co * n, k * k)


def summed_responses(x: Tensor, bank: Tensor, alpha: Tensor, stride: int, padding: int) -> Tensor:
    r"""Channel-attended partial responses summed over input channels,
    :math:`S(x,h,\tilde h) = \sum_{\tilde c}\alpha_{\tilde c}(h,\tilde h)\,\tilde f_{\tilde c}
    (x,h,\tilde h)`: per batch chunk one ``matmul`` of the per-sample kernels
    :math:`\alpha K` with im2col patches (a custom autograd function that saves nothing but its
    inputs).

    Args:
        x: ``(B, C_in, |H_in|, Y, X)``; bank: ``(C_out, |H|, C_in, |H_in|, k, k)``;
        alpha: ``(B, C_out, |H|, C_in, |H_in|)``.

    Returns:
        ``(B, |H_in|, C_out |H|, Y' X')``.
    """
    xt, w = _per_sample_kernels(x, bank, alpha)
    return _SummedResponses.apply(xt, w, stride, padding)


class _SpatiallyAttendedResponses(torch.autograd.Function):
    # x: (B, T, C_in, Y, X), w = alpha^C K: (B, T, C_in, O, k*k), kernels: (T O, 2, k', k')
    # -> sum_t sigma(logits) S: (B, Y', X', O). Partial responses are streamed over small batch
    # chunks (geo.chunks()); the attention maps over larger ones (geo.chunks(maps=True)).
    # S and M are kept positions-major, (B, L, T, O): per chunk each is a channels-last view of
    # T O statistic maps that the depthwise correlation reads as is.
    @staticmethod
    @torch.no_grad()
    def forward(ctx, x, w, kernels, stride, padding, save_statistics):
        geo = _Geometry(x, w, stride, padding)
        compiled = resolve_backend(current_backend(), x.device) == "compiled"
        xp = F.pad(x, (padding,) * 4)
        s, m, arg = _sum_max(geo, xp, w, compiled)
        weights = None if compiled else _map_weights(kernels, geo.ci)
        out = x.new_empty(geo.b, geo.oy, geo.ox, geo.o)
        for b0, b1 in geo.chunks(maps=True):
            if compiled:
                attend = _compiled("attend_chunk")
                sc, mc = _compiled_layout(s[b0:b1]), _compiled_layout(m[b0:b1])
                out[b0:b1] = attend(sc, mc, kernels, geo.ci, geo.oy, geo.ox)
                continue
            maps, logits = _attention_logits(s[b0:b1], m[b0:b1], weights, geo)
            attended = torch.sigmoid(logits) * maps[0].permute(0, 2, 3, 1)
            out[b0:b1] = attended.reshape(b1 - b0, geo.oy, geo.ox, geo.t, geo.o).sum(dim=3)
        if save_statistics:  # S, M and the arg-max
            ctx.save_for_backward(x, w, kernels, s, m, arg)
        else:  # recomputed in the backward pass
            ctx.save_for_backward(x, w, kernels)
        ctx.geo, ctx.compiled = geo, compiled
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_out):
        x, w, kernels, *saved = ctx.saved_tensors
        geo = ctx.geo
        t, o, ci, oy, ox = geo.t, geo.o, geo.ci, geo.oy, geo.ox
        g = t * o
        need_x, need_w, need_k = ctx.needs_input_grad[:3]
        xp = F.pad(x, (geo.padding,) * 4)
        # S, M and the arg-max: saved, or recomputed; the logits are recomputed
        s, m, arg = saved if saved else _sum_max(geo, xp, w, ctx.compiled)
        weights = None if ctx.compiled else _map_weights(kernels, ci)
        g_s, g_m = torch.empty_like(s), torch.empty_like(m)
        g_kernels = torch.zeros_like(kernels) if need_k else None
        for b0, b1 in geo.chunks(maps=True):
            bc = b1 - b0
            if ctx.compiled:
                sc, mc = _compiled_layout(s[b0:b1]), _compiled_layout(m[b0:b1])
                grads = _compiled("attend_chunk_backward")(
                    sc, mc, kernels, g_out[b0:b1], ci, oy, ox
                )
                g_s[b0:b1] = grads[0].permute(0, 3, 1, 2).reshape(bc, oy * ox, t, o)
                g_m[b0:b1] = grads[1].permute(0, 3, 1, 2).reshape(bc, oy * ox, t, o)
                if need_k:
                    g_kernels += grads[2].reshape(kernels.shape)
                continue
            maps, logits = _attention_logits(s[b0:b1], m[b0:b1], weights, geo)
            alpha = torch.sigmoid(logits)
            grad = g_out[b0:b1].unsqueeze(3).expand(bc, oy, ox, t, o).reshape(bc, oy, ox, g)
            g_sc = grad * alpha  # (bc, Y', X', G)
            # the same logit gradient for both statistics, channels last
            g_logits = (g_sc * maps[0].permute(0, 2, 3, 1) * (1 - alpha)).permute(0, 3, 1, 2)
            g_mean, g_w0 = depthwise_same_backward(g_logits, maps[0], weights[0], need_k)
            g_max, g_w1 = depthwise_same_backward(g_logits, maps[1], weights[1], need_k)
            if need_k:  # weights = (K_0 / C_in, K_1): back to (T O, 2, k', k')
                g_kernels += torch.cat([g_w0 / ci, g_w1], dim=1)
            g_s[b0:b1] = (g_sc + g_mean.permute(0, 2, 3, 1)).reshape(bc, oy * ox, t, o)
            g_m[b0:b1] = g_max.permute(0, 2, 3, 1).reshape(bc, oy * ox, t, o)
        del s, m  # frees S and M before the second loop when they were recomputed
        gx = torch.empty_like(xp) if need_x else None
        gw = torch.empty_like(w) if need_w else None
        for b0, b1 in geo.chunks():
            u = geo.patches(xp[b0:b1])
            gu, gwc = _attended_responses_backward(
                u, w[b0:b1], g_s[b0:b1], g_m[b0:b1], arg[b0:b1], need_x, need_w
            )
            if need_w:
                gw[b0:b1] = gwc
            if need_x:
                gx[b0:b1] = geo.fold(gu, xp.shape)
        return _crop(gx, geo), gw, g_kernels, None, None, None


def _attended_responses_backward(u, w, g_s, g_m, arg, need_x: bool, need_w: bool):
    """Gradients of ``S`` and ``M = max_c~ P`` (arg-max ``arg``, ``(bc, T, L, O)``) of one
    chunk w.r.t. the patches ``u`` and the per-sample kernels ``w``: ``(gu, gw)``; ``g_s`` and
    ``g_m`` are positions-major ``(bc, L, T, O)``. The partial-response gradients are built
    positions-major ``(bc, T, C_in, L, O)``; the matmuls read them transposed."""
    bc, t, ci, o, kk = w.shape
    g_s, g_m = g_s.transpose(1, 2), g_m.transpose(1, 2)  # (bc, T, L, O)
    # dS/dP = 1 for each input channel, plus dM at the arg-max channel
    grad = g_s.unsqueeze(2).expand(bc, t, ci, *g_s.shape[-2:]).contiguous()
    grad.scatter_add_(2, arg.unsqueeze(2).long(), g_m.unsqueeze(2))
    grad = grad.transpose(-1, -2)  # (bc, T, C_in, O, L), a view
    gu = gw = None
    if need_w:
        gw = torch.matmul(grad, u.transpose(-1, -2))
    if need_x:
        gu = torch.matmul(w.transpose(-1, -2), grad)
    return gu, gw


def _compiled(name: str):
    """The ``torch.compile`` chunk kernel ``name`` (:mod:`gattn.ops.fused.compiled`)."""
    from .fused.compiled import COMPILED  # lazy: torch.compile machinery only when used

    return COMPILED[name]


def _compiled_layout(v: Tensor) -> Tensor:
    """``(bc, L, T, O)`` -> contiguous ``(bc, T, O, L)`` (the layout of the compiled chunk
    kernels)."""
    return v.permute(0, 2, 3, 1).contiguous()


def _sum_max(geo: _Geometry, xp: Tensor, w: Tensor, compiled: bool = False):
    """``S`` and ``M``, each positions-major ``(B, L, T, O)``, and the ``uint8`` arg-max of
    ``M`` over input channels ``(B, T, L, O)``, streamed over batch chunks of partial responses
    (``compiled``: through the fused ``torch.compile`` kernel). The eager chunks compute the
    partial responses positions-major, ``(bc, T, C_in, L, O)``, so that ``S`` and ``M`` come
    out in the layout of the attention maps."""
    # preallocated: small per-chunk results kept alive between the chunks' large temporaries
    # would fragment the heap (the resident set then grows chunk by chunk)
    L = geo.oy * geo.ox
    s, m = xp.new_empty(geo.b, L, geo.t, geo.o), xp.new_empty(geo.b, L, geo.t, geo.o)
    arg = xp.new_empty(geo.b, geo.t, L, geo.o, dtype=torch.uint8)
    for b0, b1 in geo.chunks():
        if compiled:
            fused = _compiled("sum_max_chunk")
            args = (xp[b0:b1], w[b0:b1], geo.k, geo.oy, geo.ox, geo.stride)
            sc, mc, ac = fused(*args)
            s[b0:b1], m[b0:b1] = sc.permute(0, 3, 1, 2), mc.permute(0, 3, 1, 2)
            arg[b0:b1] = ac.transpose(-1, -2)
            continue
        bc = b1 - b0
        u = geo.patches(xp[b0:b1])  # (bc, T, C_in, k*k, L)
        wc = w[b0:b1]
        ws = wc.transpose(2, 3).reshape(bc, geo.t, geo.o, geo.ci * geo.k**2)
        sc = torch.matmul(u.reshape(bc, geo.t, -1, L).transpose(-1, -2), ws.transpose(-1, -2))
        mc, arg[b0:b1] = _max_first(torch.matmul(u.transpose(-1, -2), wc.transpose(-1, -2)), dim=2)
        s[b0:b1], m[b0:b1] = sc.transpose(1, 2), mc.transpose(1, 2)
    return s, m, arg


def _map_weights(kernels: Tensor, ci: int) -> tuple[Tensor, Tensor]:
    """``(T O, 2, k', k')`` -> the depthwise weights ``(T O, 1, k', k')`` of the maps of ``S``
    (divided by ``C_in``: ``S`` itself is correlated, not ``S / C_in``) and of ``M``."""
    return kernels[:, :1] / ci, kernels[:, 1:]


def _attention_logits(s: Tensor, m: Tensor, weights, geo: _Geometry):
    """``s, m: (bc, L, T, O)`` -> their maps as channels-last ``(bc, G, Y', X')`` views and
    the logits ``(bc, Y', X', G)`` (``G = T O``, ordered ``(t, o)``)."""
    bc = s.shape[0]
    oy, ox, g = geo.oy, geo.ox, geo.t * geo.o
    maps = tuple(v.reshape(bc, oy, ox, g).permute(0, 3, 1, 2) for v in (s, m))
    logits = depthwise_same(maps[0], weights[0]) + depthwise_same(maps[1], weights[1])
    return maps, logits.permute(0, 2, 3, 1)


def spatially_attended_responses(
    x: Tensor,
    bank: Tensor,
    alpha: Tensor,
    kernels: Tensor,
    stride: int,
    padding: int,
    save_statistics: bool = True,
) -> Tensor:
    r"""The spatial branch of the full attention for a slice of input elements.

    .. math::

        \sum_{\tilde h}\alpha^X(x, h, \tilde h)\, S(x, h, \tilde h),\qquad
        \alpha^X = \sigma\big(\tfrac{S}{C_{in}} \star \psi_{X,1} + M \star \psi_{X,2}\big),

    with :math:`S = \sum_{\tilde c}\alpha^C\tilde f` and :math:`M = \max_{\tilde c}\alpha^C
    \tilde f` (first maximiser on ties), ``k' x k'`` kernels :math:`\psi_X` per
    (output channel, output element, input element), zero "same" padding. Batch chunks bound
    the memory; a custom autograd function saves :math:`S`, :math:`M` and a ``uint8`` arg-max
    only — or, with ``save_statistics=False``, nothing but its inputs (the backward pass then
    recomputes the partial responses once more, chunk by chunk).

    Args:
        x: ``(B, C_in, T, Y, X)`` (``T`` input elements); bank: ``(C_out, |H|, C_in, T, k, k)``;
        alpha: :math:`\alpha^C`, ``(B, C_out, |H|, C_in, T)``;
        kernels: :math:`L_h\psi_X(\cdot, h^{-1}\tilde h)`, ``(C_out, |H|, T, 2, k', k')``.

    Returns:
        ``(B, Y', X', C_out |H|)`` (output channels last).
    """
    ci = x.shape[1]
    co, n, _, t = bank.shape[:4]
    if ci > 256:
        raise ValueError(f"the lean full attention supports at most 256 input channels, got {ci}")
    if kernels.shape[:3] != (co, n, t) or kernels.shape[3] != 2:
        raise ValueError(
            f"kernels must be (C_out, |H|, T, 2, k, k) = ({co}, {n}, {t}, 2, k, k), "
            f"got {tuple(kernels.shape)}"
        )
    xt, w = _per_sample_kernels(x, bank, alpha)
    kernels = kernels.permute(2, 0, 1, 3, 4, 5).reshape(t * co * n, *kernels.shape[-3:])
    return _SpatiallyAttendedResponses.apply(xt, w, kernels, stride, padding, save_statistics)


@torch.no_grad()
def response_statistics(
    x: Tensor, bank: Tensor, alpha: Tensor, stride: int, padding: int
) -> Tensor:
    r"""The spatial-attention statistics :math:`(S / C_{in}, M)` of a slice of input elements,
    without autograd (for observers such as :mod:`gattn.viz`; the attentive convolution never
    needs them as one tensor).

    Args:
        x: ``(B, C_in, T, Y, X)``; bank: ``(C_out, |H|, C_in, T, k, k)``;
        alpha: ``(B, C_out, |H|, C_in, T)``.

    Returns:
        ``(B, C_out, |H|, T, 2, Y', X')``, the layout of
        the statistics of ``SpatialAttention.weights`` (:mod:`gattn.attention.spatial`).
    """
    xt, w = _per_sample_kernels(x, bank, alpha)
    geo = _Geometry(xt, w, stride, padding)
    s, m, _ = _sum_max(geo, F.pad(xt, (padding,) * 4), w)
    co, n = bank.shape[:2]
    s, m = s.permute(0, 2, 3, 1), m.permute(0, 2, 3, 1)  # (B, T, O, L)
    stats = torch.stack([s / geo.ci, m], dim=3)  # (B, T, O, 2, L)
    stats = stats.reshape(geo.b, geo.t, co, n, 2, geo.oy, geo.ox)
    return stats.permute(0, 2, 3, 1, 4, 5, 6)

r"""Fused local self-attention over neighbourhoods of :math:`p^d` positions (:math:`d \in
\{1, 2, 3\}` spatial axes), with an explicit backward pass (the core of
:class:`gattn.nn.LiftingSelfAttention` / :class:`gattn.nn.GroupSelfAttention`,
docs/self_attention.md).

For scaled queries :math:`q`, keys and values :math:`k, v` on a group axis of length :math:`G`
and a positional table :math:`\rho`, per query position :math:`i` and output element :math:`h`:

.. math::

    S = q\cdot k_{\mathrm{nb}} + q\cdot\rho, \qquad P = \operatorname{softmax}(S), \qquad
    o = P\, v_{\mathrm{nb}},

with :math:`k_{\mathrm{nb}}, v_{\mathrm{nb}}` the :math:`G p^d` keys / values of the
neighbourhood (out-of-signal neighbours get logit :math:`-\infty`, not zero keys, so the
boundary transforms with the signal). Neighbourhoods are patches of the zero-padded keys and
values (:func:`gattn.ops.im2col.patch_view`, one strided copy); their gradients are summed back
with :func:`gattn.ops.im2col.col2im`. Work runs on batch chunks; only :math:`q, k, v, \rho`, the
output and (unless ``recompute``) the probabilities :math:`P` are kept for the backward pass,
:math:`dS = P \odot (dP - \operatorname{rowsum}(dO \odot O))`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .im2col import col2im, im2col, patch_view

__all__ = ["CHUNK_ELEMENTS", "LocalAttention", "local_attention"]

#: default size of one chunk's logits (numbers); ``local_attention`` picks the samples per chunk
CHUNK_ELEMENTS = 2**22


def _neighbourhoods(xpad: Tensor, patch: int, spatial: tuple[int, ...]) -> Tensor:
    """``(b, M, d, G, *padded)`` zero-padded (``d_s = len(spatial)`` spatial axes, each padded
    by ``r`` on both sides) -> ``(b*M*N, d, G*p^{d_s})`` neighbourhoods, one strided copy
    (``[.., c, (g, *q)] = xpad[.., c, g, *(o + q)]`` for position ``o`` and offset ``q``)."""
    b, m, d, g = xpad.shape[:4]
    ds = len(spatial)
    view = patch_view(xpad, patch, spatial)  # (b, M, d, G, *spatial, *kernel)
    perm = (0, 1, *range(4, 4 + ds), 2, 3, *range(4 + ds, 4 + 2 * ds))
    return view.permute(perm).reshape(b * m * math.prod(spatial), d, g * patch**ds)


def _fold(grad_nb: Tensor, patch: int, spatial: tuple[int, ...]) -> Tensor:
    """Adjoint of :func:`_neighbourhoods` (sum over the neighbourhoods each position is in):
    ``(b*M*N, d, G*p^{d_s}) -> (b*M, d, G, *spatial)``, one permuting copy and ``col2im``."""
    n, r, ds = math.prod(spatial), patch // 2, len(spatial)
    pk = patch**ds
    d, gp = grad_nb.shape[1:]
    g = gp // pk
    nb = grad_nb.reshape(-1, n, d, g, pk)
    cols = nb.permute(0, 2, 3, 4, 1).reshape(-1, d, g, pk, n)
    out = col2im(cols, patch, spatial, tuple(s + 2 * r for s in spatial))
    return out[(..., *(slice(r, r + s) for s in spatial))]


class LocalAttention(torch.autograd.Function):
    r"""Fused local attention with an explicit backward pass.

    ``q (B, M, N, H, d)`` (scaled), ``k, v (B, M, d, G, *spatial)``, ``rho (M, H, d, G p^D)``
    (``D`` spatial axes, ``N`` positions) ->
    ``(B, M, N, H, d)``. Logits :math:`S = q\cdot k_{\mathrm{nb}} + q\cdot\rho` (out-of-signal
    neighbours :math:`-\infty`), :math:`P = \operatorname{softmax}(S)`, output
    :math:`P\, v_{\mathrm{nb}}`. Runs on chunks of ``chunk`` samples; only ``q, k, v, rho``,
    the (small) output and, unless ``recompute``, the probabilities :math:`P` are kept for the
    backward pass — never the neighbourhood tensors, logits or bias (they are rebuilt chunk by
    chunk). Backward: :math:`dS = P \odot (dP - \mathrm{rowsum}(dO \odot O))`.

    ``LocalAttention.apply(q, k, v, rho, patch, chunk, recompute)``: ``k, v`` and ``rho``
    contiguous, ``patch`` the odd patch size, ``chunk`` samples per chunk, ``recompute`` keeps
    no probabilities (use :func:`local_attention`, which prepares them).
    """

    @staticmethod
    def _probabilities(q, kf, rho, mask, out):
        """Softmax of the logits of one chunk, written into ``out (b*M*N, H, GP)``."""
        b, m, n, h, d = q.shape
        out5 = out.view(b, m, n, h, -1)
        # mask (0 or -inf for out-of-image neighbours) + <q, rho>: one matmul per (head, h)
        bias = torch.matmul(q.transpose(2, 3), rho)  # (b, M, H, N, GP)
        out5.copy_(bias.transpose(2, 3) + mask)
        del bias
        out.baddbmm_(q.reshape(b * m * n, h, d), kf)  # + content <q, k_j>
        out.copy_(torch.softmax(out, -1))
        return out

    @staticmethod
    @torch.no_grad()  # the body writes into buffers with out=: keep tracers out of autograd
    def forward(ctx, q, k, v, rho, patch, chunk, recompute):
        bsz, m, n, h, d = q.shape
        g, spatial = k.shape[3], tuple(k.shape[4:])
        r, gp = patch // 2, k.shape[3] * patch ** len(spatial)
        kpad = F.pad(k, (r, r) * len(spatial))
        vpad = F.pad(v, (r, r) * len(spatial))
        mask = _logit_mask(spatial, patch, g, q)
        out = q.new_empty(bsz, m, n, h, d)
        probs = None if recompute else q.new_empty(bsz, m, n, h, gp)
        for s in range(0, bsz, chunk):
            e = min(s + chunk, bsz)
            rows = (e - s) * m * n
            buf = q.new_empty(rows, h, gp) if recompute else probs[s:e].view(rows, h, gp)
            p = LocalAttention._probabilities(
                q[s:e], _neighbourhoods(kpad[s:e], patch, spatial), rho, mask, buf
            )
            vf = _neighbourhoods(vpad[s:e], patch, spatial)
            out[s:e].view(rows, h, d).copy_(torch.bmm(p, vf.transpose(1, 2)))
            del p, vf, buf
        ctx.patch, ctx.chunk, ctx.recompute = patch, chunk, recompute
        ctx.save_for_backward(q, kpad, vpad, rho, out, probs)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, kpad, vpad, rho, out, probs = ctx.saved_tensors
        patch, chunk = ctx.patch, ctx.chunk
        bsz, m, n, h, d = q.shape
        g = kpad.shape[3]
        r = patch // 2
        spatial = tuple(s - 2 * r for s in kpad.shape[4:])
        gp = g * patch ** len(spatial)
        grad_out = grad_out.contiguous()
        mask = _logit_mask(spatial, patch, g, q)
        dq = torch.empty_like(q)
        dk = kpad.new_empty(bsz, m, d, g, *spatial)
        dv = torch.empty_like(dk)
        drho = torch.zeros_like(rho)
        for s in range(0, bsz, chunk):
            e = min(s + chunk, bsz)
            b, rows = e - s, (e - s) * m * n
            qc, do = q[s:e], grad_out[s:e].view(rows, h, d)
            kf = _neighbourhoods(kpad[s:e], patch, spatial)
            vf = _neighbourhoods(vpad[s:e], patch, spatial)
            if probs is None:
                p = LocalAttention._probabilities(qc, kf, rho, mask, q.new_empty(rows, h, gp))
            else:
                p = probs[s:e].view(rows, h, gp)
            # dV_nb = dO^T P ; dP = dO V_nb^T
            dv[s:e] = _fold(torch.bmm(do.transpose(1, 2), p), patch, spatial).view(dv[s:e].shape)
            ds = torch.bmm(do, vf)
            del vf
            rowsum = (do * out[s:e].view(rows, h, d)).sum(-1, keepdim=True)
            ds.sub_(rowsum).mul_(p)  # softmax backward (masked entries have P = 0)
            del p
            qf = qc.reshape(rows, h, d)
            dq[s:e].view(rows, h, d).copy_(torch.bmm(ds, kf.transpose(1, 2)))
            dk[s:e] = _fold(torch.bmm(qf.transpose(1, 2), ds), patch, spatial).view(dk[s:e].shape)
            del kf
            # positional bias <q, rho>: one batched matmul per h on strided rows of dS
            ds5 = ds.view(b, m, n, h, gp)
            for i in range(h):
                dsi, qi = ds5[:, :, :, i].view(b * m, n, gp), qc[:, :, :, i].reshape(b * m, n, d)
                dq[s:e, :, :, i] += torch.bmm(dsi, _per_sample(rho[:, i], b).transpose(1, 2)).view(
                    b, m, n, d
                )
                drho[:, i] += (
                    torch.bmm(qi.transpose(1, 2).contiguous(), dsi).view(b, m, d, gp).sum(0)
                )
            del ds, ds5
        return dq, dk, dv, drho, None, None, None


def _per_sample(table: Tensor, b: int) -> Tensor:
    """``(M, d, K) -> (b*M, d, K)``: a per-head table repeated for ``b`` samples."""
    return table.expand(b, *table.shape).reshape(b * table.shape[0], *table.shape[1:])


def _logit_mask(spatial: tuple[int, ...], patch: int, g: int, like: Tensor) -> Tensor:
    """``(N, 1, G * p^d)``: 0, or :math:`-\\infty` for a neighbour outside the signal."""
    n, p2 = math.prod(spatial), patch ** len(spatial)
    r = patch // 2
    ones = torch.ones(1, 1, *spatial, dtype=like.dtype, device=like.device)
    padded = F.pad(ones, (r, r) * len(spatial))  # 1 inside, 0 outside
    inside = im2col(padded, patch, spatial)[0, 0].t()  # (N, P)
    mask = torch.zeros_like(inside).masked_fill_(inside < 0.5, float("-inf"))
    return mask.reshape(n, 1, 1, p2).expand(n, 1, g, p2).reshape(n, 1, g * p2)


def local_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    rho: Tensor,
    patch: int,
    chunk: int | None = None,
    recompute: bool = False,
) -> Tensor:
    """Local attention: the chunked :class:`LocalAttention` with its default chunk size.

    Args:
        q: ``(B, M, N, Hq, d)`` scaled queries (``Hq = 1`` for lifting: shared over h).
        k, v: ``(B, M, d, G, *spatial)``, 1 to 3 spatial axes (``N`` positions in all).
        rho: ``(M, H', d, G * P)`` the positional table for the output group axis ``H'``.
        patch: the odd patch size ``p`` (``P = p^D`` for ``D`` spatial axes).
        chunk: samples per chunk (default: logits of at most :data:`CHUNK_ELEMENTS` entries per
            chunk).
        recompute: keep no probabilities for the backward pass (recompute them).

    Returns:
        ``(B, M, N, H', d)``.
    """
    b, m, n, _, d = q.shape
    hout, gp = rho.shape[1], rho.shape[-1]
    q = q.expand(b, m, n, hout, d).contiguous()
    if chunk is None:
        chunk = max(1, CHUNK_ELEMENTS // (m * n * hout * gp))
    return LocalAttention.apply(
        q, k.contiguous(), v.contiguous(), rho.contiguous(), patch, chunk, recompute
    )

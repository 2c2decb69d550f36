r"""Group equivariant stand-alone self-attention [GSA] (Romero & Cordonnier, ICLR 2021).

Relative self-attention on a group :math:`G = \mathbb{R}^2 \rtimes H` with finite :math:`H`
acting on the plane by matrices :math:`A(h)`. For one head with query/key/value projections
:math:`q, k, v` (shared over :math:`H`, pointwise), head dimension :math:`d` and a positional
encoding :math:`\rho` (an MLP of smooth features of the relative element):

**Lifting** (:math:`\mathbb{R}^2 \to G`, :class:`LiftingSelfAttention`): one attention map per
:math:`h \in H`,

.. math::

    m(x_i, h) = \sum_{j \in N(i)} \operatorname{softmax}_j\Bigl(
        \tfrac{1}{\sqrt d}\bigl\langle q(f(x_i)),\, k(f(x_j)) +
        \rho\bigl(A(h)^{-1}(x_j - x_i)\bigr)\bigr\rangle\Bigr)\, v(f(x_j)).

**Group** (:math:`G \to G`, :class:`GroupSelfAttention`): keys and values indexed by
:math:`(x_j, \hat h)`, the encoding a function of the relative group element
:math:`(x_i, h)^{-1}(x_j, \hat h) = (A(h)^{-1}(x_j - x_i),\, h^{-1}\hat h)`,

.. math::

    m(x_i, h) = \sum_{j \in N(i)} \sum_{\hat h \in H} \operatorname{softmax}_{(j, \hat h)}\Bigl(
        \tfrac{1}{\sqrt d}\bigl\langle q(f(x_i, h)),\, k(f(x_j, \hat h)) +
        \rho\bigl(A(h)^{-1}(x_j - x_i),\, h^{-1}\hat h\bigr)\bigr\rangle\Bigr)\,
        v(f(x_j, \hat h)).

Multi-head: the heads' outputs are concatenated and projected by a pointwise linear map.
Since the logits depend on the pair only through features and the relative element, both
layers are exactly equivariant, :math:`m[L_g f] = L_g m[f]`, for every :math:`g` whose
matrix maps the pixel grid (and the neighbourhood :math:`N`) onto itself; for other elements
(e.g. 45° in :math:`C_8`) the MLP is evaluated at rotated continuous offsets and equivariance
holds for the grid-exact subgroup only.

Implementation (lean, no per-pixel work for :math:`\rho`):

* the relative features for all :math:`(h, \hat h, \Delta)` are precomputed buffers, the index
  :math:`h^{-1}\hat h` read off the relative table of ``gattn.groups.finite_tables(H)``
  (no hand-coded rolls); the MLP is evaluated once per forward on
  :math:`|H|\cdot|H|\cdot p^2` points;
* :math:`\langle q, \rho\rangle` is an additive, per-query bias: one batched matmul of the
  queries with the embedding table per (head, :math:`h`), written straight into the logits
  buffer (never kept);
* local attention is a fused :class:`torch.autograd.Function`
  (:class:`gattn.ops.local_attention.LocalAttention`) with an explicit backward pass: per chunk
  of the batch it gathers the :math:`p \times p` neighbourhoods of keys/values (one strided
  copy of zero-padded tensors), forms the logits (bias, content, mask) in one buffer and
  applies the softmax in place; it keeps only :math:`q, k, v, \rho`, the output and the
  probabilities :math:`P` for the backward pass — the neighbourhood tensors, logits and bias
  are rebuilt chunk by chunk there, and the softmax backward is
  :math:`dS = P \odot (dP - \operatorname{rowsum}(dO \odot O))`.
  Out-of-image neighbours get logit :math:`-\infty` (not zero keys), so the boundary
  transforms with the image. Global attention (``patch_size=None``) attends to all positions
  and gathers :math:`\rho` by the relative-offset index (plain autograd);
* ``chunk_size``: samples per chunk (local default: logits of at most :math:`2^{22}` entries
  per chunk); ``checkpoint=True`` keeps no probabilities either (local: recomputed in the
  backward pass; global: ``torch.utils.checkpoint`` per chunk).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint as _checkpoint

from ..groups import FiniteGroup, SemidirectProduct, finite_tables
from ..groups.validation import check_int
from ..ops.local_attention import local_attention
from .checks import check_image, check_matches_parameters, check_signal
from .positional import (
    RelativePositionMLP,
    global_offsets,
    patch_offsets,
    relative_offset_index,
    relative_position_features,
)

__all__ = ["LiftingSelfAttention", "GroupSelfAttention", "attention_stabiliser"]


def attention_stabiliser(group: object) -> FiniteGroup:
    """The finite stabiliser :math:`H` of ``group`` (an affine group :math:`\\mathbb{R}^2
    \\rtimes H` or :math:`H` itself), checked to act on the plane.

    Raises:
        ValueError: the stabiliser is not a finite matrix group acting on :math:`\\mathbb{R}^2`.
    """
    stab = group.stabiliser if isinstance(group, SemidirectProduct) else group
    if not isinstance(stab, FiniteGroup):
        raise ValueError(
            f"group must be R^2 x| H with a finite stabiliser H (a FiniteGroup), got "
            f"{getattr(group, 'name', group)!r} with stabiliser {getattr(stab, 'name', stab)!r}"
        )
    if stab.action_dim != 2:
        raise ValueError(
            f"group must act on the plane (R^2); {stab.name} acts on R^{stab.action_dim}"
        )
    return stab


def _attend_global(q: Tensor, k: Tensor, v: Tensor, rho: Tensor) -> Tensor:
    """Global attention core: ``rho`` is ``(M, N, H', d, G * N)`` (query pixel, output
    element; key element and pixel)."""
    b, m, d, g, y, x = k.shape
    n = y * x
    hq, hout = q.shape[3], rho.shape[2]
    kf = k.reshape(b, m, d, g * n)
    vf = v.reshape(b, m, d, g * n).transpose(-1, -2)  # (B, M, G*N, d)
    qh = q.permute(1, 2, 3, 0, 4)  # (M, N, Hq, B, d)
    bias = torch.matmul(qh, rho).permute(3, 0, 1, 2, 4)  # (B, M, N, H', G*N)
    content = torch.matmul(q.reshape(b, m, n * hq, d), kf).view(b, m, n, hq, g * n)
    attn = torch.softmax(content + bias, -1)
    return torch.matmul(attn.view(b, m, n * hout, g * n), vf).view(b, m, n, hout, d)


class _GroupAttentionBase(nn.Module):
    """Shared machinery: projections, positional MLP/tables, chunked attention."""

    group_part: bool = True
    layer_name: str = "GroupSelfAttention"

    def __init__(
        self,
        group: object,
        in_channels: int,
        out_channels: int,
        heads: int,
        patch_size: int | None = None,
        pos_hidden: int = 16,
        chunk_size: int | None = None,
        checkpoint: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        stab = attention_stabiliser(group)
        name = self.layer_name
        check_int("in_channels", in_channels)
        check_int("out_channels", out_channels)
        check_int("heads", heads)
        if out_channels % heads != 0:
            raise ValueError(
                f"{name}: out_channels={out_channels} is not divisible by heads={heads}; "
                f"expected out_channels to be a multiple of heads"
            )
        if patch_size is not None and (
            not isinstance(patch_size, int)
            or isinstance(patch_size, bool)
            or patch_size < 1
            or patch_size % 2 == 0
        ):
            raise ValueError(
                f"{name}: patch_size must be None (global attention) or a positive odd integer "
                f"(the neighbourhood is centred on the query), got patch_size={patch_size!r}"
            )
        if chunk_size is not None:
            check_int("chunk_size", chunk_size)
        kw = {"device": device, "dtype": dtype}
        self.group = group
        self.stabiliser = stab
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.heads = heads
        self.head_dim = out_channels // heads
        self.patch_size = patch_size
        self.chunk_size = chunk_size
        self.checkpoint = checkpoint
        n = stab.order
        feat_dim = 2 + (
            stab.features(torch.zeros((), dtype=torch.long)).numel() if self.group_part else 0
        )
        self.qkv = nn.Linear(in_channels, 3 * out_channels, bias=False, **kw)
        self.out = nn.Linear(out_channels, out_channels, **kw)
        self.pos = RelativePositionMLP(feat_dim, out_channels, pos_hidden, **kw)
        fdtype = dtype or torch.get_default_dtype()
        if patch_size is not None:
            scale = float(max((patch_size - 1) // 2, 1))
            offsets = patch_offsets(patch_size, dtype=torch.float64)
            feats = relative_position_features(
                stab, offsets, self.group_part, self._relative_index(), scale
            )
            self.register_buffer("pos_features", feats.to(device=device, dtype=fdtype))
        else:
            self.register_buffer("pos_features", None)
        # ingredients for global attention (offsets depend on the input size)
        mats = stab.matrices(dtype=torch.float64)
        self.register_buffer(
            "inverse_matrices", mats[stab.inverses].to(device=device, dtype=fdtype)
        )
        if self.group_part:
            gf = stab.features(self._relative_index().cpu()).to(torch.float64)
            self.register_buffer("group_features", gf.to(device=device, dtype=fdtype))
        else:
            self.register_buffer("group_features", None)
        self._order = n

    # ------------------------------------------------------------------ hooks
    def _relative_index(self) -> Tensor:
        r"""``(|H|, |H|)``: index of :math:`h^{-1}\hat h`, from the group's tables."""
        return finite_tables(self.stabiliser).relative

    # ------------------------------------------------------------------ pieces
    def positional_table(self, height: int, width: int) -> Tensor:
        r"""The embedding table :math:`\rho` for all relative elements, per head, in the
        layout the attention core consumes.

        Returns:
            local: ``(M, |H|, d, G * p^2)``; global: ``(M, N, |H|, d, G * N)`` (query pixel,
            output element, head channel, key element and pixel), with ``G = |H|`` (group) or
            ``1`` (lifting) and ``M`` heads of dimension ``d``.
        """
        m, d = self.heads, self.head_dim
        if self.patch_size is not None:
            emb = self.pos(self.pos_features)  # (|H|, G, P, C)
            hq, g, p, _ = emb.shape
            return emb.view(hq, g * p, m, d).permute(2, 0, 3, 1)
        ref = self.inverse_matrices
        offsets = global_offsets(height, width, dtype=ref.dtype, device=ref.device)
        scale = max((max(height, width) - 1) / 2, 1.0)
        coords = torch.einsum("hab,pb->hpa", ref, offsets) / scale  # (|H|, O, 2)
        n, o = coords.shape[0], coords.shape[1]
        if self.group_part:
            gf = self.group_features
            feats = torch.cat(
                [
                    coords.unsqueeze(1).expand(n, n, o, 2),
                    gf.unsqueeze(2).expand(n, n, o, gf.shape[-1]),
                ],
                -1,
            )
        else:
            feats = coords.unsqueeze(1)
        emb = self.pos(feats)  # (|H|, G, O, C)
        g = emb.shape[1]
        idx = relative_offset_index(height, width, device=ref.device)  # (N, N')
        npix = idx.shape[0]
        emb = emb.view(n, g, o, m, d)[:, :, idx]  # (|H|, G, N, N', M, d)
        return emb.permute(4, 2, 0, 5, 1, 3).reshape(m, npix, n, d, g * npix)

    def _check_patch(self, height: int, width: int) -> None:
        p = self.patch_size
        if p is not None and (p > height or p > width):
            raise ValueError(
                f"{self.layer_name}: patch_size={p} is larger than the input {height}x{width}; "
                f"expected patch_size <= min(Y, X) = {min(height, width)}"
            )

    def _attention(self, q: Tensor, k: Tensor, v: Tensor, height: int, width: int) -> Tensor:
        """``q (B, M, N, Hq, d)`` (unscaled), ``k, v (B, M, d, G, Y, X)`` ->
        ``(B, M, N, |H|, d)``."""
        q = q * (1.0 / math.sqrt(self.head_dim))
        rho = self.positional_table(height, width)
        if self.patch_size is not None:  # fused: chunking and recomputation built in
            return local_attention(q, k, v, rho, self.patch_size, self.chunk_size, self.checkpoint)
        batch = q.shape[0]
        step = self.chunk_size or batch
        if batch == 0 or (step >= batch and not self.checkpoint):
            return _attend_global(q, k, v, rho)
        outs = []
        for s in range(0, batch, step):  # chunks of the batch (bounded activation memory)
            args = (q[s : s + step], k[s : s + step], v[s : s + step], rho)
            if self.checkpoint and torch.is_grad_enabled():
                outs.append(_checkpoint(_attend_global, *args, use_reentrant=False))
            else:
                outs.append(_attend_global(*args))
        return torch.cat(outs, 0)

    def _project_out(self, o: Tensor, height: int, width: int) -> Tensor:
        """``(B, M, N, |H|, d) -> (B, C_out, |H|, Y, X)``."""
        b, m, n, h, d = o.shape
        o = o.permute(0, 2, 3, 1, 4).reshape(b, n, h, m * d)
        o = self.out(o)  # (B, N, |H|, C_out)
        return o.permute(0, 3, 2, 1).reshape(b, self.out_channels, h, height, width)

    def extra_repr(self) -> str:
        return (
            f"group={getattr(self.group, 'name', self.group)!r}, in_channels={self.in_channels}, "
            f"out_channels={self.out_channels}, heads={self.heads}, patch_size={self.patch_size}"
            f", chunk_size={self.chunk_size}, checkpoint={self.checkpoint}"
        )


class LiftingSelfAttention(_GroupAttentionBase):
    r"""Lifting self-attention :math:`\mathbb{R}^2 \to G = \mathbb{R}^2 \rtimes H`.

    .. math::

        m(x_i, h) = W_o \bigoplus_{\text{heads}} \sum_{j \in N(i)}
        \operatorname{softmax}_j\Bigl(\tfrac{1}{\sqrt d}\bigl\langle q_i,\,
        k_j + \rho\bigl(A(h)^{-1}(x_j - x_i)/s\bigr)\bigr\rangle\Bigr) v_j

    with :math:`q, k, v` pointwise linear maps of the image (no bias), :math:`\rho` an MLP of
    the rotated offset, :math:`s = (p-1)/2` (local) or :math:`(\max(Y, X)-1)/2` (global).
    Exactly equivariant for grid-exact :math:`h` (any odd or even square size).

    Args:
        group: :math:`\mathbb{R}^2 \rtimes H` (e.g. ``p4()``, ``E2(8)``) or :math:`H` itself,
            with :math:`H` a :class:`~gattn.groups.FiniteGroup` acting on the plane.
        in_channels: ``C_in``.
        out_channels: ``C_out`` (= heads times the head dimension).
        heads: number of heads ``M``; must divide ``out_channels``.
        patch_size: odd ``p`` for local :math:`p \times p` attention (spatial size kept,
            out-of-image neighbours masked), ``None`` for global attention.
        pos_hidden: hidden width of the positional MLP.
        chunk_size: run the attention on chunks of this many samples of the batch (the
            transient logits and neighbourhood tensors scale with it; default for local
            attention: at most :math:`2^{22}` logits per chunk; global: the whole batch).
        checkpoint: keep no attention probabilities for the backward pass and recompute them
            chunk by chunk (local attention: inside the fused function; global:
            ``torch.utils.checkpoint``). Saves ``B·M·N·|H|·|G|·p^2`` floats per layer for
            roughly one extra forward pass of the attention core.
        device, dtype: factory arguments for parameters and buffers.

    Shapes:
        input ``(B, C_in, Y, X)``; output ``(B, C_out, |H|, Y, X)``.

    Raises:
        ValueError: invalid arguments, or (at call time) wrong input dimensions/channels or a
            patch larger than the image.
    """

    group_part = False
    layer_name = "LiftingSelfAttention"

    def forward(self, x: Tensor) -> Tensor:
        check_image(x, self.in_channels, self.layer_name)
        check_matches_parameters(x, self.qkv.weight, self.layer_name)
        b, _, y, w = x.shape
        self._check_patch(y, w)
        n, m, d, c = y * w, self.heads, self.head_dim, self.out_channels
        qkv = self.qkv(x.flatten(2).transpose(1, 2))  # (B, N, 3C)
        q, k, v = qkv.split(c, -1)
        q = q.reshape(b, n, m, 1, d).transpose(1, 2)  # (B, M, N, 1, d)
        k = k.transpose(1, 2).reshape(b, m, d, 1, y, w)
        v = v.transpose(1, 2).reshape(b, m, d, 1, y, w)
        return self._project_out(self._attention(q, k, v, y, w), y, w)


class GroupSelfAttention(_GroupAttentionBase):
    r"""Group self-attention :math:`G \to G`, :math:`G = \mathbb{R}^2 \rtimes H`.

    .. math::

        m(x_i, h) = W_o \bigoplus_{\text{heads}} \sum_{j \in N(i)} \sum_{\hat h \in H}
        \operatorname{softmax}_{(j,\hat h)}\Bigl(\tfrac{1}{\sqrt d}\bigl\langle q(x_i, h),\,
        k(x_j, \hat h) + \rho\bigl(A(h)^{-1}(x_j - x_i)/s,\; \mathrm{vec}\,A(h^{-1}\hat h)
        \bigr)\bigr\rangle\Bigr) v(x_j, \hat h)

    The encoding depends on the pair only through the relative group element
    :math:`(x_i, h)^{-1}(x_j, \hat h)`, so it is invariant under :math:`L_g`; the index of
    :math:`h^{-1}\hat h` comes from ``finite_tables(H).relative``. Projections are shared over
    :math:`H` (pointwise).

    The constructor arguments (``group``, ``in_channels``, ``out_channels``, ``heads``,
    ``patch_size``, ``pos_hidden``, ``chunk_size``, ``checkpoint``, ``device``, ``dtype``) are
    those of :class:`LiftingSelfAttention`.

    Shapes:
        input ``(B, C_in, |H|, Y, X)``; output ``(B, C_out, |H|, Y, X)``.

    Raises:
        ValueError: invalid arguments, or (at call time) wrong input dimensions/channels,
            wrong group-axis length or a patch larger than the image.
    """

    group_part = True
    layer_name = "GroupSelfAttention"

    def forward(self, x: Tensor) -> Tensor:
        check_signal(x, self.in_channels, self._order, self.layer_name)
        check_matches_parameters(x, self.qkv.weight, self.layer_name)
        b, _, h, y, w = x.shape
        self._check_patch(y, w)
        n, m, d, c = y * w, self.heads, self.head_dim, self.out_channels
        qkv = self.qkv(x.flatten(3).permute(0, 3, 2, 1))  # (B, N, |H|, 3C)
        q, k, v = qkv.split(c, -1)
        q = q.reshape(b, n, h, m, d).permute(0, 3, 1, 2, 4)  # (B, M, N, |H|, d)
        k = k.reshape(b, n, h, m, d).permute(0, 3, 4, 2, 1).reshape(b, m, d, h, y, w)
        v = v.reshape(b, n, h, m, d).permute(0, 3, 4, 2, 1).reshape(b, m, d, h, y, w)
        return self._project_out(self._attention(q, k, v, y, w), y, w)

r"""Group equivariant stand-alone self-attention [GSA] (Romero & Cordonnier, ICLR 2021).

Relative self-attention on a group :math:`G = \mathbb{R}^d \rtimes H`, :math:`d \in \{1, 2, 3\}`
(1-D signals, images, volumes), with any finite stabiliser :math:`H` of the group interface
acting on :math:`\mathbb{R}^d` by matrices :math:`A(h)` (``gattn.groups.stabiliser_of``; its
tables from ``gattn.groups.finite_tables``). For one head with query/key/value projections
:math:`q, k, v` (shared over :math:`H`, pointwise), head dimension :math:`d_k` and a positional
encoding :math:`\rho` (an MLP of smooth features of the relative element):

**Lifting** (:math:`\mathbb{R}^d \to G`, :class:`LiftingSelfAttention`): one attention map per
:math:`h \in H`,

.. math::

    m(x_i, h) = \sum_{j \in N(i)} \operatorname{softmax}_j\Bigl(
        \tfrac{1}{\sqrt{d_k}}\bigl\langle q(f(x_i)),\, k(f(x_j)) +
        \rho\bigl(A(h)^{-1}(x_j - x_i)\bigr)\bigr\rangle\Bigr)\, v(f(x_j)).

**Group** (:math:`G \to G`, :class:`GroupSelfAttention`): keys and values indexed by
:math:`(x_j, \hat h)`, the encoding a function of the relative group element
:math:`(x_i, h)^{-1}(x_j, \hat h) = (A(h)^{-1}(x_j - x_i),\, h^{-1}\hat h)`,

.. math::

    m(x_i, h) = \sum_{j \in N(i)} \sum_{\hat h \in H} \operatorname{softmax}_{(j, \hat h)}\Bigl(
        \tfrac{1}{\sqrt{d_k}}\bigl\langle q(f(x_i, h)),\, k(f(x_j, \hat h)) +
        \rho\bigl(A(h)^{-1}(x_j - x_i),\, h^{-1}\hat h\bigr)\bigr\rangle\Bigr)\,
        v(f(x_j, \hat h)).

A continuous :math:`H` (``SE2()``, ``E2()``, ...) is given by ``samples=`` (the
:math:`H` samples of the group axis, docs/continuous.md): the sums over :math:`H` run over the
samples and the features are computed from them.

Multi-head: the heads' outputs are concatenated and projected by a pointwise linear map.
Since the logits depend on the pair only through features and the relative element, both
layers are exactly equivariant, :math:`m[L_g f] = L_g m[f]`, for every :math:`g` whose
matrix maps the lattice (and the neighbourhood :math:`N`) onto itself
(``finite_tables(H).lattice_preserving``); for other elements (e.g. 45° in :math:`C_8`) the MLP
is evaluated at rotated continuous offsets and equivariance holds for the lattice-preserving
subgroup only (docs/self_attention.md).

Implementation (lean, no per-position work for :math:`\rho`):

* the relative features for all :math:`(h, \hat h, \Delta)` are precomputed buffers, the
  element :math:`h^{-1}\hat h` read off the relative table of ``gattn.groups.finite_tables(H)``
  (derived from the interface's product and inverse; no hand-coded rolls); the MLP is
  evaluated once per forward on :math:`|H|\cdot|H|\cdot p^d` points;
* :math:`\langle q, \rho\rangle` is an additive, per-query bias: one batched matmul of the
  queries with the embedding table per (head, :math:`h`), written straight into the logits
  buffer (never kept);
* local attention is a fused :class:`torch.autograd.Function`
  (:class:`gattn.ops.local_attention.LocalAttention`) with an explicit backward pass: per chunk
  of the batch it gathers the :math:`p^d` neighbourhoods of keys/values (one strided copy of
  zero-padded tensors), forms the logits (bias, content, mask) in one buffer and applies the
  softmax in place; it keeps only :math:`q, k, v, \rho`, the output and the probabilities
  :math:`P` for the backward pass — the neighbourhood tensors, logits and bias are rebuilt
  chunk by chunk there, and the softmax backward is
  :math:`dS = P \odot (dP - \operatorname{rowsum}(dO \odot O))`.
  Out-of-signal neighbours get logit :math:`-\infty` (not zero keys), so the boundary
  transforms with the signal. Global attention (``patch_size=None``) attends to all positions
  and gathers :math:`\rho` by the relative-offset index (plain autograd);
* ``chunk_size``: samples per chunk (local default: logits of at most :math:`2^{22}` entries
  per chunk); ``checkpoint=True`` keeps no probabilities either (local: recomputed in the
  backward pass; global: ``torch.utils.checkpoint`` per chunk).
* ``attention_backend``: local attention can also run through
  ``torch.nn.attention.flex_attention`` (:mod:`gattn.ops.flex`: a ``score_mod`` adds
  :math:`\langle q, \rho\rangle`, a block mask keeps the window); ``"auto"`` picks the fused
  path on CPU (faster there, and flex has no CPU backward pass) and flex on CUDA
  (docs/self_attention.md).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint as _checkpoint

from ..groups import GroupSignal, Image, finite_tables, stabiliser_of
from ..groups.validation import check_int
from ..ops.flex import check_backend, flex_local_attention, select_backend
from ..ops.local_attention import local_attention
from .checks import check_input, check_matches_parameters, spatial_names
from .positional import (
    RelativePositionMLP,
    global_offsets,
    inverse_matrices,
    patch_offsets,
    relative_group_features,
    relative_offset_index,
    relative_position_features,
)
from .samples import HSamples, optional_samples

__all__ = ["LiftingSelfAttention", "GroupSelfAttention"]


def _attend_global(q: Tensor, k: Tensor, v: Tensor, rho: Tensor) -> Tensor:
    """Global attention core: ``q (B, M, N, Hq, d)``, ``k, v (B, M, d, G, *spatial)``, ``rho``
    ``(M, N, H', d, G * N)`` (query position, output element; key element and position)."""
    b, m, d, g = k.shape[:4]
    n = math.prod(k.shape[4:])
    hq, hout = q.shape[3], rho.shape[2]
    kf = k.reshape(b, m, d, g * n)
    vf = v.reshape(b, m, d, g * n).transpose(-1, -2)  # (B, M, G*N, d)
    qh = q.permute(1, 2, 3, 0, 4)  # (M, N, Hq, B, d)
    bias = torch.matmul(qh, rho).permute(3, 0, 1, 2, 4)  # (B, M, N, H', G*N)
    content = torch.matmul(q.reshape(b, m, n * hq, d), kf).view(b, m, n, hq, g * n)
    attn = torch.softmax(content + bias, -1)
    return torch.matmul(attn.view(b, m, n * hout, g * n), vf).view(b, m, n, hout, d)


class _GroupAttentionBase(nn.Module):
    """Shared machinery: projections, positional MLP/tables, chunked attention, layouts."""

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
        samples: HSamples | int | Tensor | None = None,
        attention_backend: str = "auto",
    ) -> None:
        super().__init__()
        name = self.layer_name
        check_backend(attention_backend, f"{name}: attention_backend")
        if attention_backend == "flex" and patch_size is None:
            raise ValueError(
                f"{name}: attention_backend='flex' is for local attention (an odd patch_size); "
                f"global attention (patch_size=None) has one path: use 'auto' or 'fused'"
            )
        stab = stabiliser_of(group, dims=(1, 2, 3))
        #: the :class:`~gattn.nn.HSamples` of the group axis (``None``: all of a finite H)
        self.samples = optional_samples(group, samples, name)
        tables = finite_tables(stab) if self.samples is None else None
        check_int("in_channels", in_channels)
        check_int("out_channels", out_channels)
        check_int("heads", heads)
        check_int("pos_hidden", pos_hidden)
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
        dims = stab.action_dim
        self.group = group
        self.stabiliser = stab
        self.dims = dims
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.heads = heads
        self.head_dim = out_channels // heads
        self.patch_size = patch_size
        self.chunk_size = chunk_size
        self.checkpoint = checkpoint
        #: local-attention backend: ``"auto"``, ``"fused"`` or ``"flex"`` (gattn.ops.flex)
        self.attention_backend = attention_backend
        sm = self.samples
        self.in_layout = (
            GroupSignal(stab, dims, in_channels, samples=sm)
            if self.group_part
            else Image(dims, in_channels)
        )
        self.out_layout = GroupSignal(stab, dims, out_channels, samples=sm)
        if self.group_part:
            elements = None if sm is None else sm.elements[:1]
            group_feats = relative_group_features(stab, elements)
        else:
            group_feats = None
        feat_dim = dims + (group_feats.shape[-1] if self.group_part else 0)
        self.qkv = nn.Linear(in_channels, 3 * out_channels, bias=False, **kw)
        self.out = nn.Linear(out_channels, out_channels, **kw)
        self.pos = RelativePositionMLP(feat_dim, out_channels, pos_hidden, **kw)
        fdtype = dtype or torch.get_default_dtype()
        if sm is not None:  # features from the (possibly redrawn) samples, in every forward
            self.register_buffer("pos_features", None)
            self.register_buffer("inverse_matrices", None)
            self.register_buffer("group_features", None)
            self._order = sm.order
            return
        if patch_size is not None:
            scale = float(max((patch_size - 1) // 2, 1))
            offsets = patch_offsets(patch_size, dims, dtype=torch.float64)
            feats = relative_position_features(stab, offsets, self.group_part, scale)
            self.register_buffer("pos_features", feats.to(device=device, dtype=fdtype))
        else:
            self.register_buffer("pos_features", None)
        # ingredients for global attention (offsets depend on the input size)
        inverse = inverse_matrices(stab)  # A(h)^{-1}, grid order
        self.register_buffer("inverse_matrices", inverse.to(device=device, dtype=fdtype))
        if self.group_part:
            self.register_buffer("group_features", group_feats.to(device=device, dtype=fdtype))
        else:
            self.register_buffer("group_features", None)
        self._order = tables.order

    # ------------------------------------------------------------------ pieces
    def positional_table(self, *shape: int) -> Tensor:
        r"""The embedding table :math:`\rho` for all relative elements, per head, in the
        layout the attention core consumes.

        Args:
            shape: the spatial sizes of the input (used by global attention).

        Returns:
            local: ``(M, |H|, d, G * p^D)``; global: ``(M, N, |H|, d, G * N)`` (query position,
            output element, head channel, key element and position), with ``G = |H|`` (group)
            or ``1`` (lifting), ``M`` heads of dimension ``d``, ``D`` spatial axes and ``N``
            positions.
        """
        m, d = self.heads, self.head_dim
        weight = self.pos.fc1.weight
        elements = None if self.samples is None else self.samples.elements
        if self.patch_size is not None:
            feats = self.pos_features
            if elements is not None:  # the samples' A(h_i)^{-1} offsets, h_i^{-1} h_j
                scale = float(max((self.patch_size - 1) // 2, 1))
                offsets = patch_offsets(self.patch_size, self.dims, device=weight.device)
                feats = relative_position_features(
                    self.stabiliser, offsets, self.group_part, scale, samples=elements
                ).to(weight.dtype)
            emb = self.pos(feats)  # (|H|, G, P, C)
            hq, g, p, _ = emb.shape
            return emb.view(hq, g * p, m, d).permute(2, 0, 3, 1)
        ref = self.inverse_matrices
        gfeats = self.group_features
        if elements is not None:
            ref = inverse_matrices(self.stabiliser, elements).to(weight)
            if self.group_part:
                gfeats = relative_group_features(self.stabiliser, elements).to(weight)
        offsets = global_offsets(*shape, dtype=ref.dtype, device=ref.device)
        scale = max((max(shape) - 1) / 2, 1.0)
        coords = torch.einsum("hab,pb->hpa", ref, offsets) / scale  # (|H|, O, D)
        n, o, dims = coords.shape
        if self.group_part:
            gf = gfeats
            feats = torch.cat(
                [
                    coords.unsqueeze(1).expand(n, n, o, dims),
                    gf.unsqueeze(2).expand(n, n, o, gf.shape[-1]),
                ],
                -1,
            )
        else:
            feats = coords.unsqueeze(1)
        emb = self.pos(feats)  # (|H|, G, O, C)
        g = emb.shape[1]
        idx = relative_offset_index(*shape, device=ref.device)  # (N, N')
        npix = idx.shape[0]
        emb = emb.view(n, g, o, m, d)[:, :, idx]  # (|H|, G, N, N', M, d)
        return emb.permute(4, 2, 0, 5, 1, 3).reshape(m, npix, n, d, g * npix)

    def _check_patch(self, shape: tuple[int, ...]) -> None:
        p = self.patch_size
        if p is not None and p > min(shape):
            raise ValueError(
                f"{self.layer_name}: patch_size={p} is larger than the input "
                f"{'x'.join(map(str, shape))}; expected patch_size <= "
                f"min({spatial_names(self.dims)}) = {min(shape)}"
            )

    def _attention(self, q: Tensor, k: Tensor, v: Tensor, shape: tuple[int, ...]) -> Tensor:
        """``q (B, M, N, Hq, d)`` (unscaled), ``k, v (B, M, d, G, *shape)`` ->
        ``(B, M, N, |H|, d)``."""
        q = q * (1.0 / math.sqrt(self.head_dim))
        rho = self.positional_table(*shape)
        if self.patch_size is not None:
            if select_backend(self.attention_backend, q) == "flex":
                return flex_local_attention(q, k, v, rho, self.patch_size)
            # fused: chunking and recomputation built in
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

    def _project_out(self, o: Tensor, shape: tuple[int, ...]) -> Tensor:
        """``(B, M, N, |H|, d) -> (B, C_out, |H|, *shape)``."""
        b, m, n, h, d = o.shape
        o = o.permute(0, 2, 3, 1, 4).reshape(b, n, h, m * d)
        o = self.out(o)  # (B, N, |H|, C_out)
        return o.permute(0, 3, 2, 1).reshape(b, self.out_channels, h, *shape)

    def _check(self, x: Tensor) -> tuple[int, ...]:
        """Validate the input against ``in_layout`` and the parameters; its spatial shape."""
        check_input(self.in_layout, x, self.layer_name)
        check_matches_parameters(x, self.qkv.weight, self.layer_name)
        shape = tuple(x.shape[x.dim() - self.dims :])
        self._check_patch(shape)
        return shape

    def extra_repr(self) -> str:
        return (
            f"group={getattr(self.group, 'name', self.group)!r}, in_channels={self.in_channels}, "
            f"out_channels={self.out_channels}, heads={self.heads}, patch_size={self.patch_size}"
            f", chunk_size={self.chunk_size}, checkpoint={self.checkpoint}"
            + (
                f", attention_backend={self.attention_backend!r}"
                if self.attention_backend != "auto"
                else ""
            )
        )


class LiftingSelfAttention(_GroupAttentionBase):
    r"""Lifting self-attention :math:`\mathbb{R}^d \to G = \mathbb{R}^d \rtimes H`.

    .. math::

        m(x_i, h) = W_o \bigoplus_{\text{heads}} \sum_{j \in N(i)}
        \operatorname{softmax}_j\Bigl(\tfrac{1}{\sqrt{d_k}}\bigl\langle q_i,\,
        k_j + \rho\bigl(A(h)^{-1}(x_j - x_i)/s\bigr)\bigr\rangle\Bigr) v_j

    with :math:`q, k, v` pointwise linear maps of the signal (no bias), :math:`\rho` an MLP of
    the rotated offset (:math:`d` coordinates), :math:`s = (p-1)/2` (local) or
    :math:`(\max_a S_a - 1)/2` (global, :math:`S_a` the spatial sizes). Exactly equivariant for
    lattice-preserving :math:`h` (any odd or even size; docs/self_attention.md).

    Args:
        group: :math:`\mathbb{R}^d \rtimes H` (e.g. ``p4()``, ``E2(8)``, ``p1m()``, ``cube()``)
            or :math:`H` itself: any finite matrix group of the interface acting on
            :math:`\mathbb{R}^d`, :math:`d \in \{1, 2, 3\}`
            (``gattn.groups.stabiliser_of(group, finite=True)``).
        in_channels: ``C_in``.
        out_channels: ``C_out`` (= heads times the head dimension).
        heads: number of heads ``M``; must divide ``out_channels``.
        patch_size: odd ``p`` for local attention over :math:`p^d` neighbourhoods (spatial
            size kept, out-of-signal neighbours masked), ``None`` for global attention.
        pos_hidden: hidden width of the positional MLP.
        chunk_size: run the attention on chunks of this many samples of the batch (the
            transient logits and neighbourhood tensors scale with it; default for local
            attention: at most :math:`2^{22}` logits per chunk; global: the whole batch).
        checkpoint: keep no attention probabilities for the backward pass and recompute them
            chunk by chunk (local attention: inside the fused function; global:
            ``torch.utils.checkpoint``). Saves ``B·M·N·|H|·|G|·p^d`` floats per layer for
            roughly one extra forward pass of the attention core.
        device, dtype: factory arguments for parameters and buffers.
        samples: the :math:`H` samples :math:`h_i` of the group axis (an
            :class:`~gattn.nn.HSamples` shared with the network's other layers, a number of
            samples or a tensor of elements): required for a continuous :math:`H` (``SE2()``,
            ``E2()``, ...), allowed for a finite one; ``None``: all of a finite :math:`H`. The
            positional features :math:`A(h_i)^{-1}\Delta` (and
            :math:`\mathrm{features}(h_i^{-1} h_j)`) are then computed from the samples in
            every forward (Monte-Carlo redraws are seen). The softmax over key samples counts
            each sample once (the Haar quadrature for the uniform weights of SO(2), O(2) and
            Monte-Carlo samples; docs/continuous.md).
        attention_backend: how local attention runs: ``"fused"`` (the chunked
            :class:`~gattn.ops.local_attention.LocalAttention` with its explicit backward pass),
            ``"flex"`` (``torch.nn.attention.flex_attention`` with a ``score_mod`` for the
            positional bias and a block mask for the window, :mod:`gattn.ops.flex`; no
            chunking or recomputation; on CPU forward only) or ``"auto"``: the faster correct
            one per device (:func:`gattn.ops.flex.select_backend`; docs/self_attention.md).

    Shapes:
        input ``(B, C_in, *spatial)``; output ``(B, C_out, |H|, *spatial)``, ``spatial`` =
        ``(X,)``, ``(Y, X)`` or ``(Z, Y, X)``; ``|H|`` is the number of samples with
        ``samples``. Layouts: ``in_layout = Image(d, C_in)``,
        ``out_layout = GroupSignal(H, d, C_out, samples=samples)``.

    Raises:
        TypeError: ``group`` is not an affine or matrix group; ``samples`` of a wrong type;
            (at call time) an input that is not a tensor or does not match the parameters'
            dtype / device.
        ValueError: invalid arguments (``attention_backend`` not one of ``"auto"``,
            ``"fused"``, ``"flex"``, or ``"flex"`` with global attention), an infinite
            stabiliser without ``samples``, samples of
            another group, a stabiliser acting on :math:`\mathbb{R}^n`, :math:`n > 3`; (at
            call time) wrong input dimensions / channels or a patch larger than the signal.
    """

    group_part = False
    layer_name = "LiftingSelfAttention"

    def forward(self, x: Tensor) -> Tensor:
        shape = self._check(x)
        b = x.shape[0]
        n, m, d, c = math.prod(shape), self.heads, self.head_dim, self.out_channels
        qkv = self.qkv(x.flatten(2).transpose(1, 2))  # (B, N, 3C)
        q, k, v = qkv.split(c, -1)
        q = q.reshape(b, n, m, 1, d).transpose(1, 2)  # (B, M, N, 1, d)
        k = k.transpose(1, 2).reshape(b, m, d, 1, *shape)
        v = v.transpose(1, 2).reshape(b, m, d, 1, *shape)
        return self._project_out(self._attention(q, k, v, shape), shape)


class GroupSelfAttention(_GroupAttentionBase):
    r"""Group self-attention :math:`G \to G`, :math:`G = \mathbb{R}^d \rtimes H`.

    .. math::

        m(x_i, h) = W_o \bigoplus_{\text{heads}} \sum_{j \in N(i)} \sum_{\hat h \in H}
        \operatorname{softmax}_{(j,\hat h)}\Bigl(\tfrac{1}{\sqrt{d_k}}\bigl\langle q(x_i, h),\,
        k(x_j, \hat h) + \rho\bigl(A(h)^{-1}(x_j - x_i)/s,\; \mathrm{vec}\,A(h^{-1}\hat h)
        \bigr)\bigr\rangle\Bigr) v(x_j, \hat h)

    The encoding depends on the pair only through the relative group element
    :math:`(x_i, h)^{-1}(x_j, \hat h)`, so it is invariant under :math:`L_g`; the element
    :math:`h^{-1}\hat h` comes from ``finite_tables(H).relative`` (``H.grid()`` order, derived
    from the interface). Projections are shared over :math:`H` (pointwise).

    The constructor arguments (``group``, ``in_channels``, ``out_channels``, ``heads``,
    ``patch_size``, ``pos_hidden``, ``chunk_size``, ``checkpoint``, ``device``, ``dtype``,
    ``samples``, ``attention_backend``) are those of :class:`LiftingSelfAttention`; with
    ``samples`` the element :math:`h_i^{-1}\hat h_j` is the interface's product of the samples.

    Shapes:
        input ``(B, C_in, |H|, *spatial)``; output ``(B, C_out, |H|, *spatial)``. Layouts:
        ``in_layout = GroupSignal(H, d, C_in)``, ``out_layout = GroupSignal(H, d, C_out)``.

    Raises:
        TypeError: as :class:`LiftingSelfAttention`.
        ValueError: invalid arguments, or (at call time) wrong input dimensions / channels,
            wrong group-axis length or a patch larger than the signal.
    """

    group_part = True
    layer_name = "GroupSelfAttention"

    def forward(self, x: Tensor) -> Tensor:
        shape = self._check(x)
        b, _, h = x.shape[:3]
        n, m, d, c = math.prod(shape), self.heads, self.head_dim, self.out_channels
        qkv = self.qkv(x.flatten(3).permute(0, 3, 2, 1))  # (B, N, |H|, 3C)
        q, k, v = qkv.split(c, -1)
        q = q.reshape(b, n, h, m, d).permute(0, 3, 1, 2, 4)  # (B, M, N, |H|, d)
        k = k.reshape(b, n, h, m, d).permute(0, 3, 4, 2, 1).reshape(b, m, d, h, *shape)
        v = v.reshape(b, n, h, m, d).permute(0, 3, 4, 2, 1).reshape(b, m, d, h, *shape)
        return self._project_out(self._attention(q, k, v, shape), shape)

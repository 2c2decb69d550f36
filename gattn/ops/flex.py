r"""Local group self-attention through :func:`torch.nn.attention.flex_attention`
(docs/self_attention.md): the same function as :func:`gattn.ops.local_attention.local_attention`,
written as one attention over all :math:`(x_i, h)` queries and :math:`(x_j, \hat h)` keys with

* a ``mask_mod`` (and the block mask built from it) keeping the :math:`p^D` neighbourhood of each
  query position — out-of-signal neighbours are simply not in the sequence, as the
  :math:`-\infty` logits of the fused path;
* a ``score_mod`` adding the relative positional bias :math:`\langle q, \rho\rangle`, read from
  one precomputed table ``qrho[b, m, (i, h), (\hat h, \Delta)]`` (one batched matmul; its
  gradient reaches ``q`` and ``rho`` through ordinary autograd).

Flattened layout: query index ``i * H' + h``, key index ``j * G + \hat h`` (``i, j`` positions in
row-major order of the spatial axes). Nothing per pixel runs in Python.

Device support, as in torch's own ``flex_attention``: the forward runs everywhere (eager: an
unfused reference that materialises all ``(N H') x (N G)`` scores; compiled: a fused kernel —
Triton on CUDA, a C++ template on CPU); the backward pass exists on CUDA only
(:func:`flex_backward_supported`). :func:`flex_local_attention` raises a clear error rather than
letting torch fail deep inside.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = [
    "BACKENDS",
    "AUTO_BACKEND",
    "COMPILE_BY_DEVICE",
    "MIN_HEAD_DIM",
    "check_backend",
    "select_backend",
    "flex_available",
    "flex_backward_supported",
    "local_index_mods",
    "flex_local_attention",
    "dense_local_attention",
]

try:  # prototype API of torch >= 2.5
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
except ImportError:  # pragma: no cover - old torch
    create_block_mask = flex_attention = None


#: whether ``flex_local_attention(compile=None)`` runs the ``torch.compile``-d kernel, per device
#: type (elsewhere: torch's eager reference, which materialises all scores)
COMPILE_BY_DEVICE = {"cuda": True}

#: the smallest head dimension of the compiled Triton flex kernel (``tl.dot`` needs 16)
MIN_HEAD_DIM = 16

#: the local-attention backends of the self-attention layers (``attention_backend=``)
BACKENDS = ("auto", "fused", "flex")

#: what ``"auto"`` picks per device type (docs/self_attention.md: on CPU the fused path is
#: faster and flex has no backward pass; on CUDA flex is the default, not yet measured
#: against the fused path -- benchmarks/device/ holds the script that measures it)
AUTO_BACKEND = {"cpu": "fused", "cuda": "flex"}


def check_backend(backend: object, where: str = "attention_backend") -> str:
    """Validate a backend name.

    Args:
        backend: the value given.
        where: the argument's name, for the message.

    Returns:
        ``backend``.

    Raises:
        ValueError: ``backend`` is not one of :data:`BACKENDS`.
    """
    if not isinstance(backend, str) or backend not in BACKENDS:
        valid = ", ".join(map(repr, BACKENDS))
        raise ValueError(f"{where} must be one of {valid}, got {backend!r}")
    return backend


def select_backend(backend: str, like: Tensor) -> str:
    """The backend that runs for tensors like ``like``: ``"fused"`` or ``"flex"``.

    ``"auto"`` picks :data:`AUTO_BACKEND` of the device type, and ``"fused"`` wherever flex
    cannot run correctly: no ``flex_attention`` in this torch, float64 (flex's fused kernels
    are for float32 / bfloat16 / float16), CUDA without Triton, or gradients required on a
    device without flex's backward pass.

    Args:
        backend: one of :data:`BACKENDS`.
        like: a tensor of the attention (its device, dtype and ``requires_grad``).

    Returns:
        ``"fused"`` or ``"flex"``.

    Raises:
        ValueError: an unknown ``backend``.
    """
    check_backend(backend)
    if backend != "auto":
        return backend
    dev = like.device.type
    if AUTO_BACKEND.get(dev, "fused") != "flex" or not flex_available():
        return "fused"
    if like.dtype == torch.float64 or (dev == "cuda" and not _has_triton()):
        return "fused"
    if torch.is_grad_enabled() and like.requires_grad and not flex_backward_supported(like.device):
        return "fused"
    return "flex"


def _has_triton() -> bool:
    try:
        from torch.utils._triton import has_triton
    except ImportError:  # pragma: no cover
        return False
    return bool(has_triton())


def flex_available() -> bool:
    """Whether this torch has :func:`torch.nn.attention.flex_attention`.

    Returns:
        ``True`` when ``flex_attention`` imports.
    """
    return flex_attention is not None


def flex_backward_supported(device: torch.device | str) -> bool:
    """Whether torch's ``flex_attention`` has a backward pass on ``device`` (CUDA only; on CPU
    it refuses inputs that require grad).

    Args:
        device: a device or its name.

    Returns:
        ``True`` for CUDA devices when flex is available.
    """
    return flex_available() and torch.device(device).type == "cuda"


def local_index_mods(
    spatial: tuple[int, ...], patch: int, hout: int, g: int, qrho: Tensor | None
) -> tuple[Callable, Callable]:
    r"""The ``mask_mod`` and ``score_mod`` of local group attention on the flattened layout.

    Args:
        spatial: the spatial sizes (tensor-axis order, 1 to 3 axes).
        patch: the odd patch size ``p``.
        hout: ``H'``, output group elements per query position.
        g: ``G``, key group elements per key position.
        qrho: ``(B, M, N H', G p^D)`` the positional bias table (``None``: the ``score_mod``
            adds nothing; only the mask is used).

    Returns:
        ``(mask_mod(b, m, qi, kj) -> bool, score_mod(score, b, m, qi, kj) -> score)``: the mask
        keeps keys whose position lies in the query's :math:`p^D` neighbourhood; the score
        adds ``qrho[b, m, qi, \hat h p^D + \Delta]`` (``\Delta`` the row-major patch offset).
    """
    r = patch // 2
    strides = [math.prod(spatial[a + 1 :]) for a in range(len(spatial))]
    weights = [patch ** (len(spatial) - 1 - a) for a in range(len(spatial))]
    pk = patch ** len(spatial)

    def deltas(qi, kj):
        i, j = qi // hout, kj // g
        return [(j // s) % n - (i // s) % n + r for s, n in zip(strides, spatial)]

    def mask_mod(b, m, qi, kj):
        inside = None
        for dl in deltas(qi, kj):
            ok = (dl >= 0) & (dl < patch)
            inside = ok if inside is None else inside & ok
        return inside

    def score_mod(score, b, m, qi, kj):
        if qrho is None:
            return score
        off = kj % g * pk
        for dl, w in zip(deltas(qi, kj), weights):
            off = off + dl.clamp(0, patch - 1) * w
        return score + qrho[b, m, qi, off]

    return mask_mod, score_mod


def _flatten(q: Tensor, k: Tensor, v: Tensor, rho: Tensor) -> tuple[Tensor, ...]:
    """``q (B, M, N, H', d)``, ``k, v (B, M, d, G, *spatial)``, ``rho (M, H', d, G P)`` ->
    ``Q (B, M, N H', d)``, ``K, V (B, M, N G, d)``, ``qrho (B, M, N H', G P)``."""
    b, m, n, hout, d = q.shape
    g, ds = k.shape[3], k.dim() - 4
    perm = (0, 1, *range(4, 4 + ds), 3, 2)
    kf = k.permute(perm).reshape(b, m, n * g, d)
    vf = v.permute(perm).reshape(b, m, n * g, d)
    qrho = torch.matmul(q.transpose(2, 3), rho).transpose(2, 3)  # (B, M, N, H', GP)
    return q.reshape(b, m, n * hout, d), kf, vf, qrho.reshape(b, m, n * hout, -1)


@functools.lru_cache(maxsize=16)
def _block_mask(spatial: tuple[int, ...], patch: int, hout: int, g: int, device: str):
    mask_mod, _ = local_index_mods(spatial, patch, hout, g, None)
    n = math.prod(spatial)
    return create_block_mask(mask_mod, None, None, n * hout, n * g, device=device)


@functools.lru_cache(maxsize=1)
def _compiled_flex():
    return torch.compile(flex_attention, dynamic=False)


def _check(q: Tensor, k: Tensor, v: Tensor, rho: Tensor, patch: int) -> None:
    if not flex_available():
        raise RuntimeError(
            f"flex_local_attention needs torch.nn.attention.flex_attention (torch >= 2.5); "
            f"this torch is {torch.__version__}; use the fused backend"
        )
    for name, t, dim in (("q", q, 5), ("rho", rho, 4)):
        if not isinstance(t, Tensor) or t.dim() != dim:
            raise ValueError(f"flex_local_attention: {name} must be a {dim}-d tensor")
    if not isinstance(k, Tensor) or k.dim() not in (5, 6, 7) or v.shape != k.shape:
        raise ValueError(
            "flex_local_attention: k and v must be equal-shaped (B, M, d, G, *spatial) tensors "
            "with 1 to 3 spatial axes"
        )
    if not isinstance(patch, int) or patch < 1 or patch % 2 == 0:
        raise ValueError(f"flex_local_attention: patch must be a positive odd int, got {patch!r}")
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v, rho))
    if grad and not flex_backward_supported(q.device):
        raise NotImplementedError(
            f"flex_local_attention: torch {torch.__version__}'s flex_attention has no backward "
            f"pass on {q.device.type}; use attention_backend='fused' (or 'auto') for training "
            f"there, or run the flex backend under torch.no_grad()"
        )


def flex_local_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    rho: Tensor,
    patch: int,
    compile: bool | None = None,
    min_head_dim: int | None = None,
) -> Tensor:
    r"""Local attention through ``flex_attention``; the same arguments and result as
    :func:`gattn.ops.local_attention.local_attention` (docs/self_attention.md).

    Args:
        q: ``(B, M, N, Hq, d)`` scaled queries (``Hq = 1``: shared over the output elements).
        k, v: ``(B, M, d, G, *spatial)``, 1 to 3 spatial axes.
        rho: ``(M, H', d, G * p^D)`` the positional table.
        patch: the odd patch size ``p``.
        compile: run the ``torch.compile``-d flex kernel (default: :data:`COMPILE_BY_DEVICE`,
            on CUDA); ``False`` runs torch's eager reference, which materialises all scores
            (small inputs, float64).
        min_head_dim: zero-pad the head dimension of ``q, k, v`` to at least this (the
            Triton flex kernel needs 16; zeros change no dot product and the padded output
            channels are dropped). Default: 16 for the compiled kernel off the CPU, else none.

    Returns:
        ``(B, M, N, H', d)``.

    Raises:
        RuntimeError: this torch has no ``flex_attention``.
        ValueError: tensors of the wrong rank, an even or non-positive ``patch``.
        NotImplementedError: gradients are required on a device where flex has no backward
            pass (CPU).
    """
    _check(q, k, v, rho, patch)
    b, m, n, _, d = q.shape
    hout, g, spatial = rho.shape[1], k.shape[3], tuple(k.shape[4:])
    q = q.expand(b, m, n, hout, d)
    qf, kf, vf, qrho = _flatten(q, k, v, rho)
    if compile is None:
        compile = COMPILE_BY_DEVICE.get(q.device.type, False)
    if min_head_dim is None:
        min_head_dim = MIN_HEAD_DIM if compile and q.device.type != "cpu" else 1
    if d < min_head_dim:
        qf, kf, vf = (torch.nn.functional.pad(t, (0, min_head_dim - d)) for t in (qf, kf, vf))
    _, score_mod = local_index_mods(spatial, patch, hout, g, qrho)
    mask = _block_mask(spatial, patch, hout, g, str(q.device))
    fn = _compiled_flex() if compile else flex_attention
    out = fn(qf, kf, vf, score_mod=score_mod, block_mask=mask, scale=1.0)
    return out[..., :d].reshape(b, m, n, hout, d)


def dense_local_attention(q: Tensor, k: Tensor, v: Tensor, rho: Tensor, patch: int) -> Tensor:
    r"""The flex formulation evaluated densely with plain autograd: the same ``mask_mod`` and
    ``score_mod`` (:func:`local_index_mods`) applied to the full ``(N H') x (N G)`` score matrix.
    A reference for the index arithmetic on any device, gradients included (small inputs only:
    it materialises every score).

    Args:
        q, k, v, rho, patch: as :func:`flex_local_attention`.

    Returns:
        ``(B, M, N, H', d)``.
    """
    b, m, n, _, d = q.shape
    hout, g, spatial = rho.shape[1], k.shape[3], tuple(k.shape[4:])
    qf, kf, vf, qrho = _flatten(q.expand(b, m, n, hout, d), k, v, rho)
    mask_mod, score_mod = local_index_mods(spatial, patch, hout, g, qrho)
    dev = q.device
    bi = torch.arange(b, device=dev).view(b, 1, 1, 1)
    mi = torch.arange(m, device=dev).view(1, m, 1, 1)
    qi = torch.arange(n * hout, device=dev).view(1, 1, -1, 1)
    kj = torch.arange(n * g, device=dev).view(1, 1, 1, -1)
    scores = score_mod(torch.matmul(qf, kf.transpose(-1, -2)), bi, mi, qi, kj)
    scores = scores.masked_fill(~mask_mod(bi, mi, qi, kj), float("-inf"))
    return torch.matmul(torch.softmax(scores, -1), vf).view(b, m, n, hout, d)

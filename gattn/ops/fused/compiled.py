r"""``torch.compile`` chunk kernels of the lean full attentive convolution.

The eager lean path (:mod:`gattn.ops.lean_attention`) streams batch chunks through three
computations; here each is written as one pure function for inductor to fuse:

* :func:`sum_max_chunk` — :math:`S = \sum_{\tilde c}\alpha^C\tilde f` and
  :math:`M = \max_{\tilde c}\alpha^C\tilde f` with the first arg-max, from the product of the
  per-sample kernels with the patches reduced over the kernel offsets and then over input
  channels: no patch matrix and no ``matmul`` output is written (the eager path writes both);
* :func:`attend_chunk` — statistics, the ``2 -> 1`` spatial correlation, sigmoid and
  :math:`\sum_{\tilde h}\alpha^X S` of one chunk of attention maps;
* :func:`attend_chunk_backward` — its gradients w.r.t. :math:`S`, :math:`M` and the kernels.

:class:`CompiledFunction` compiles lazily on first call and falls back to the eager function,
with one ``RuntimeWarning``, if ``torch.compile`` is unavailable or fails. The gradients of the
partial responses (``matmul`` bound) run eagerly in both backends. See docs/attention.md.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import Tensor

from ..depthwise import depthwise_same, depthwise_same_backward
from ..im2col import im2col

__all__ = [
    "CompiledFunction",
    "compile_available",
    "sum_max_chunk",
    "attend_chunk",
    "attend_chunk_backward",
    "COMPILED",
]


def compile_available() -> bool:
    """Whether this torch build has ``torch.compile`` (it may still fail at first use)."""
    return callable(getattr(torch, "compile", None))


class CompiledFunction:
    """``fn`` compiled by ``torch.compile`` on first call; eager ``fn`` if compiling fails.

    Args:
        fn: a pure function of tensors and Python numbers (no in-place update of its
            arguments, so that a failed compiled call can be repeated eagerly).
        name: shown in the fallback warning.

    Attributes:
        failed: the reason of the fallback (``None`` while compiling works).
    """

    def __init__(self, fn: Callable, name: str) -> None:
        self.fn, self.name = fn, name
        self.compiled: Callable | None = None
        self.failed: str | None = None

    def __call__(self, *args):
        if self.failed is None:
            try:
                if self.compiled is None:
                    if not compile_available():
                        raise RuntimeError("torch.compile is not available in this torch build")
                    self.compiled = torch.compile(self.fn)
                return self.compiled(*args)
            except Exception as error:  # noqa: BLE001 - any compiler failure: fall back
                self.failed = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
                warnings.warn(
                    f"gattn: torch.compile failed for the fused kernel {self.name!r} "
                    f"({self.failed}); using the eager kernel (backend='eager') from now on",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return self.fn(*args)

    def reset(self) -> None:
        """Forget the compiled function and any failure (the next call compiles again)."""
        self.compiled, self.failed = None, None


def _max_first(values: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """``max`` over ``dim`` with the first maximiser as a ``uint8`` index (as the eager path)."""
    n = values.shape[dim]
    top = values.amax(dim=dim, keepdim=True)
    shape = [1] * values.dim()
    shape[dim] = n
    rank = torch.arange(n - 1, -1, -1, device=values.device, dtype=torch.uint8).view(shape)
    last_rank = ((values == top) * rank).amax(dim=dim)
    return top.squeeze(dim), (n - 1) - last_rank


def sum_max_chunk(
    xp: Tensor, w: Tensor, k: int, oy: int, ox: int, stride: int
) -> tuple[Tensor, Tensor, Tensor]:
    r""":math:`S`, :math:`M` and the first arg-max over input channels of one batch chunk.

    Args:
        xp: the padded chunk ``(bc, T, C_in, Y_p, X_p)``.
        w: per-sample kernels :math:`\alpha^C K`, ``(bc, T, C_in, O, k*k)``.
        k, oy, ox, stride: kernel size, output size, stride.

    Returns:
        ``(S, M, arg)``, each ``(bc, T, O, Y' X')`` (``arg`` ``uint8``).
    """
    u = im2col(xp, k, (oy, ox), stride)  # (bc, T, C_in, k*k, L): fused away by inductor
    p = (w.unsqueeze(-1) * u.unsqueeze(3)).sum(dim=-2)  # (bc, T, C_in, O, L)
    m, arg = _max_first(p, dim=2)
    return p.sum(dim=2), m, arg


def _statistics(s: Tensor, m: Tensor, ci: int, oy: int, ox: int) -> Tensor:
    """``(bc, T, O, L)`` twice -> channels-last maps ``(bc, 2 T O, Y', X')`` (order t, o, j)."""
    bc, t, o, _ = s.shape
    stats = torch.stack([s / ci, m], dim=-1)
    return stats.permute(0, 3, 1, 2, 4).reshape(bc, oy, ox, 2 * t * o).permute(0, 3, 1, 2)


def attend_chunk(s: Tensor, m: Tensor, kernels: Tensor, ci: int, oy: int, ox: int) -> Tensor:
    r""":math:`\sum_{\tilde h}\sigma((S / C_{in}, M)\star\psi_X)\,S` of a chunk of maps.

    Args:
        s, m: ``(bc, T, O, Y' X')``; kernels: ``(T O, 2, k', k')``; ci: :math:`C_{in}`.

    Returns:
        ``(bc, Y', X', O)``.
    """
    bc, t, o, _ = s.shape
    kk = kernels.shape[-1]
    stats = _statistics(s, m, ci, oy, ox)
    logits = depthwise_same(stats, kernels.reshape(2 * t * o, 1, kk, kk))
    logits = logits.permute(0, 2, 3, 1).reshape(bc, oy, ox, t, o, 2).sum(dim=-1)
    sc = s.permute(0, 3, 1, 2).reshape(bc, oy, ox, t, o)
    return (torch.sigmoid(logits) * sc).sum(dim=3)


def attend_chunk_backward(
    s: Tensor, m: Tensor, kernels: Tensor, g_out: Tensor, ci: int, oy: int, ox: int
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Gradients of :func:`attend_chunk` w.r.t. ``s``, ``m`` and ``kernels``.

    Args:
        s, m, kernels, ci, oy, ox: as :func:`attend_chunk`; g_out: ``(bc, Y', X', O)``.

    Returns:
        ``(g_s, g_m, g_kernels)``: ``(bc, T, O, Y' X')`` twice and ``(2 T O, 1, k', k')``.
    """
    bc, t, o, _ = s.shape
    g = t * o
    kk = kernels.shape[-1]
    weight = kernels.reshape(2 * g, 1, kk, kk)
    stats = _statistics(s, m, ci, oy, ox)
    logits = depthwise_same(stats, weight)
    logits = logits.permute(0, 2, 3, 1).reshape(bc, oy, ox, g, 2).sum(dim=-1)
    alpha = torch.sigmoid(logits)
    sc = s.permute(0, 3, 1, 2).reshape(bc, oy, ox, g)
    grad = g_out.unsqueeze(3).expand(bc, oy, ox, t, o).reshape(bc, oy, ox, g)
    g_logits = grad * sc * alpha * (1 - alpha)
    g_logits = g_logits.unsqueeze(-1).expand(bc, oy, ox, g, 2).reshape(bc, oy, ox, 2 * g)
    g_stats, g_k = depthwise_same_backward(g_logits.permute(0, 3, 1, 2), stats, weight, True)
    g_stats = g_stats.permute(0, 2, 3, 1).reshape(bc, oy * ox, t, o, 2)
    g_sc = (grad * alpha).reshape(bc, oy * ox, t, o) + g_stats[..., 0] / ci
    return g_sc.permute(0, 2, 3, 1), g_stats[..., 1].permute(0, 2, 3, 1), g_k


#: the compiled chunk kernels, by name (one compiled function each, shared by every layer)
COMPILED: dict[str, CompiledFunction] = {
    f.__name__: CompiledFunction(f, f.__name__)
    for f in (sum_max_chunk, attend_chunk, attend_chunk_backward)
}

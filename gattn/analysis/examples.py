r"""Small p4 networks used to demonstrate and test the size rule of docs/analysis.md.

* :func:`p4cnn` — a P4CNN-like network (rot-MNIST, [AGC]/[UAE]): seven p4 layers with 3×3
  kernels and no padding, one 2×2 max-pool after layer 2, a 4×4 last layer, max over rotations
  and space. Exact at 28 px (24 → 12 at the pool), approximate at 27 and 29 (23 and 25 are odd).
  The last 4×4 layer has padding 1 (instead of the original 0) so that 27 px still runs: with
  padding 0 the 3×3 map reached at 27 px is smaller than the 4×4 kernel. Symmetric padding of a
  stride-1 layer never breaks equivariance, and an even kernel is fine (its centre is a
  half-pixel, the output grid stays centred).
* :func:`small_p4_cnn` — lifting 3×3, 2×2 max-pool, group conv 3×3: needs ``n - 2`` even.
* :func:`strided_p4_cnn` — a stride-2, 3×3, padding-1 lifting conv: needs odd ``n``.
* :func:`functional_pool_p4_cnn` — lifting 3×3, then ``F.max_pool2d`` called in ``forward``
  (no pooling module): the analysis traces the call, exact iff ``n`` is even.
* :func:`hidden_stride_p4_cnn` — lifting 3×3 padding 1, then strided slicing
  ``x[..., ::2, ::2]``, which no torch function reports: the size analysis cannot see it (it
  predicts every size exact) while the output is only exact for odd ``n``; ``gattn check``
  reports the disagreement as a MISMATCH (docs/analysis.md).
* :func:`unused_pool_p4_cnn` — a 2×2 pool whose result is discarded: the rule flags odd ``n``,
  the output stays exact — also a MISMATCH.

In one and three dimensions (docs/analysis.md, "Any dimension"):

* :func:`strided_p1m_cnn` — on 1-D signals ``(B, C, X)`` under :math:`p1m` (the reflection):
  a stride-2, 3-tap, padding-1 lifting conv and a 3-tap group conv: exact iff ``n`` is odd.
* :func:`strided_cube_cnn` — on volumes ``(B, C, Z, Y, X)`` under the 24 rotations of the cube:
  a stride-2, 3×3×3, padding-1 lifting conv and a 2×2×2 max-pool: exact iff ``n`` is odd and
  ``(n + 1) / 2`` is even, i.e. ``n = 3 mod 4`` on every axis.
* :func:`pooled_volume_net` — plain torch (``nn.AvgPool3d(3, 2, 1)``, ``nn.MaxPool3d(2)``), no
  group: pools are symmetric windows, so it is cube-equivariant at the same sizes.

All are returned in eval mode with random weights (seeded) and return group signals
(``small``/``strided``) or invariants ``(B, classes)`` (``p4cnn``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..groups import cube, p1m, p4
from ..nn import GlobalPool, GroupBatchNorm, GroupConv, GroupPool, LiftingConv, SpatialPool

__all__ = [
    "p4cnn",
    "small_p4_cnn",
    "strided_p4_cnn",
    "functional_pool_p4_cnn",
    "hidden_stride_p4_cnn",
    "unused_pool_p4_cnn",
    "strided_p1m_cnn",
    "strided_cube_cnn",
    "pooled_volume_net",
]


def _randomise_bn(model: nn.Module, generator: torch.Generator) -> None:
    """Non-trivial running statistics so eval-mode batch norm is not the identity."""
    for m in model.modules():
        if isinstance(m, GroupBatchNorm):
            n = m.num_features
            m.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
            m.running_var.copy_(0.5 + torch.rand(n, generator=generator))


def p4cnn(channels: int = 10, classes: int = 10, in_channels: int = 1, seed: int = 0) -> nn.Module:
    """The P4CNN-like network of [UAE] (see the module docstring), eval mode.

    Args:
        channels: channels per layer (10 in the paper).
        classes: outputs of the last layer.
        in_channels: image channels.
        seed: weight initialisation seed.

    Returns:
        ``nn.Sequential``: ``(B, in_channels, Y, X) -> (B, classes)``.
    """
    torch.manual_seed(seed)
    g = p4()
    layers: list[nn.Module] = [LiftingConv(g, in_channels, channels, 3)]
    layers += [GroupBatchNorm(channels), nn.ReLU()]
    layers += [GroupConv(g, channels, channels, 3), GroupBatchNorm(channels), nn.ReLU()]
    layers += [SpatialPool(2)]
    for _ in range(4):
        layers += [GroupConv(g, channels, channels, 3), GroupBatchNorm(channels), nn.ReLU()]
    layers += [GroupConv(g, channels, classes, 4, padding=1)]
    layers += [GroupPool("max"), GlobalPool(spatial_mode="max")]
    model = nn.Sequential(*layers)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        _randomise_bn(model, gen)
    return model.eval()


def small_p4_cnn(channels: int = 4, in_channels: int = 1, seed: int = 0) -> nn.Module:
    """Lifting 3×3 → 2×2 max-pool → group conv 3×3 (exact iff ``n`` is even)."""
    torch.manual_seed(seed)
    g = p4()
    return nn.Sequential(
        LiftingConv(g, in_channels, channels, 3),
        nn.ReLU(),
        SpatialPool(2),
        GroupConv(g, channels, channels, 3),
    ).eval()


def strided_p4_cnn(channels: int = 4, in_channels: int = 1, seed: int = 0) -> nn.Module:
    """Lifting 3×3 stride 2 padding 1 → group conv 3×3 padding 1 (exact iff ``n`` is odd)."""
    torch.manual_seed(seed)
    g = p4()
    return nn.Sequential(
        LiftingConv(g, in_channels, channels, 3, stride=2, padding=1),
        nn.ReLU(),
        GroupConv(g, channels, channels, 3, padding=1),
    ).eval()


class _Lifted(nn.Module):
    """Lifting 3×3 conv (padding 1) and a ``forward`` tail shared by the examples below."""

    def __init__(self, channels: int, in_channels: int, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.lift = LiftingConv(p4(), in_channels, channels, 3, padding=1)
        self.pool = GlobalPool()

    def tail(self, f: Tensor) -> Tensor:  # pragma: no cover - overridden
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.tail(torch.relu(self.lift(x))))


class _FunctionalPool(_Lifted):
    def tail(self, f: Tensor) -> Tensor:
        b, c, h, y, w = f.shape
        pooled = F.max_pool2d(f.reshape(b, c * h, y, w), 2)
        return pooled.reshape(b, c, h, *pooled.shape[-2:])


class _HiddenStride(_Lifted):
    def tail(self, f: Tensor) -> Tensor:
        return f[..., ::2, ::2]


class _UnusedPool(_Lifted):
    def __init__(self, channels: int, in_channels: int, seed: int) -> None:
        super().__init__(channels, in_channels, seed)
        self.unused = SpatialPool(2)

    def tail(self, f: Tensor) -> Tensor:
        self.unused(f)  # computed and thrown away: does not affect the output
        return f


def functional_pool_p4_cnn(channels: int = 3, in_channels: int = 1, seed: int = 0) -> nn.Module:
    """Lifting 3×3 → ``F.max_pool2d(·, 2)`` in ``forward`` → invariant max (exact iff ``n``
    is even)."""
    return _FunctionalPool(channels, in_channels, seed).eval()


def hidden_stride_p4_cnn(channels: int = 3, in_channels: int = 1, seed: int = 0) -> nn.Module:
    """Lifting 3×3 → ``x[..., ::2, ::2]`` → invariant max: exact iff ``n`` is odd, but the
    slicing is invisible to the size analysis (it predicts every size exact)."""
    return _HiddenStride(channels, in_channels, seed).eval()


def unused_pool_p4_cnn(channels: int = 3, in_channels: int = 1, seed: int = 0) -> nn.Module:
    """Lifting 3×3 → a 2×2 pool whose result is discarded → invariant max: the output is exact
    at every size, the size rule flags odd ``n``."""
    return _UnusedPool(channels, in_channels, seed).eval()


def strided_p1m_cnn(channels: int = 3, in_channels: int = 1, seed: int = 0) -> nn.Module:
    """1-D signals under :math:`p1m`: lifting 3-tap stride 2 padding 1 → group conv 3-tap
    padding 1 (exact iff ``n`` is odd)."""
    torch.manual_seed(seed)
    g = p1m()
    return nn.Sequential(
        LiftingConv(g, in_channels, channels, 3, stride=2, padding=1),
        nn.ReLU(),
        GroupConv(g, channels, channels, 3, padding=1),
    ).eval()


def strided_cube_cnn(channels: int = 2, in_channels: int = 1, seed: int = 0) -> nn.Module:
    """Volumes under the cube rotations: lifting 3×3×3 stride 2 padding 1 → 2×2×2 max-pool
    (exact iff ``n = 3 mod 4`` on every axis)."""
    torch.manual_seed(seed)
    g = cube()
    return nn.Sequential(
        LiftingConv(g, in_channels, channels, 3, stride=2, padding=1),
        nn.ReLU(),
        SpatialPool(2, group=g),
    ).eval()


def pooled_volume_net() -> nn.Module:
    """Plain torch on volumes: ``AvgPool3d(3, 2, padding=1)`` → ``MaxPool3d(2)`` (exact iff
    ``n = 3 mod 4`` on every axis; no group: ``gattn check`` measures it under ``cube``)."""
    return nn.Sequential(nn.AvgPool3d(3, stride=2, padding=1), nn.MaxPool3d(2)).eval()

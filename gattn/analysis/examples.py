r"""Small p4 networks used to demonstrate and test the size rule of SPEC §5.

* :func:`p4cnn` — a P4CNN-like network (rot-MNIST, [AGC]/[UAE]): seven p4 layers with 3×3
  kernels and no padding, one 2×2 max-pool after layer 2, a 4×4 last layer, max over rotations
  and space. Exact at 28 px (24 → 12 at the pool), approximate at 27 and 29 (23 and 25 are odd).
  The last 4×4 layer has padding 1 (instead of the original 0) so that 27 px still runs: with
  padding 0 the 3×3 map reached at 27 px is smaller than the 4×4 kernel. Symmetric padding of a
  stride-1 layer never breaks equivariance, and an even kernel is fine (its centre is a
  half-pixel, the output grid stays centred).
* :func:`small_p4_cnn` — lifting 3×3, 2×2 max-pool, group conv 3×3: needs ``n - 2`` even.
* :func:`strided_p4_cnn` — a stride-2, 3×3, padding-1 lifting conv: needs odd ``n``.

All are returned in eval mode with random weights (seeded) and return group signals
(``small``/``strided``) or invariants ``(B, classes)`` (``p4cnn``).
"""

from __future__ import annotations

import torch
from torch import nn

from ..groups import p4
from ..nn import GlobalPool, GroupBatchNorm, GroupConv, GroupPool, LiftingConv, SpatialPool

__all__ = ["p4cnn", "small_p4_cnn", "strided_p4_cnn"]


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

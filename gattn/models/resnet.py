r"""Group-equivariant ResNet-44 for CIFAR-10 (He et al. 2016; p4m version of Cohen & Welling
2016, used in [AGC] §5).

:math:`6n + 2 = 44` layers (:math:`n = 7` basic blocks per stage, three stages of widths
:math:`C_1, C_2, C_3`). A basic block is ``conv3 -> BN -> ReLU -> conv3 -> BN`` plus the
shortcut, then ReLU. Where the original subsamples with a stride-2 convolution, the block
here uses a stride-1 convolution followed by a 2×2 max-pool (and the shortcut a 2×2 max-pool
then a 1×1 group convolution), so the network is exactly invariant to grid rotations /
mirrors of a 32×32 input (sizes 32 -> 16 -> 8, all pools on even sizes). Default widths
11 / 23 / 45 (:func:`default_resnet_widths`).
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from ..groups import SemidirectProduct
from ..nn import GroupBatchNorm, SpatialPool
from .layers import ConvFactory

__all__ = ["BasicBlock", "ResNet", "default_resnet_widths"]


def default_resnet_widths(order: int) -> tuple[int, int, int]:
    r"""Stage widths: ``(16, 32, 64)`` for :math:`|H| = 1`, otherwise divided by
    :math:`\sqrt{2}` and rounded, i.e. ``(11, 23, 45)`` — Cohen & Welling's p4m-ResNet44
    widths (docs/maths.md fixes no width; we follow theirs)."""
    s = 1.0 if order == 1 else math.sqrt(2.0)
    return round(16 / s), round(32 / s), round(64 / s)


class BasicBlock(nn.Module):
    r"""Residual block on group signals ``(B, cin, |H|, Y, X) -> (B, cout, |H|, Y', X')``.

    Args:
        make: the convolution factory.
        cin, cout: channels.
        downsample: halve the spatial size with a 2×2 max-pool (after the first conv).
    """

    def __init__(self, make: ConvFactory, cin: int, cout: int, downsample: bool) -> None:
        super().__init__()
        pool: list[nn.Module] = [SpatialPool(2)] if downsample else []
        self.branch = nn.Sequential(
            make.conv(cin, cout, 3, padding=1),
            *pool,
            GroupBatchNorm(cout),
            nn.ReLU(),
            make.conv(cout, cout, 3, padding=1),
            GroupBatchNorm(cout),
        )
        if downsample or cin != cout:
            self.shortcut: nn.Module = nn.Sequential(
                *[SpatialPool(2)] if downsample else [],
                make.conv(cin, cout, 1),
                GroupBatchNorm(cout),
            )
        else:
            self.shortcut = nn.Identity()
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        r""":math:`\mathrm{relu}(F(x) + S(x))`."""
        return self.act(self.branch(x) + self.shortcut(x))


class ResNet(nn.Module):
    r"""CIFAR ResNet-(6n+2) on :math:`\mathbb{R}^2 \rtimes H`.

    Args:
        group: the affine group.
        depth: :math:`6n + 2` (44 by default).
        widths: ``(C1, C2, C3)``; ``None`` for :func:`default_resnet_widths`.
        num_classes, in_channels: classes and image channels.
        attention: attention mode of every convolution.
        reduction: channel-attention ratio.
        residual: the paper's residual attention :math:`(1 - \alpha^-)\tilde f` (default);
            ``False``: the plain form (docs/attention.md).

    Shapes:
        ``x: (B, in_channels, 32, 32) -> (B, num_classes)``.
    """

    def __init__(
        self,
        group: SemidirectProduct,
        depth: int = 44,
        widths: tuple[int, int, int] | None = None,
        num_classes: int = 10,
        in_channels: int = 3,
        attention: str | None = None,
        reduction: int = 16,
        residual: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth must be 6n + 2 with n >= 1, got {depth!r}")
        make = ConvFactory(group, attention, reduction=reduction, residual=residual)
        c = default_resnet_widths(make.order) if widths is None else tuple(widths)
        n = (depth - 2) // 6
        self.stem = nn.Sequential(
            make.lifting(in_channels, c[0], 3, padding=1), GroupBatchNorm(c[0]), nn.ReLU()
        )
        blocks: list[nn.Module] = []
        cin = c[0]
        for stage, cout in enumerate(c):
            for i in range(n):
                blocks.append(BasicBlock(make, cin, cout, downsample=stage > 0 and i == 0))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(c[-1], num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C_in, 32, 32) -> (B, K)``: global mean over space and :math:`H`, then linear."""
        y = self.blocks(self.stem(x))
        return self.fc(y.mean(dim=(2, 3, 4)))

r"""Group-equivariant All-CNN-C (Springenberg et al. 2015) for CIFAR-10, as in [AGC] §5.

Layers (channels :math:`C_1, C_2`; every conv followed by
:class:`~gattn.nn.GroupBatchNorm` and ReLU):

.. code-block:: text

    32 -lift3(C1)-> 32 -g3(C1)-> 32 -g3(C1)+pool2-> 16 -g3(C2)-> 16 -g3(C2)-> 16
       -g3(C2)+pool2-> 8 -g3 valid(C2)-> 6 -g1(C2)-> 6 -g1(K)-> 6 -mean space, max H-> K

The two stride-2 convolutions of the original are replaced by a stride-1 convolution followed
by a 2×2 max-pool (docs/maths.md), so the network is exactly invariant to grid rotations (and
mirrors for p4m) of a 32×32 input: every 3×3 "same" convolution keeps the centre and both
pools see even sizes (32, 16). Dropout 0.2 on the input and 0.5 after each pool, as in the
original. Default widths follow Cohen & Welling (2016): the Z2 widths 96 / 192 divided by
:math:`\sqrt{|H|}` (p4: 48 / 96, p4m: 34 / 68), which keeps the parameter count comparable.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from ..groups import SemidirectProduct
from ..groups.validation import check_int
from ..nn import GroupBatchNorm, SpatialPool
from .layers import ConvFactory

__all__ = ["AllCNNC", "default_allcnnc_widths"]


def default_allcnnc_widths(order: int) -> tuple[int, int]:
    r"""``(round(96/\sqrt{n}), round(192/\sqrt{n}))`` for :math:`n = |H|`."""
    s = math.sqrt(order)
    return round(96 / s), round(192 / s)


class AllCNNC(nn.Module):
    r"""All-CNN-C on :math:`\mathbb{R}^2 \rtimes H`, exactly equivariant variant.

    Args:
        group: the affine group (``p4()``, ``p4m()``, ``Rn(2)``).
        widths: ``(C1, C2)``; ``None`` for :func:`default_allcnnc_widths`.
        num_classes: :math:`K`.
        in_channels: input image channels (3 for CIFAR).
        attention: attention mode of every convolution (``"input"`` for the αF models).
        reduction: channel-attention ratio (16 on CIFAR).
        dropout: dropout after each pool (input dropout is ``dropout * 0.4``, i.e. 0.2).
        residual: the paper's residual attention :math:`(1 - \alpha^-)\tilde f` (default);
            ``False``: the plain form (docs/attention.md).

    Shapes:
        ``x: (B, in_channels, 32, 32) -> (B, num_classes)``.
    """

    def __init__(
        self,
        group: SemidirectProduct,
        widths: tuple[int, int] | None = None,
        num_classes: int = 10,
        in_channels: int = 3,
        attention: str | None = None,
        reduction: int = 16,
        dropout: float = 0.5,
        residual: bool = True,
    ) -> None:
        super().__init__()
        make = ConvFactory(group, attention, reduction=reduction, residual=residual)
        c1, c2 = default_allcnnc_widths(make.order) if widths is None else widths
        for name, v in (("widths[0]", c1), ("widths[1]", c2), ("num_classes", num_classes)):
            check_int(name, v)

        def unit(conv: nn.Module, cout: int) -> list[nn.Module]:
            return [conv, GroupBatchNorm(cout), nn.ReLU()]

        layers: list[nn.Module] = [nn.Dropout(0.4 * dropout)]
        layers += unit(make.lifting(in_channels, c1, 3, padding=1), c1)
        layers += unit(make.conv(c1, c1, 3, padding=1), c1)
        layers += unit(make.conv(c1, c1, 3, padding=1), c1)
        layers += [SpatialPool(2), nn.Dropout(dropout)]
        layers += unit(make.conv(c1, c2, 3, padding=1), c2)
        layers += unit(make.conv(c2, c2, 3, padding=1), c2)
        layers += unit(make.conv(c2, c2, 3, padding=1), c2)
        layers += [SpatialPool(2), nn.Dropout(dropout)]
        layers += unit(make.conv(c2, c2, 3), c2)
        layers += unit(make.conv(c2, c2, 1), c2)
        layers.append(make.conv(c2, num_classes, 1, bias=True))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C_in, 32, 32) -> (B, K)``: spatial mean, then max over :math:`H`."""
        return self.net(x).mean(dim=(-2, -1)).amax(dim=2)

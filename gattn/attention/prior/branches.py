r"""BAM's two logit branches (Park et al. 2018), made equivariant on :math:`G = \mathbb{R}^2
\rtimes H`.

Both are built from the generic equivariant layers of :mod:`gattn.nn`: a fully connected layer
on a pooled descriptor becomes a ``1 x 1`` group convolution (weights
:math:`W(\tilde h^{-1} h')`, the regular representation of :math:`H`; bias shared over
:math:`H`), a ``3 x 3`` dilated convolution becomes a dilated group convolution (kernels rotated
with :math:`h`), ``BatchNorm`` becomes :class:`~gattn.nn.GroupBatchNorm` (statistics shared
over :math:`H`). With the trivial stabiliser (``Rn(2)``, :math:`|H| = 1`) they are exactly the
published branches.

Channel branch (:class:`ChannelGateLogits`):

.. math:: M_c[f](\tilde h) = \mathrm{BN}\Big(b_1 + \sum_{h'} W_1(\tilde h^{-1}h')\,
          \mathrm{relu}\big(b_0 + \sum_{h''} W_0(h'^{-1}h'')\, \bar f(h'')\big)\Big),
          \qquad \bar f(h) = \operatorname{mean}_x f(x, h).

Spatial branch (:class:`DilatedSpatialLogits`):
:math:`M_s = \psi_3 \star (\mathrm{relu}\,\mathrm{BN}\, \psi^{(d)}_2 \star)^{n}
(\mathrm{relu}\,\mathrm{BN}\, \psi_0 \star f)`, with :math:`\psi_0: C \to C/r` and
:math:`\psi_3: C/r \to 1` of size ``1 x 1``, :math:`\psi^{(d)}_2` ``3 x 3`` with dilation ``d``
(padding ``d``, size preserving).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ...nn import GroupBatchNorm, GroupConv
from .._common import check_positive_int, stabiliser_of
from ..channel import hidden_channels

__all__ = ["ChannelGateLogits", "DilatedSpatialLogits"]


class ChannelGateLogits(nn.Module):
    r"""BAM's channel branch :math:`M_c` (logits, no sigmoid): global average pool, an
    :math:`H`-equivariant MLP ``C -> C/r -> C`` with biases, then batch norm.

    Args:
        group: :math:`\mathbb{R}^2 \rtimes H`, finite :math:`H`.
        channels: :math:`C`.
        reduction: bottleneck ratio :math:`r` (hidden width ``max(C // r, 1)``).

    Shapes:
        ``f: (B, C, |H|, Y, X) -> (B, C, |H|, 1, 1)``.

    Attributes:
        fc1, fc2: ``1 x 1`` :class:`~gattn.nn.GroupConv` (with :math:`|H| = 1` their
            ``weight[..., 0, 0, 0]`` is the ``nn.Linear`` weight).
        bn: :class:`~gattn.nn.GroupBatchNorm` over ``C``.
    """

    def __init__(self, group, channels: int, reduction: int = 16) -> None:
        super().__init__()
        stabiliser_of(group)
        check_positive_int("channels", channels)
        hidden = hidden_channels(channels, reduction)
        self.fc1 = GroupConv(group, channels, hidden, 1)
        self.fc2 = GroupConv(group, hidden, channels, 1)
        self.bn = GroupBatchNorm(channels)

    def forward(self, x: Tensor) -> Tensor:
        pooled = x.mean(dim=(-2, -1), keepdim=True)
        return self.bn(self.fc2(torch.relu(self.fc1(pooled))))


class DilatedSpatialLogits(nn.Module):
    r"""BAM's spatial branch :math:`M_s` (logits, no sigmoid): ``1 x 1`` reduction, ``n``
    dilated ``3 x 3`` group convolutions (each followed by batch norm and ReLU), ``1 x 1`` to one
    map.

    Args:
        group: :math:`\mathbb{R}^2 \rtimes H`, finite :math:`H`.
        channels: :math:`C`.
        reduction: ratio :math:`r` (hidden width ``max(C // r, 1)``).
        dilation: dilation ``d`` of the ``3 x 3`` convolutions (padding ``d``; BAM: 4).
        num_dilated: number ``n`` of dilated convolutions (BAM: 2).

    Shapes:
        ``f: (B, C, |H|, Y, X) -> (B, 1, |H|, Y, X)``.

    Attributes:
        layers: ``nn.Sequential`` of ``GroupConv``, ``GroupBatchNorm``, ``ReLU`` ...,
            final ``GroupConv`` (``|H| = 1``: ``conv.weight[:, :, 0]`` is the ``Conv2d``
            weight).
    """

    def __init__(
        self,
        group,
        channels: int,
        reduction: int = 16,
        dilation: int = 4,
        num_dilated: int = 2,
    ) -> None:
        super().__init__()
        stabiliser_of(group)
        check_positive_int("channels", channels)
        check_positive_int("dilation", dilation)
        check_positive_int("num_dilated", num_dilated, minimum=0)
        hidden = hidden_channels(channels, reduction)
        layers: list[nn.Module] = [
            GroupConv(group, channels, hidden, 1),
            GroupBatchNorm(hidden),
            nn.ReLU(),
        ]
        for _ in range(num_dilated):
            layers += [
                GroupConv(group, hidden, hidden, 3, padding=dilation, dilation=dilation),
                GroupBatchNorm(hidden),
                nn.ReLU(),
            ]
        layers.append(GroupConv(group, hidden, 1, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)

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

(``norm_position="output"``, the paper's equation); BAM's released code instead normalises the
hidden layer, :math:`W_1\,\mathrm{relu}(\mathrm{BN}(W_0 \bar f + b_0)) + b_1`
(``norm_position="hidden"``, docs/special_cases.md).

Spatial branch (:class:`DilatedSpatialLogits`):
:math:`M_s = \psi_3 \star (\mathrm{relu}\,\mathrm{BN}\, \psi^{(d)}_2 \star)^{n}
(\mathrm{relu}\,\mathrm{BN}\, \psi_0 \star f)`, with :math:`\psi_0: C \to C/r` and
:math:`\psi_3: C/r \to 1` of size ``1 x 1``, :math:`\psi^{(d)}_2` ``3 x 3`` with dilation ``d``
(padding ``d``, size preserving).

CBAM's spatial gate as released by timm and by CBAM's authors (:class:`SignalSpatialGate`):
:math:`\alpha^X = \sigma(\mathrm{BN}(s_X \star_G \psi_X))`, a batch norm after the ``k x k``
correlation (one statistic shared over :math:`H` and space, so equivariance is kept) and the two
channel statistics :math:`s_X` stacked in a chosen order (timm: [mean, max]; the authors:
[max, mean]).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...groups.validation import check_int
from ...nn import GroupBatchNorm, GroupConv
from .._common import planar_stabiliser
from ..channel import hidden_channels
from ..spatial import SignalSpatialAttention

__all__ = [
    "ChannelGateLogits",
    "DilatedSpatialLogits",
    "SignalSpatialGate",
    "SPATIAL_STATISTICS",
    "NORMS",
]

#: the channel statistics a spatial gate can stack, in gattn's default order
SPATIAL_STATISTICS = ("mean", "max")
#: normalisations after the spatial gate's correlation
NORMS = (None, "batch")
CHANNEL_NORM_POSITIONS = ("output", "hidden")


def _check_norm(norm) -> str | None:
    """``norm`` validated: ``None`` or ``"batch"``."""
    if norm is not None and not isinstance(norm, str):
        raise TypeError(f"norm must be None or a string in {NORMS}, got {type(norm).__name__}")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    return norm


def _check_spatial_pool_order(order) -> tuple[str, str]:
    """``spatial_pool_order`` validated: a permutation of ``("mean", "max")``."""
    if isinstance(order, str) or not isinstance(order, Sequence):
        raise TypeError(
            f"spatial_pool_order must be a pair such as ('mean', 'max') or ('max', 'mean'), "
            f"got {order!r}"
        )
    order = tuple(order)
    if sorted(order) != sorted(SPATIAL_STATISTICS):
        raise ValueError(
            f"spatial_pool_order must be ('mean', 'max') or ('max', 'mean'), got {order!r}"
        )
    return order  # type: ignore[return-value]


def _check_batch_norm_options(eps, momentum) -> tuple[float, float]:
    """``norm_eps > 0`` and ``0 < norm_momentum <= 1`` (floats), validated."""
    for name, value in (("norm_eps", eps), ("norm_momentum", momentum)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a float, got {type(value).__name__}")
    if not eps > 0:
        raise ValueError(f"norm_eps must be > 0, got {eps!r}")
    if not 0 < momentum <= 1:
        raise ValueError(f"norm_momentum must be in (0, 1], got {momentum!r}")
    return float(eps), float(momentum)


class ChannelGateLogits(nn.Module):
    r"""BAM's channel branch :math:`M_c` (logits, no sigmoid): global average pool, an
    :math:`H`-equivariant MLP ``C -> C/r -> C`` with biases, then batch norm.

    Args:
        group: :math:`\mathbb{R}^2 \rtimes H`, finite :math:`H`.
        channels: :math:`C`.
        reduction: bottleneck ratio :math:`r` (hidden width ``max(C // r, 1)``).
        norm_position: ``"output"`` (default, the paper's :math:`\mathrm{BN}(\mathrm{MLP})`)
            or ``"hidden"`` (BAM's released code: batch norm on the hidden layer, before the
            ReLU; docs/special_cases.md).

    Shapes:
        ``f: (B, C, |H|, Y, X) -> (B, C, |H|, 1, 1)``.

    Attributes:
        fc1, fc2: ``1 x 1`` :class:`~gattn.nn.GroupConv` (with :math:`|H| = 1` their
            ``weight[..., 0, 0, 0]`` is the ``nn.Linear`` weight).
        bn: :class:`~gattn.nn.GroupBatchNorm` over ``C`` (``"output"``) or over the hidden
            width (``"hidden"``).

    Raises:
        ValueError: ``norm_position`` is neither ``"output"`` nor ``"hidden"``.
    """

    def __init__(
        self, group, channels: int, reduction: int = 16, norm_position: str = "output"
    ) -> None:
        super().__init__()
        planar_stabiliser(group, type(self).__name__)
        check_int("channels", channels)
        if norm_position not in CHANNEL_NORM_POSITIONS:
            raise ValueError(
                f"norm_position must be one of {CHANNEL_NORM_POSITIONS}, got {norm_position!r}"
            )
        self.norm_position = norm_position
        hidden = hidden_channels(channels, reduction)
        self.fc1 = GroupConv(group, channels, hidden, 1)
        self.fc2 = GroupConv(group, hidden, channels, 1)
        self.bn = GroupBatchNorm(channels if norm_position == "output" else hidden)

    def forward(self, x: Tensor) -> Tensor:
        pooled = x.mean(dim=(-2, -1), keepdim=True)
        if self.norm_position == "hidden":
            return self.fc2(torch.relu(self.bn(self.fc1(pooled))))
        return self.bn(self.fc2(torch.relu(self.fc1(pooled))))

    def extra_repr(self) -> str:
        return f"norm_position={self.norm_position!r}"


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
        planar_stabiliser(group, type(self).__name__)
        check_int("channels", channels)
        check_int("dilation", dilation)
        check_int("num_dilated", num_dilated, minimum=0)
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


class SignalSpatialGate(SignalSpatialAttention):
    r"""CBAM's spatial attention as released (timm, the authors):
    :math:`\alpha^X = \sigma(\mathrm{BN}(s_X \star_G \psi_X))`.

    A :class:`~gattn.attention.SignalSpatialAttention` (same ``weight`` layout
    ``(1, 2, |H|, k, k)``, kernel rotated with :math:`h`) with two options of the released
    modules: a batch norm on the one logit map (``norm="batch"``; a
    :class:`~gattn.nn.GroupBatchNorm` of one channel, statistics shared over the batch,
    :math:`H` and space, so the gate stays equivariant in train and eval mode) and the order
    of the stacked channel statistics (``weight[:, j]`` multiplies ``spatial_pool_order[j]``).
    See docs/special_cases.md.

    Args:
        group: :math:`\mathbb{R}^2 \rtimes H`, finite :math:`H`.
        kernel_size: odd size of :math:`\psi_X` (CBAM: 7, padding 3).
        norm: ``None`` (no normalisation) or ``"batch"``.
        spatial_pool_order: ``("mean", "max")`` (gattn, timm) or ``("max", "mean")`` (CBAM's
            authors' ``ChannelPool``).
        position: ``"input"`` or ``"output"``.
        norm_eps, norm_momentum: of the batch norm (timm: ``1e-5, 0.1``; the authors:
            ``1e-5, 0.01``); ignored without ``norm``.

    Shapes:
        ``x: (B, C, |H|, Y, X) -> (B, 1, |H|, Y, X)``.

    Attributes:
        weight: ``(1, 2, |H|, k, k)``; with :math:`|H| = 1`, ``weight[:, :, 0]`` is the
            ``Conv2d(2, 1, k, bias=False)`` weight.
        bn: the :class:`~gattn.nn.GroupBatchNorm` (``norm="batch"``) or ``None``.

    Raises:
        ValueError / TypeError: a bad ``kernel_size``, ``norm``, ``spatial_pool_order``,
            ``norm_eps`` or ``norm_momentum``; :meth:`forward` on a tensor that is not a
            group signal of the group's :math:`|H|`.
    """

    def __init__(
        self,
        group,
        kernel_size: int = 7,
        norm: str | None = None,
        spatial_pool_order: Sequence[str] = SPATIAL_STATISTICS,
        position: str = "input",
        norm_eps: float = 1e-5,
        norm_momentum: float = 0.1,
    ) -> None:
        planar_stabiliser(group, type(self).__name__)
        super().__init__(group, kernel_size, lifting=False, position=position)
        self.norm = _check_norm(norm)
        self.spatial_pool_order = _check_spatial_pool_order(spatial_pool_order)
        eps, momentum = _check_batch_norm_options(norm_eps, norm_momentum)
        self.bn = GroupBatchNorm(1, eps=eps, momentum=momentum) if norm == "batch" else None

    def logits(self, x: Tensor) -> Tensor:
        r"""The logits before the sigmoid, :math:`\mathrm{BN}(s_X \star_G \psi_X)`.

        Args:
            x: the attended signal ``(B, C, |H|, Y, X)``.

        Returns:
            ``(B, |H|, Y, X)``, as ``SignalSpatialAttention.logits`` of group signals.

        Raises:
            ValueError: ``x`` is not a group signal of the group's :math:`|H|`.
        """
        if not isinstance(x, Tensor) or x.dim() != 5 or x.shape[2] != self.order:
            raise ValueError(
                f"SignalSpatialGate: x must be a group signal (B, C, {self.order}, Y, X), "
                f"got {tuple(getattr(x, 'shape', ()))}"
            )
        k = self.kernel_size
        b, _, n, y, w = x.shape
        stats = torch.stack(
            [x.mean(dim=1) if s == "mean" else x.amax(dim=1) for s in self.spatial_pool_order],
            dim=1,
        ).reshape(b, 2 * n, y, w)
        bank = self.transform(self.weight)  # (|H|, 2 |H|, k, k), input index j |H| + t
        logits = F.conv2d(stats, bank, padding=k // 2)  # (B, |H|, Y, X)
        if self.bn is None:
            return logits
        return self.bn(logits.unsqueeze(1)).squeeze(1)

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.logits(x)).unsqueeze(1)

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, norm={self.norm!r}, "
            f"spatial_pool_order={self.spatial_pool_order}, position={self.position!r}"
        )

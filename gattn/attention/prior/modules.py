r"""Prior visual attention mechanisms as special cases of attentive group convolutions.

Each mechanism is a drop-in ``nn.Module`` (``forward(f)`` returns the attended feature map, as
the published module does) that holds one :class:`~gattn.attention.base.SignalAttention`
operator in :attr:`PriorAttention.operator`, *composed from the generic operators* of
:mod:`gattn.attention` — pass that operator to
:class:`~gattn.nn.attentive.AttentiveGroupConv` (``attention=module.operator``) to use the
mechanism inside an attentive layer.

=====================  =====================================================================
mechanism              :math:`\alpha` in the framework (:math:`G = \mathbb{R}^2 \rtimes H`)
=====================  =====================================================================
SqueezeExcitation      input-level channel attention :math:`\alpha^C(\tilde h)`, average pool
CBAM                   :math:`\alpha^C` (avg + max, shared MLP), then :math:`\alpha^X`
                       (``7 x 7`` over [mean, max]), sequential
BAM                    :math:`1 + \sigma(M_c + M_s)`: parallel channel/spatial logits, residual
ResidualAttention      :math:`(1 + \alpha)\, T(f)` around any mask operator :math:`\alpha`
CoAttention            co-domain attention :math:`\alpha(g)` on a group convolution's output
=====================  =====================================================================

Layouts: with a trivial stabiliser (``group=Rn(2)``, the default; :math:`|H| = 1`) inputs may
be images ``(B, C, Y, X)`` — the published module, bit for bit up to float rounding — or signals
``(B, C, 1, Y, X)``; outputs keep the input's layout. With a finite non-trivial :math:`H`
(``p4()``, ``p4m()``, ``E2(8)``...) inputs are group signals ``(B, C, |H|, Y, X)`` and every
module is :math:`G`-equivariant (MLPs become group convolutions over :math:`H` with weights
:math:`W(\tilde h^{-1}h')`, spatial convolutions become group convolutions with rotated
kernels, batch norm becomes :class:`~gattn.nn.GroupBatchNorm`).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ...groups import Rn
from .._common import check_positive_int, stabiliser_of
from ..base import SignalAttention
from ..channel import SignalChannelAttention
from ..factorised import SequentialSignalAttention
from ..spatial import SignalSpatialAttention
from .branches import ChannelGateLogits, DilatedSpatialLogits
from .combine import ParallelSignalAttention, ResidualSignalAttention

__all__ = [
    "PriorAttention",
    "SqueezeExcitation",
    "CBAM",
    "BAM",
    "ResidualAttention",
    "CoAttention",
]


def _default_group(group):
    return Rn(2) if group is None else group


def _check_module(name: str, value) -> nn.Module | None:
    if value is not None and not isinstance(value, nn.Module):
        raise TypeError(f"{name} must be an nn.Module or None, got {type(value).__name__}")
    return value


class PriorAttention(nn.Module):
    r"""Base of the prior mechanisms: layout handling around a signal attention operator.

    Subclasses set :attr:`operator` (a :class:`~gattn.attention.base.SignalAttention`).

    Args:
        group: :math:`\mathbb{R}^2 \rtimes H` with finite :math:`H` (``None``: ``Rn(2)``).
        channels: :math:`C` of the attended feature map.
    """

    operator: SignalAttention

    def __init__(self, group, channels: int) -> None:
        super().__init__()
        group = _default_group(group)
        self.order = stabiliser_of(group).order
        self.group = group
        self.channels = check_positive_int("channels", channels)

    def _to_signal(self, x: Tensor, name: str = "x") -> tuple[Tensor, bool]:
        """``(signal (B, C, |H|, Y, X), was_image)``; validates the layout."""
        if not isinstance(x, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        cls = type(self).__name__
        if x.dim() == 4 and self.order == 1:
            signal, image = x.unsqueeze(2), True
        elif x.dim() == 5 and x.shape[2] == self.order:
            signal, image = x, False
        else:
            extra = " or (B, C, Y, X)" if self.order == 1 else ""
            raise ValueError(
                f"{cls}: {name} must have shape (B, {self.channels}, {self.order}, Y, X)"
                f"{extra} for group {self.group.name}, got {tuple(x.shape)}"
            )
        if signal.shape[1] != self.channels:
            raise ValueError(
                f"{cls}: {name} has {signal.shape[1]} channels, expected {self.channels}"
            )
        return signal, image

    def weights(self, x: Tensor) -> Tensor:
        r"""The attention weights :math:`\alpha` for ``x`` (broadcastable to ``x``; same layout)."""
        signal, image = self._to_signal(x)
        alpha = self.operator(signal)
        return alpha.squeeze(2) if image else alpha

    def forward(self, x: Tensor) -> Tensor:
        signal, image = self._to_signal(x)
        out = self.operator.attend(signal)
        return out.squeeze(2) if image else out

    def extra_repr(self) -> str:
        return f"{self.channels}, group={self.group.name}"


class SqueezeExcitation(PriorAttention):
    r"""Squeeze-and-excitation (Hu et al. 2018) = input-level channel attention, average pool.

    .. math:: \mathrm{SE}(f) = \alpha^C \odot f,\qquad \alpha^C(\tilde h) = \sigma\Big(
              \sum_{h'} W_2(\tilde h^{-1}h')\,\mathrm{relu}\big(\sum_{h''} W_1(h'^{-1}h'')\,
              \bar f(h'')\big)\Big),

    :math:`\bar f` the spatial mean; with :math:`|H| = 1`:
    :math:`\sigma(W_2\,\mathrm{relu}(W_1 \bar f))` (the paper's equation; FC layers without
    bias). Operator: :class:`~gattn.attention.SignalChannelAttention` with
    ``pooling=("avg",)``; ``operator.w1[0]`` / ``operator.w2[0]`` are the two FC weights when
    :math:`|H| = 1`.

    Args:
        channels: :math:`C`.
        reduction: :math:`r` (hidden width ``max(C // r, 1)``; the paper uses 16).
        group: default ``Rn(2)`` (the published module).
        position: ``"input"`` (default) or ``"output"`` (co-domain, when used in a layer).
        bias: biased FC layers (torchvision's ``SqueezeExcitation``, most released code;
            ``operator.b1`` / ``operator.b2``), default ``False`` (the paper's equation).

    Shapes:
        ``(B, C, Y, X)`` (trivial :math:`H` only) or ``(B, C, |H|, Y, X)``, unchanged.
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        group=None,
        position: str = "input",
        bias: bool = False,
    ) -> None:
        super().__init__(group, channels)
        self.operator = SignalChannelAttention(
            self.group, channels, reduction, pooling=("avg",), position=position, bias=bias
        )


class CBAM(PriorAttention):
    r"""Convolutional block attention module (Woo et al. 2018) = :math:`\alpha^C` then
    :math:`\alpha^X`, sequential, input-level.

    .. math:: f' = \alpha^C[f] \odot f,\qquad f'' = \alpha^X[f'] \odot f',

    :math:`\alpha^C = \sigma(\mathrm{MLP}(\mathrm{avg}\, f) + \mathrm{MLP}(\max f))` (shared
    MLP, regular-representation weights), :math:`\alpha^X = \sigma([\mathrm{mean}_c f';
    \max_c f'] \star_G \psi_X)` with a ``k x k`` kernel rotated with :math:`h`.
    Operator: :class:`~gattn.attention.SequentialSignalAttention` of
    :class:`~gattn.attention.SignalChannelAttention` and
    :class:`~gattn.attention.SignalSpatialAttention` (``operator.operators[0/1]``; with
    :math:`|H| = 1`, ``operators[1].weight[:, :, 0]`` is the ``Conv2d(2, 1, k)`` weight, input
    channels ordered [mean, max]).

    Args:
        channels: :math:`C`.
        reduction: :math:`r` (paper: 16).
        kernel_size: odd spatial kernel size (paper: 7, padding 3).
        group: default ``Rn(2)``.
        position: ``"input"`` or ``"output"``.
        bias: biased MLP layers in the channel branch (CBAM's released code), default
            ``False`` (the paper's equations).
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        kernel_size: int = 7,
        group=None,
        position: str = "input",
        bias: bool = False,
    ) -> None:
        super().__init__(group, channels)
        self.operator = SequentialSignalAttention(
            SignalChannelAttention(self.group, channels, reduction, position=position, bias=bias),
            SignalSpatialAttention(self.group, kernel_size, position=position),
            position=position,
        )


class BAM(PriorAttention):
    r"""Bottleneck attention module (Park et al. 2018) = parallel channel and spatial logits,
    residual :math:`1 + \alpha`.

    .. math:: f' = \big(1 + \sigma(M_c[f] + M_s[f])\big) \odot f

    with :math:`M_c` (``(B, C, |H|, 1, 1)``) and :math:`M_s` (``(B, 1, |H|, Y, X)``) of
    :mod:`gattn.attention.prior.branches`. Operator:
    ``ResidualSignalAttention(ParallelSignalAttention(ChannelGateLogits, DilatedSpatialLogits))``
    (``operator.operator.branches[0/1]``).

    Args:
        channels: :math:`C`.
        reduction: :math:`r` (paper: 16).
        dilation: of the ``3 x 3`` convolutions (paper: 4).
        num_dilated: number of dilated convolutions (paper: 2).
        group: default ``Rn(2)``.
        position: ``"input"`` or ``"output"``.
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        dilation: int = 4,
        num_dilated: int = 2,
        group=None,
        position: str = "input",
    ) -> None:
        super().__init__(group, channels)
        self.operator = ResidualSignalAttention(
            ParallelSignalAttention(
                ChannelGateLogits(self.group, channels, reduction),
                DilatedSpatialLogits(self.group, channels, reduction, dilation, num_dilated),
                position=position,
            )
        )


class ResidualAttention(PriorAttention):
    r"""Residual attention (Wang et al. 2017): :math:`H = (1 + M[f]) \odot T(f)`.

    The mask :math:`M \in [0, 1]` is any signal attention operator (default: the mixed
    channel-and-spatial mask :math:`\alpha^C\alpha^X` of :class:`CBAM`), the trunk :math:`T` any
    equivariant map that keeps the layout (default: identity, i.e. :math:`(1 + \alpha) f`).
    Operator: :class:`~gattn.attention.prior.ResidualSignalAttention` around the mask (the
    ``residual=True`` form :math:`1 - \alpha^-` of the attentive layers replaces it, docs/maths.md).

    Args:
        channels: :math:`C`.
        mask: a :class:`~gattn.attention.base.SignalAttention` (default: ``CBAM``'s operator
            built with ``reduction`` and ``kernel_size``).
        trunk: an ``nn.Module`` mapping ``x`` to a tensor of ``x``'s shape, or ``None``.
        reduction, kernel_size: of the default mask.
        group: default ``Rn(2)``.
        position: of the default mask.

    Raises:
        TypeError: ``mask`` is not a ``SignalAttention`` or ``trunk`` not an ``nn.Module``.
    """

    def __init__(
        self,
        channels: int,
        mask: SignalAttention | None = None,
        trunk: nn.Module | None = None,
        reduction: int = 16,
        kernel_size: int = 7,
        group=None,
        position: str = "input",
    ) -> None:
        super().__init__(group, channels)
        if mask is None:
            mask = CBAM(channels, reduction, kernel_size, self.group, position).operator
        self.operator = ResidualSignalAttention(mask)  # raises TypeError on a wrong mask
        self.trunk = _check_module("trunk", trunk)

    def forward(self, x: Tensor) -> Tensor:
        if self.trunk is None:
            return super().forward(x)
        return self.weights(x) * self.trunk(x)


class CoAttention(PriorAttention):
    r"""Co-domain attention (Romero & Hoogendoorn 2020): :math:`\alpha(g)` depends on the
    *output* element only and multiplies a group convolution's output.

    .. math:: f' = \alpha[\,f \star_G \psi\,] \odot (f \star_G \psi),

    :math:`\alpha` the channel attention over :math:`H` (weights :math:`W(h^{-1}h')`, a
    circulant matrix for :math:`C_n`: attention over the co-domain's transformations), followed
    by the spatial attention when ``kernel_size`` is given. Operator:
    :class:`~gattn.attention.SignalChannelAttention` (and
    :class:`~gattn.attention.SignalSpatialAttention`) with ``position="output"`` — pass it to
    ``AttentiveGroupConv(..., attention=co.operator)`` to get ``conv`` then attention in one
    layer.

    Args:
        channels: :math:`C` of the convolution's output.
        reduction: :math:`r`.
        pooling: statistics of the channel attention, subset of ``("avg", "max")``.
        kernel_size: odd spatial-attention kernel size, or ``None`` (channel attention only).
        conv: the convolution whose output is attended (``LiftingConv`` / ``GroupConv``), or
            ``None`` (the input *is* that output).
        group: default ``Rn(2)``.

    Shapes:
        ``conv``'s input -> its output; without ``conv`` as :class:`PriorAttention`.
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        pooling: Sequence[str] = ("avg", "max"),
        kernel_size: int | None = None,
        conv: nn.Module | None = None,
        group=None,
    ) -> None:
        super().__init__(group, channels)
        ops: list[SignalAttention] = [
            SignalChannelAttention(
                self.group, channels, reduction, pooling=pooling, position="output"
            )
        ]
        if kernel_size is not None:
            ops.append(SignalSpatialAttention(self.group, kernel_size, position="output"))
        self.operator = SequentialSignalAttention(*ops, position="output")
        self.conv = _check_module("conv", conv)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x if self.conv is None else self.conv(x))

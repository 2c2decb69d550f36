r"""Prior visual attention mechanisms as special cases of attentive group convolutions.

Each mechanism is a drop-in ``nn.Module`` (``forward(f)`` returns the attended feature map, as
the published module does) that holds one :class:`~gattn.attention.base.SignalAttention`
operator in :attr:`PriorAttention.operator`, *composed from the generic operators* of
:mod:`gattn.attention` — pass that operator to
:class:`~gattn.attention.AttentiveGroupConv` (``attention=module.operator``) to use the
mechanism inside an attentive layer.

=====================  =====================================================================
mechanism              :math:`\alpha` in the framework (:math:`G = \mathbb{R}^2 \rtimes H`)
=====================  =====================================================================
SqueezeExcitation      input-level channel attention :math:`\alpha^C(\tilde h)`, average pool
CBAM                   :math:`\alpha^C` (mean + max, shared MLP), then :math:`\alpha^X`
                       (``7 x 7`` over [mean, max], optional batch norm), sequential
BAM                    :math:`1 + \sigma(M_c + M_s)` (or :math:`M_c M_s`): parallel
                       channel/spatial logits, residual
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

Trained modules of timm and of CBAM's / BAM's authors load with :meth:`CBAM.from_timm`,
:meth:`CBAM.from_authors` and :meth:`BAM.from_authors` (:mod:`gattn.attention.prior.convert`,
docs/special_cases.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor, nn

from ...groups import Rn, finite_tables
from ...groups.validation import check_int
from .._common import planar_stabiliser
from ..base import SignalAttention
from ..channel import SignalChannelAttention
from ..factorised import SequentialSignalAttention
from ..spatial import SignalSpatialAttention
from .branches import (
    SPATIAL_STATISTICS,
    ChannelGateLogits,
    DilatedSpatialLogits,
    SignalSpatialGate,
    _check_batch_norm_options,
    _check_norm,
    _check_spatial_pool_order,
)
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
        self.order = finite_tables(planar_stabiliser(group, type(self).__name__)).order
        self.group = group
        self.channels = check_int("channels", channels)

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
    ``pooling=("mean",)``; ``operator.w1[0]`` / ``operator.w2[0]`` are the two FC weights when
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
            self.group, channels, reduction, pooling=("mean",), position=position, bias=bias
        )


class CBAM(PriorAttention):
    r"""Convolutional block attention module (Woo et al. 2018) = :math:`\alpha^C` then
    :math:`\alpha^X`, sequential, input-level.

    .. math:: f' = \alpha^C[f] \odot f,\qquad f'' = \alpha^X[f'] \odot f',

    :math:`\alpha^C = \sigma(\mathrm{MLP}(\mathrm{mean}\, f) + \mathrm{MLP}(\max f))` (shared
    MLP, regular-representation weights), :math:`\alpha^X = \sigma([\mathrm{mean}_c f';
    \max_c f'] \star_G \psi_X)` with a ``k x k`` kernel rotated with :math:`h`, or
    :math:`\sigma(\mathrm{BN}(\ldots))` with ``norm="batch"`` (timm's ``CbamModule`` and the
    authors' code; docs/special_cases.md).
    Operator: :class:`~gattn.attention.SequentialSignalAttention` of
    :class:`~gattn.attention.SignalChannelAttention` and
    :class:`~gattn.attention.SignalSpatialAttention` (``operator.operators[0/1]``; with
    :math:`|H| = 1`, ``operators[1].weight[:, :, 0]`` is the ``Conv2d(2, 1, k)`` weight, input
    channels ordered as ``spatial_pool_order``). With ``norm="batch"`` or the order
    ``("max", "mean")`` the spatial operator is a
    :class:`~gattn.attention.prior.SignalSpatialGate` (same ``weight`` layout, plus ``bn``).

    Args:
        channels: :math:`C`.
        reduction: :math:`r` (paper: 16).
        kernel_size: odd spatial kernel size (paper: 7, padding 3).
        group: default ``Rn(2)``.
        position: ``"input"`` or ``"output"``.
        bias: biased MLP layers in the channel branch (CBAM's released code), default
            ``False`` (the paper's equations).
        norm: ``None`` (default, the paper's equations) or ``"batch"``: a batch norm on the
            spatial logits, as timm's and the authors' modules have
            (:class:`~gattn.nn.GroupBatchNorm` on a non-trivial :math:`H`).
        spatial_pool_order: order of the stacked channel statistics of the spatial branch,
            ``("mean", "max")`` (default; timm) or ``("max", "mean")`` (the authors).
        hidden_channels: explicit bottleneck width of the MLP, overriding ``reduction``
            (timm rounds ``C * rd_ratio``; ``None``: ``max(C // reduction, 1)``).
        norm_eps, norm_momentum: of that batch norm (timm ``1e-5, 0.1``; the authors
            ``1e-5, 0.01``); ignored without ``norm``.

    Raises:
        ValueError / TypeError: a bad ``channels``, ``reduction``, ``kernel_size``, ``norm``,
            ``spatial_pool_order``, ``hidden_channels``, ``norm_eps`` or ``norm_momentum``.
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        kernel_size: int = 7,
        group=None,
        position: str = "input",
        bias: bool = False,
        norm: str | None = None,
        spatial_pool_order: Sequence[str] = SPATIAL_STATISTICS,
        hidden_channels: int | None = None,
        norm_eps: float = 1e-5,
        norm_momentum: float = 0.1,
    ) -> None:
        super().__init__(group, channels)
        norm = _check_norm(norm)
        order = _check_spatial_pool_order(spatial_pool_order)
        _check_batch_norm_options(norm_eps, norm_momentum)
        channel = SignalChannelAttention(
            self.group, channels, reduction, position=position, bias=bias, hidden=hidden_channels
        )
        if norm is None and order == SPATIAL_STATISTICS:
            spatial: SignalAttention = SignalSpatialAttention(
                self.group, kernel_size, position=position
            )
        else:
            spatial = SignalSpatialGate(
                self.group,
                kernel_size,
                norm=norm,
                spatial_pool_order=order,
                position=position,
                norm_eps=norm_eps,
                norm_momentum=norm_momentum,
            )
        self.operator = SequentialSignalAttention(channel, spatial, position=position)

    @classmethod
    def from_timm(
        cls, source: nn.Module | Mapping[str, Tensor], group=None, prefix: str = ""
    ) -> CBAM:
        r"""A :class:`CBAM` holding the weights of timm's ``CbamModule``
        (:func:`gattn.attention.prior.convert.load_timm_cbam`; docs/special_cases.md).

        Args:
            source: a ``CbamModule`` or its state dict (keys ``channel.fc1.weight``,
                ``channel.fc2.weight`` [+ ``.bias``], ``spatial.conv.conv.weight``,
                ``spatial.conv.bn.*``).
            group: ``None`` (``Rn(2)``: the same outputs) or a finite-:math:`H` group (the
                weights at the identity element: an equivariant module).
            prefix: key prefix of the module inside a larger state dict.

        Returns:
            The module (dtype and device of ``source``'s tensors).

        Raises:
            TypeError / ValueError: see ``load_timm_cbam``.
        """
        from .convert import load_timm_cbam

        return load_timm_cbam(source, group=group, prefix=prefix)

    @classmethod
    def from_authors(
        cls, source: nn.Module | Mapping[str, Tensor], group=None, prefix: str = ""
    ) -> CBAM:
        r"""A :class:`CBAM` holding the weights of CBAM's authors' module
        (``Jongchan/attention-module``, ``MODELS/cbam.py``;
        :func:`gattn.attention.prior.convert.load_authors_cbam`; docs/special_cases.md).

        Args:
            source: the authors' ``CBAM`` or its state dict (keys
                ``ChannelGate.mlp.1.*``, ``ChannelGate.mlp.3.*``,
                ``SpatialGate.spatial.conv.weight``, ``SpatialGate.spatial.bn.*``).
            group: ``None`` or a finite-:math:`H` group (see :meth:`from_timm`).
            prefix: key prefix inside a larger state dict (e.g. ``"module.layer1.0.cbam."``).

        Returns:
            The module.

        Raises:
            TypeError / ValueError: see ``load_authors_cbam``.
        """
        from .convert import load_authors_cbam

        return load_authors_cbam(source, group=group, prefix=prefix)


class BAM(PriorAttention):
    r"""Bottleneck attention module (Park et al. 2018) = parallel channel and spatial logits,
    residual :math:`1 + \alpha`.

    .. math:: f' = \big(1 + \sigma(M_c[f] + M_s[f])\big) \odot f

    (the paper's equation, ``combine="sum"``) or
    :math:`f' = (1 + \sigma(M_c[f]\, M_s[f])) \odot f` (``combine="product"``: the authors'
    released ``MODELS/bam.py`` multiplies the two branches, docs/special_cases.md), with
    :math:`M_c` (``(B, C, |H|, 1, 1)``) and :math:`M_s` (``(B, 1, |H|, Y, X)``) of
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
        combine: ``"sum"`` (default, the paper) or ``"product"`` (the authors' code).
        channel_norm: where the channel branch's batch norm sits: ``"output"`` (default, the
            paper's :math:`\mathrm{BN}(\mathrm{MLP})`) or ``"hidden"`` (the authors' code).

    Raises:
        ValueError: a bad ``channels``, ``reduction``, ``dilation``, ``num_dilated``,
            ``combine`` or ``channel_norm``.
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        dilation: int = 4,
        num_dilated: int = 2,
        group=None,
        position: str = "input",
        combine: str = "sum",
        channel_norm: str = "output",
    ) -> None:
        super().__init__(group, channels)
        self.operator = ResidualSignalAttention(
            ParallelSignalAttention(
                ChannelGateLogits(self.group, channels, reduction, norm_position=channel_norm),
                DilatedSpatialLogits(self.group, channels, reduction, dilation, num_dilated),
                position=position,
                combine=combine,
            )
        )

    @classmethod
    def from_authors(
        cls, source: nn.Module | Mapping[str, Tensor], group=None, prefix: str = ""
    ) -> BAM:
        r"""A :class:`BAM` holding the weights of BAM's authors' module
        (``Jongchan/attention-module``, ``MODELS/bam.py``): ``combine="product"``,
        ``channel_norm="hidden"`` (:func:`gattn.attention.prior.convert.load_authors_bam`;
        docs/special_cases.md).

        Args:
            source: the authors' ``BAM`` or its state dict (keys ``channel_att.gate_c.*``,
                ``spatial_att.gate_s.*``).
            group: ``None`` or a finite-:math:`H` group (weights at the identity element).
            prefix: key prefix inside a larger state dict (e.g. ``"module.bam1."``).

        Returns:
            The module.

        Raises:
            TypeError / ValueError: see ``load_authors_bam``.
        """
        from .convert import load_authors_bam

        return load_authors_bam(source, group=group, prefix=prefix)


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
        pooling: statistics of the channel attention, subset of ``("mean", "max")``.
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
        pooling: Sequence[str] = ("mean", "max"),
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

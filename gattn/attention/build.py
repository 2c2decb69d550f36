"""Attention operators by name (the ``attention=`` argument of the attentive layers)."""

from __future__ import annotations

from ..groups import GroupSignal, Image, Layout, stabiliser_of
from ..groups.validation import check_int
from ..nn.fields import FieldConfig
from ..nn.samples import HSamples
from .base import AttentionOperator
from .channel import ChannelAttention, SignalChannelAttention
from .factorised import FactorisedAttention, SequentialSignalAttention
from .spatial import SignalSpatialAttention, SpatialAttention

__all__ = ["ATTENTION_MODES", "build_attention"]

ATTENTION_MODES = ("full", "input", "channel", "spatial", "codomain", None)


def build_attention(
    attention: str | AttentionOperator | None,
    group,
    in_layout: Layout,
    out_layout: Layout,
    in_channels: int | None = None,
    out_channels: int | None = None,
    reduction: int = 2,
    kernel_size: int = 7,
    dilation: int = 1,
    field: FieldConfig | None = None,
) -> AttentionOperator | None:
    r"""The operator for an attentive layer, from the layer's group, layouts and channels.

    Args:
        attention: ``"full"`` (:math:`\alpha^X\alpha^C` over pairs), ``"channel"``,
            ``"spatial"`` (one factor), ``"input"`` (:math:`\alpha F`: channel then spatial
            attention on the input signal), ``"codomain"`` (the same on the output signal),
            ``None`` (no attention) or an :class:`AttentionOperator` instance (returned as is).
        group: :math:`\mathbb{R}^d \rtimes H`, :math:`d \in \{1, 2, 3\}`; :math:`H` finite, or
            any :math:`H` when the layouts hold samples.
        in_layout: what the layer reads: ``Image(d, C_in)`` (a lifting layer) or
            ``GroupSignal(H, d, C_in)``.
        out_layout: what it gives: ``GroupSignal(H, d, C_out)``. When its ``samples`` are an
            :class:`~gattn.nn.HSamples` (a layer with a field kernel: a continuous or sampled
            :math:`H`), the operators are built on those samples: their spatial kernels and
            the weights indexed by :math:`h^{-1}\tilde h` become neural fields
            (docs/continuous.md); ``samples=None``: all of a finite :math:`H`, index tables
            and pixel kernels.
        in_channels, out_channels: ``C_in``, ``C_out`` (default: the layouts' channels).
        reduction: channel-attention bottleneck ratio; kernel_size: spatial-attention kernel
            (``k^d`` points).
        dilation: dilation of the spatial-attention kernel of the signal modes (``"input"``,
            ``"codomain"``; the official rot-MNIST αF-P4CNN dilates its lifting layer's by 4,
            docs/attention.md). The pair modes support only ``1``.
        field: the :class:`~gattn.nn.FieldConfig` of the operators' fields (sampled layouts
            only; ``None``: the default).

    Returns:
        The operator (its ``in_layout`` declares what it reads: ``PairSignal(H, d, lifting)``
        for the pair modes, the attended signal's layout for the signal modes), or ``None``
        for ``attention=None``.

    Raises:
        ValueError: unknown name; ``dilation`` other than 1 for a pair mode or for an
            operator instance; layouts that are not an image / group signal in, a group signal
            out, of the group's dimension; channels missing or disagreeing with the layouts;
            a continuous :math:`H` whose layouts hold no samples; in- and output layouts on
            different samples.
        TypeError: neither a name nor an operator; layouts that are not
            :class:`~gattn.groups.Layout` instances; layout samples that are not an
            :class:`~gattn.nn.HSamples`.
    """
    check_int("dilation", dilation)
    if attention is not None and not isinstance(attention, (str, AttentionOperator)):
        raise TypeError(
            f"attention must be one of {ATTENTION_MODES} or an AttentionOperator, got {attention!r}"
        )
    if isinstance(attention, str) and attention not in ATTENTION_MODES:
        raise ValueError(
            f"attention must be one of {ATTENTION_MODES} or an AttentionOperator, got {attention!r}"
        )
    if dilation != 1 and not (isinstance(attention, str) and attention in ("input", "codomain")):
        raise ValueError(
            f"attention dilation={dilation} is supported by the signal attention modes "
            f"('input', 'codomain') only, got attention={attention!r}; use dilation 1, or pass "
            "an operator built with it (e.g. SignalSpatialAttention(..., dilation=...))"
        )
    lifting, samples = _check_layouts(group, in_layout, out_layout)
    in_channels = _channels("in_channels", in_channels, in_layout)
    out_channels = _channels("out_channels", out_channels, out_layout)
    kw = {"samples": samples, "field": field}
    if attention is None or isinstance(attention, AttentionOperator):
        declared = getattr(attention, "in_layout", None)
        if isinstance(declared, Layout) and declared.dims not in (0, in_layout.dims):
            raise ValueError(
                f"attention operator {type(attention).__name__} reads {declared}, but the layer "
                f"is {in_layout.dims}-dimensional; build the operator for the layer's group"
            )
        theirs = getattr(declared, "samples", None)
        if theirs is not None and theirs is not samples:
            raise ValueError(
                f"attention operator {type(attention).__name__} was built on other H samples "
                f"than the layer's; build it with samples=layer.samples (one shared HSamples)"
            )
        return attention
    if attention in ("full", "channel", "spatial"):
        channel = (
            ChannelAttention(group, in_channels, out_channels, reduction, lifting, **kw)
            if attention != "spatial"
            else None
        )
        spatial = (
            SpatialAttention(group, out_channels, kernel_size, lifting, **kw)
            if attention != "channel"
            else None
        )
        return FactorisedAttention(channel, spatial)
    if attention in ("input", "codomain"):
        position = "input" if attention == "input" else "output"
        channels = in_channels if attention == "input" else out_channels
        lift = lifting and attention == "input"
        return SequentialSignalAttention(
            SignalChannelAttention(group, channels, reduction, lift, position=position, **kw),
            SignalSpatialAttention(
                group, kernel_size, lift, position=position, dilation=dilation, **kw
            ),
            position=position,
        )
    raise ValueError(
        f"attention must be one of {ATTENTION_MODES} or an AttentionOperator, got {attention!r}"
    )


def _check_layouts(group, in_layout: Layout, out_layout: Layout) -> tuple[bool, HSamples | None]:
    """Whether the layer lifts (reads a spatial signal), and the samples of its group axis
    (``None``: all of a finite H); raises on layouts it cannot serve."""
    stab = stabiliser_of(group, dims=(1, 2, 3))
    d = stab.action_dim
    for name, lay in (("in_layout", in_layout), ("out_layout", out_layout)):
        if not isinstance(lay, Layout):
            raise TypeError(f"{name} must be a gattn.groups.Layout, got {lay!r}")
    if not isinstance(in_layout, (Image, GroupSignal)) or in_layout.dims != d:
        raise ValueError(
            f"in_layout must be Image({d}, C_in) or GroupSignal(H, {d}, C_in) for {group.name} "
            f"(d = {d}), got {in_layout!r}"
        )
    if not isinstance(out_layout, GroupSignal) or out_layout.dims != d:
        raise ValueError(
            f"out_layout must be GroupSignal(H, {d}, C_out) for {group.name} (d = {d}), "
            f"got {out_layout!r}"
        )
    samples = out_layout.samples
    if samples is not None and not isinstance(samples, HSamples):
        raise TypeError(
            "out_layout.samples must be a gattn.nn.HSamples (the layer's shared samples) or "
            f"None for build_attention, got {type(samples).__name__}"
        )
    if isinstance(in_layout, GroupSignal) and in_layout.samples is not samples:
        raise ValueError(
            f"in_layout and out_layout live on different H samples ({in_layout} and "
            f"{out_layout}); an attentive layer's input and output share one HSamples"
        )
    if samples is None and not stab.is_finite:
        raise ValueError(
            f"{group.name} has the continuous stabiliser {stab.name}; the layouts must hold "
            "its samples (GroupSignal(H, d, C, samples=HSamples(...)); the attentive layers "
            "pass their convolution's, from samples=)"
        )
    return isinstance(in_layout, Image), samples


def _channels(name: str, value: int | None, layout: Layout) -> int:
    declared = getattr(layout, "channels", None)
    if value is None:
        if declared is None:
            raise ValueError(
                f"{name}: give it, or a layout that declares its channels ({layout!r})"
            )
        return declared
    check_int(name, value)
    if declared is not None and declared != value:
        raise ValueError(f"{name}={value} disagrees with the layout's {declared} channels")
    return value

"""Attention operators by name (the ``attention=`` argument of the attentive layers)."""

from __future__ import annotations

from ..groups.validation import check_int
from .base import AttentionOperator
from .channel import ChannelAttention, SignalChannelAttention
from .factorised import FactorisedAttention, SequentialSignalAttention
from .spatial import SignalSpatialAttention, SpatialAttention

__all__ = ["ATTENTION_MODES", "build_attention"]

ATTENTION_MODES = ("full", "input", "channel", "spatial", "codomain", None)


def build_attention(
    attention: str | AttentionOperator | None,
    group,
    in_channels: int,
    out_channels: int,
    lifting: bool,
    reduction: int = 2,
    kernel_size: int = 7,
    dilation: int = 1,
) -> AttentionOperator | None:
    r"""The operator for an attentive layer.

    Args:
        attention: ``"full"`` (:math:`\alpha^X\alpha^C` over pairs), ``"channel"``,
            ``"spatial"`` (one factor), ``"input"`` (:math:`\alpha F`: channel then spatial
            attention on the input signal), ``"codomain"`` (the same on the output signal),
            ``None`` (no attention) or an :class:`AttentionOperator` instance (returned as is).
        group: :math:`\mathbb{R}^2 \rtimes H`; in_channels, out_channels: the layer's channels.
        lifting: the layer's input is an image.
        reduction: channel-attention bottleneck ratio; kernel_size: spatial-attention kernel.
        dilation: dilation of the spatial-attention kernel of the signal modes (``"input"``,
            ``"codomain"``; the official rot-MNIST αF-P4CNN dilates its lifting layer's by 4,
            docs/attention.md). The pair modes support only ``1``.

    Returns:
        The operator, or ``None`` for ``attention=None``.

    Raises:
        ValueError: unknown name; ``dilation`` other than 1 for a pair mode or for an
            operator instance. TypeError: neither a name nor an operator.
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
    if attention is None or isinstance(attention, AttentionOperator):
        return attention
    if attention in ("full", "channel", "spatial"):
        channel = (
            ChannelAttention(group, in_channels, out_channels, reduction, lifting)
            if attention != "spatial"
            else None
        )
        spatial = (
            SpatialAttention(group, out_channels, kernel_size, lifting)
            if attention != "channel"
            else None
        )
        return FactorisedAttention(channel, spatial)
    if attention in ("input", "codomain"):
        position = "input" if attention == "input" else "output"
        channels = in_channels if attention == "input" else out_channels
        lift = lifting and attention == "input"
        return SequentialSignalAttention(
            SignalChannelAttention(group, channels, reduction, lift, position=position),
            SignalSpatialAttention(group, kernel_size, lift, position=position, dilation=dilation),
            position=position,
        )
    raise ValueError(
        f"attention must be one of {ATTENTION_MODES} or an AttentionOperator, got {attention!r}"
    )

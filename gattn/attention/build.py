"""Attention operators by name (the ``attention=`` argument of the attentive layers)."""

from __future__ import annotations

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

    Raises:
        ValueError: unknown name. TypeError: neither a name nor an operator.
    """
    if attention is None or isinstance(attention, AttentionOperator):
        return attention
    if not isinstance(attention, str):
        raise TypeError(
            f"attention must be one of {ATTENTION_MODES} or an AttentionOperator, got {attention!r}"
        )
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
            SignalSpatialAttention(group, kernel_size, lift, position=position),
            position=position,
        )
    raise ValueError(
        f"attention must be one of {ATTENTION_MODES} or an AttentionOperator, got {attention!r}"
    )

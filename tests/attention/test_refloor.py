"""The attentive layers above their operators (issue 15, part 4): the layer hands the operator
its plain convolution and the operator computes the output; one pooling vocabulary, one
ATTENTION_MODES, one integer validator."""

from __future__ import annotations

import pytest
import torch

import gattn.attention as attention
import gattn.models as models
from gattn.attention import (
    AttentionOperator,
    AttentiveGroupConv,
    AttentiveLiftingConv,
    ChannelAttention,
    LayerConvolution,
    PairAttention,
    SignalChannelAttention,
)
from gattn.groups import p4
from gattn.nn import GroupConv, SpatialPool


class _Doubling(PairAttention):
    """An operator that defines the layer's output itself: twice the plain convolution."""

    def forward(self, responses):  # pragma: no cover - never asked for alpha
        raise AssertionError("the layer must not call forward when layer_output is overridden")

    def layer_output(self, x, conv, residual):
        assert isinstance(conv, LayerConvolution) and residual is False
        return 2 * conv(x)


def test_the_layer_hands_its_convolution_to_the_operator():
    torch.manual_seed(0)
    layer = AttentiveGroupConv(p4(), 2, 3, 3, padding=1, attention=_Doubling()).double()
    plain = GroupConv(p4(), 2, 3, 3, padding=1).double()
    plain.load_state_dict(layer.conv.state_dict())
    x = torch.randn(2, 2, 4, 6, 6, dtype=torch.float64)
    assert torch.allclose(layer(x), 2 * plain(x), atol=1e-12)


def test_layer_convolution_is_the_plain_convolution():
    torch.manual_seed(1)
    for cls, shape in ((AttentiveLiftingConv, (2, 2, 7, 7)), (AttentiveGroupConv, (2, 2, 4, 7, 7))):
        layer = cls(p4(), 2, 3, 3, stride=2, attention=None).double()
        with torch.no_grad():
            layer.conv.bias.normal_()
        x = torch.randn(shape, dtype=torch.float64)
        conv = layer.layer_convolution()
        assert torch.allclose(conv(x), layer(x), atol=1e-12)
        assert conv.pair_bank().shape == (3, 4, 2, 1 if cls is AttentiveLiftingConv else 4, 3, 3)


class _Unknown(AttentionOperator):
    domain = "volume"

    def forward(self, x):  # pragma: no cover
        return x


def test_an_operator_of_unknown_kind_is_refused_clearly():
    layer = AttentiveGroupConv(p4(), 2, 3, 3, attention=_Unknown())
    with pytest.raises(TypeError, match="unknown domain 'volume'.*PairAttention or Signal"):
        layer(torch.randn(1, 2, 4, 6, 6))


@pytest.mark.parametrize(
    "make",
    [
        lambda: ChannelAttention(p4(), 2, 3, pooling=("avg", "max")),
        lambda: SignalChannelAttention(p4(), 2, pooling="avg"),
        lambda: SpatialPool(2, mode="avg"),
    ],
)
def test_avg_is_spelled_mean(make):
    with pytest.raises(ValueError, match="'mean'"):
        make()


def test_mean_pooling_is_accepted():
    assert ChannelAttention(p4(), 2, 3).pooling == ("mean", "max")
    assert SignalChannelAttention(p4(), 2, pooling="mean").pooling == ("mean",)
    assert SpatialPool(2, mode="mean")(torch.ones(1, 1, 4, 4)).shape == (1, 1, 2, 2)


def test_one_attention_modes():
    assert models.ATTENTION_MODES is attention.ATTENTION_MODES


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reduction": 0}, "reduction must be an integer >= 1, got reduction=0"),
        ({"attention_kernel_size": True}, "attention_kernel_size must be an integer >= 1"),
        ({"attention": "input", "attention_dilation": 0}, "got attention_dilation=0"),
    ],
)
def test_one_integer_validator(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AttentiveGroupConv(p4(), 2, 3, 3, **kwargs)

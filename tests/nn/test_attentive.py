"""Attentive layers: equivariance on random group signals, modes, residual form, bad input."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gattn.attention import (
    AttentionOperator,
    AttentiveGroupConv,
    AttentiveLiftingConv,
    ChannelAttention,
    FactorisedAttention,
)
from gattn.groups import SE2, p4, p4m
from gattn.testing import EquivarianceError, assert_equivariant

MODES = ["full", "input", "channel", "spatial", "codomain", None]
GROUPS = {"p4": p4(), "p4m": p4m()}


def _layer(cls, group, mode, c_in, c_out, k, padding, residual=False, dtype=torch.float64):
    torch.manual_seed(0)
    layer = cls(group, c_in, c_out, k, padding=padding, attention=mode, residual=residual)
    return layer.to(dtype)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cls", [AttentiveLiftingConv, AttentiveGroupConv])
@pytest.mark.parametrize("gname", sorted(GROUPS))
@settings(max_examples=2, deadline=None)
@given(
    size=st.integers(5, 8),
    c_in=st.integers(1, 3),
    c_out=st.integers(1, 3),
    padding=st.integers(0, 1),
    residual=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_equivariant_float64(mode, cls, gname, size, c_in, c_out, padding, residual, seed):
    group = GROUPS[gname]
    layer = _layer(cls, group, mode, c_in, c_out, 3, padding, residual)
    n = group.stabiliser.order
    gen = torch.Generator().manual_seed(seed)
    shape = (2, c_in, size, size) if cls is AttentiveLiftingConv else (2, c_in, n, size, size)
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    report = assert_equivariant(layer, group, x)  # default float64 tolerance 1e-10 relative
    assert report.relative <= 1e-10


@pytest.mark.parametrize("mode", ["full", "input", "codomain"])
@pytest.mark.parametrize("size", [6, 7])
def test_equivariant_float32(mode, size):
    group = p4m()
    layer = _layer(AttentiveGroupConv, group, mode, 3, 4, 3, 1, dtype=torch.float32)
    x = torch.randn(2, 3, 8, size, size)
    assert assert_equivariant(layer, group, x).relative <= 1e-5


class _BrokenChannel(ChannelAttention):
    """Channel weights indexed by h~ alone instead of h^{-1} h~: not equivariant."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        n = self.rel.shape[0]
        self.rel = torch.arange(n).expand(n, n).clone()


def test_broken_operator_plugs_in_and_is_caught():
    group = p4()
    op = FactorisedAttention(_BrokenChannel(group, 3, 2, 2), None)
    layer = AttentiveGroupConv(group, 3, 2, 3, padding=1, attention=op).double()
    x = torch.randn(2, 3, 4, 7, 7, dtype=torch.float64)
    with pytest.raises(EquivarianceError):
        assert_equivariant(layer, group, x)


class _Gate(AttentionOperator):
    """A user operator written against the bare interface (materialising default path)."""

    domain = "pair"

    def forward(self, responses):
        return torch.sigmoid(responses.mean(dim=(-2, -1), keepdim=True))

    def attentive_conv(self, x, bank, stride=1, padding=0):
        from gattn.attention import pair_output, partial_responses

        r = partial_responses(x, bank, stride, padding)
        return pair_output(self(r), r)


def test_user_operator_plugs_in():
    group = p4()
    layer = AttentiveGroupConv(group, 2, 3, 3, padding=1, attention=_Gate()).double()
    x = torch.randn(2, 2, 4, 6, 6, dtype=torch.float64)
    y = layer(x)
    assert y.shape == (2, 3, 4, 6, 6)
    assert_equivariant(layer, group, x)


def test_none_mode_is_plain_group_conv():
    from gattn.nn import GroupConv

    torch.manual_seed(1)
    layer = AttentiveGroupConv(p4(), 2, 3, 3, attention=None).double()
    plain = GroupConv(p4(), 2, 3, 3).double()
    plain.load_state_dict(layer.conv.state_dict())
    x = torch.randn(2, 2, 4, 6, 6, dtype=torch.float64)
    assert torch.equal(layer(x), plain(x))


def test_residual_is_one_minus_alpha():
    torch.manual_seed(2)
    a = AttentiveGroupConv(p4(), 2, 3, 3, attention="input", bias=False, residual=False)
    a = a.double()
    r = AttentiveGroupConv(p4(), 2, 3, 3, attention="input", bias=False, residual=True).double()
    r.load_state_dict(a.state_dict())
    plain = AttentiveGroupConv(p4(), 2, 3, 3, attention=None, bias=False).double()
    plain.conv.load_state_dict(a.conv.state_dict())
    x = torch.randn(2, 2, 4, 6, 6, dtype=torch.float64)
    # (1 - alpha) f + alpha f = f, and the conv is linear
    assert torch.allclose(a(x) + r(x), plain(x), atol=1e-12)


def test_parameter_counts_match_reference_models():
    """Per-layer attention parameters that reproduce α-P4CNN / αF-P4CNN counts (SPEC §3)."""

    def extra(layer):
        return sum(p.numel() for p in layer.attention.parameters())

    g = p4()
    assert extra(AttentiveGroupConv(g, 10, 10, 3, attention="full")) == 7920
    assert extra(AttentiveLiftingConv(g, 1, 10, 3, attention="full")) == 1000
    assert extra(AttentiveGroupConv(g, 10, 10, 3, attention="input")) == 792
    assert extra(AttentiveLiftingConv(g, 1, 10, 3, attention="input")) == 100


@pytest.mark.parametrize("cls", [AttentiveLiftingConv, AttentiveGroupConv])
def test_bad_input(cls):
    layer = cls(p4(), 3, 2, 3)
    good = torch.randn(1, 3, 6, 6) if cls is AttentiveLiftingConv else torch.randn(1, 3, 4, 6, 6)
    layer(good)
    with pytest.raises(ValueError, match="channels"):
        layer(torch.randn(1, 2, *good.shape[2:]))
    if cls is AttentiveGroupConv:
        with pytest.raises(ValueError, match="group axis"):
            layer(torch.randn(1, 3, 8, 6, 6))
    with pytest.raises(ValueError, match="larger than the input"):
        layer(good[..., :2, :2])
    with pytest.raises(TypeError):
        layer(good.numpy())


def test_bad_construction():
    with pytest.raises(ValueError, match="attention"):
        AttentiveGroupConv(p4(), 3, 2, 3, attention="fancy")
    with pytest.raises(TypeError, match="attention"):
        AttentiveGroupConv(p4(), 3, 2, 3, attention=3)
    with pytest.raises(ValueError, match="samples"):  # a continuous H needs its samples
        AttentiveGroupConv(SE2(), 3, 2, 3)
    with pytest.raises(ValueError, match="reduction"):
        AttentiveGroupConv(p4(), 3, 2, 3, reduction=0)
    with pytest.raises(ValueError, match="odd"):
        AttentiveGroupConv(p4(), 3, 2, 3, attention_kernel_size=4)
    with pytest.raises(ValueError, match="in_channels"):
        AttentiveGroupConv(p4(), 0, 2, 3)

"""Theorem 1 checked for every shipped operator, every finite-stabiliser group, random signals."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gattn.attention import (
    ChannelAttention,
    FactorisedAttention,
    SequentialSignalAttention,
    SignalChannelAttention,
    SignalSpatialAttention,
    SpatialAttention,
)
from gattn.groups import E2, SE2, p4, p4m
from gattn.testing.theorem1 import Theorem1Error, check_theorem1, transform_pairs

GROUPS = {
    "p4": p4(),
    "p4m": p4m(),
    **{f"SE2_{n}": SE2(n) for n in (1, 2, 4)},
    **{f"E2_{n}": E2(n) for n in (1, 2, 4)},
}


def _pair_ops(group, c_in, c_out, lifting):
    return [
        ChannelAttention(group, c_in, c_out, 2, lifting),
        ChannelAttention(group, c_in, c_out, 1, lifting, pooling=("mean",)),
        SpatialAttention(group, c_out, 3, lifting),
        FactorisedAttention(
            ChannelAttention(group, c_in, c_out, 2, lifting),
            SpatialAttention(group, c_out, 3, lifting),
        ),
    ]


def _signal_ops(group, c, lifting):
    return [
        SignalChannelAttention(group, c, 2, lifting),
        SignalSpatialAttention(group, 3, lifting),
        SignalSpatialAttention(group, 3, lifting, dilation=2),  # official αF-P4CNN: 7, d = 4
        SignalSpatialAttention(group, 3, lifting, lifting_pool="mean"),
        SequentialSignalAttention(
            SignalChannelAttention(group, c, 2, lifting), SignalSpatialAttention(group, 3, lifting)
        ),
    ]


@pytest.mark.parametrize("gname", sorted(GROUPS))
@settings(max_examples=3, deadline=None)
@given(
    lifting=st.booleans(),
    size=st.integers(3, 8),
    c_in=st.integers(1, 3),
    c_out=st.integers(1, 2),
    seed=st.integers(0, 2**31 - 1),
)
def test_shipped_operators_satisfy_theorem1(gname, lifting, size, c_in, c_out, seed):
    group = GROUPS[gname]
    n = group.stabiliser.order
    ni = 1 if lifting else n
    torch.manual_seed(seed)
    pairs = torch.randn(2, c_out, n, c_in, ni, size, size, dtype=torch.float64)
    for op in _pair_ops(group, c_in, c_out, lifting):
        check_theorem1(op.double(), group, pairs, raise_on_failure=True)
    sig = torch.randn((2, c_in, size, size) if lifting else (2, c_in, n, size, size))
    for op in _signal_ops(group, c_in, lifting):
        check_theorem1(op.double(), group, sig.double(), raise_on_failure=True)


@pytest.mark.parametrize("gname", ["p4", "p4m", "SE2_2", "E2_2"])
def test_non_equivariant_operator_is_rejected(gname):
    group = GROUPS[gname]
    n = group.stabiliser.order
    op = ChannelAttention(group, 3, 2, 1).double()
    op.rel = torch.arange(n).expand(n, n).clone()  # W(h~) instead of W(h^{-1} h~)
    f = torch.randn(2, 2, n, 3, n, 5, 5, dtype=torch.float64)
    report = check_theorem1(op, group, f)
    assert not report.passed and report.relative > 1e-3
    with pytest.raises(Theorem1Error):
        check_theorem1(op, group, f, raise_on_failure=True)


def test_transform_pairs_is_an_action():
    """L_a L_b = L_{ab} on pair signals (so the check compares the right things)."""
    group = p4m()
    stab = group.stabiliser
    f = torch.randn(1, 2, 8, 2, 8, 5, 5, dtype=torch.float64)
    hs = stab.grid()
    a, b = hs[1], hs[5]
    ga, gb = group.embed(a, torch.float64), group.embed(b, torch.float64)
    gab = group.embed(stab.product(a, b), torch.float64)
    lhs = transform_pairs(group, ga, transform_pairs(group, gb, f))
    assert torch.equal(lhs, transform_pairs(group, gab, f))


def test_bad_arguments():
    with pytest.raises(TypeError, match="operator"):
        check_theorem1(lambda t: t, p4(), torch.randn(1, 1, 4, 3, 3))
    with pytest.raises(ValueError, match="pair"):
        check_theorem1(SpatialAttention(p4(), 1, 3), p4(), torch.randn(1, 1, 4, 3, 3))

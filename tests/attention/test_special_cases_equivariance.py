"""Equivariant generalisations of the prior mechanisms on p4 / p4m, float64, random group
signals: Theorem 1 for their operators, layer equivariance, and use inside attentive layers."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gattn.attention import AttentiveGroupConv
from gattn.attention.prior import BAM, CBAM, CoAttention, ResidualAttention, SqueezeExcitation
from gattn.groups import p4, p4m
from gattn.nn import GroupConv, LiftingConv
from gattn.testing import EquivarianceError, assert_equivariant, group_signals
from gattn.testing.theorem1 import check_theorem1

TOL = 1e-10
GROUPS = {"p4": p4, "p4m": p4m}


def _mechanisms(group, c: int, r: int) -> list[torch.nn.Module]:
    mods = [
        SqueezeExcitation(c, r, group=group),
        CBAM(c, r, kernel_size=5, group=group),
        BAM(c, r, dilation=2, group=group),
        ResidualAttention(c, reduction=r, kernel_size=3, group=group),
        CoAttention(c, r, kernel_size=3, group=group),
    ]
    return [m.double().eval() for m in mods]


def _randomise(module: torch.nn.Module, seed: int) -> None:
    """Non-trivial parameters and running statistics (no accidental symmetry)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.5)
        for m in module.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_(generator=gen)
                m.running_var.uniform_(0.5, 1.5, generator=gen)


@pytest.mark.parametrize("name", ["p4", "p4m"])
@settings(max_examples=2, deadline=None)
@given(data=st.data(), c=st.sampled_from([2, 4, 8]), r=st.sampled_from([1, 2, 4]))
def test_theorem1_and_layer_equivariance(name, data, c, r):
    group = GROUPS[name]()
    x = data.draw(group_signals(group, batch=2, channels=c, size=st.sampled_from([7, 8])))
    for i, module in enumerate(_mechanisms(group, c, r)):
        _randomise(module, i)
        report = check_theorem1(module.operator, group, x)
        assert report.relative <= TOL, (type(module).__name__, report)
        assert_equivariant(module, group, x, atol=TOL)


@pytest.mark.parametrize("name", ["p4", "p4m"])
def test_bam_train_mode_equivariant(name):
    group = GROUPS[name]()
    bam = BAM(4, 2, group=group).double().train()
    x = torch.randn(3, 4, group.stabiliser.order, 9, 9, dtype=torch.float64)
    assert_equivariant(bam, group, x, atol=TOL)


@pytest.mark.parametrize("name", ["p4", "p4m"])
def test_with_equivariant_trunk_and_conv(name):
    group = GROUPS[name]()
    n = group.stabiliser.order
    x = torch.randn(2, 3, n, 9, 9, dtype=torch.float64)
    trunk = GroupConv(group, 3, 3, 3, padding=1)
    res = ResidualAttention(3, trunk=trunk, reduction=1, kernel_size=3, group=group).double()
    assert_equivariant(res, group, x, atol=TOL)
    co = CoAttention(5, 2, conv=GroupConv(group, 3, 5, 3), group=group).double()
    assert_equivariant(co, group, x, atol=TOL)
    img = torch.randn(2, 3, 9, 9, dtype=torch.float64)
    co_lift = CoAttention(5, 2, kernel_size=3, conv=LiftingConv(group, 3, 5, 3), group=group)
    assert_equivariant(co_lift.double(), group, img, atol=TOL)


@pytest.mark.parametrize("make", [SqueezeExcitation, CBAM, BAM, ResidualAttention, CoAttention])
def test_operator_plugs_into_attentive_layer(make):
    """``AttentiveGroupConv(attention=m.operator)`` == conv after (input) / before (output) m."""
    group = p4()
    c_in, c_out = 4, 6
    channels = c_out if make is CoAttention else c_in
    m = make(channels, group=group).double().eval()
    _randomise(m, 7)
    layer = AttentiveGroupConv(group, c_in, c_out, 3, padding=1, attention=m.operator).double()
    conv = GroupConv(group, c_in, c_out, 3, padding=1).double()
    conv.load_state_dict(layer.conv.state_dict())
    x = torch.randn(2, c_in, 4, 8, 8, dtype=torch.float64)
    expected = m(conv(x)) if make is CoAttention else conv(m(x))
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-12)
    assert_equivariant(layer, group, x, atol=TOL)


def test_se_matches_loop_reference_on_p4():
    r"""Independent reference: :math:`\alpha(t) = \sigma(\sum_u W_2(t^{-1}u)\,\mathrm{relu}(
    \sum_v W_1(u^{-1}v) \bar f(v)))` with the Cayley table read off the group's own product."""
    group = p4()
    stab = group.stabiliser
    grid = stab.grid()
    inv = stab.inverse(grid)
    n = stab.order
    rel = [
        [int(stab.product(inv[t : t + 1], grid[u : u + 1])[0]) for u in range(n)] for t in range(n)
    ]
    se = SqueezeExcitation(6, 2, group=group).double()
    _randomise(se, 3)
    x = torch.randn(2, 6, n, 5, 5, dtype=torch.float64)
    s = x.mean(dim=(-2, -1))  # (B, C, n)
    w1, w2 = se.operator.w1, se.operator.w2
    z = [torch.relu(sum(s[:, :, v] @ w1[rel[u][v]].T for v in range(n))) for u in range(n)]
    alpha = torch.stack(
        [torch.sigmoid(sum(z[u] @ w2[rel[t][u]].T for u in range(n))) for t in range(n)], dim=2
    )
    torch.testing.assert_close(se(x), alpha[..., None, None] * x, rtol=0, atol=1e-12)


def test_broken_operator_is_caught():
    """Weights indexed by the absolute element v (not u^{-1} v) break equivariance: both
    checks must notice."""
    group = p4()
    se = SqueezeExcitation(4, 1, group=group).double()
    _randomise(se, 1)
    n = group.stabiliser.order
    se.operator.rel = torch.arange(n).repeat(n, 1)  # rel[t, u] = u: wrong
    x = torch.randn(2, 4, n, 7, 7, dtype=torch.float64)
    assert check_theorem1(se.operator, group, x).relative > 1e-3
    with pytest.raises(EquivarianceError):
        assert_equivariant(se, group, x, atol=TOL)

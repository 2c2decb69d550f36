"""Every attention mode on R^d x| H, d = 1, 2, 3: the attentive layers and their operators on
1-D signals (p1m), volumes (the cube groups) and groups written against the interface alone;
operators receive group, channels and layouts and declare what they read."""

from __future__ import annotations

import inspect
from pathlib import Path

import interface_groups
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import gattn.attention as attention_pkg
import gattn.nn
from gattn.attention import (
    ATTENTION_MODES,
    BAM,
    CBAM,
    AttentiveGroupConv,
    AttentiveLiftingConv,
    ChannelAttention,
    ChannelGateLogits,
    FactorisedAttention,
    SequentialSignalAttention,
    SignalChannelAttention,
    SignalSpatialAttention,
    SpatialAttention,
    SqueezeExcitation,
    build_attention,
    partial_responses,
)
from gattn.attention.prior.branches import SignalSpatialGate
from gattn.groups import (
    GroupSignal,
    Image,
    PairSignal,
    SemidirectProduct,
    cube,
    cubem,
    finite_tables,
    module_layouts,
    p1m,
    p4,
)
from gattn.testing import assert_equivariant
from gattn.testing.theorem1 import check_theorem1

F64 = torch.float64
TOL = 1e-10  # relative, float64
SPATIAL = {1: 7, 2: 5, 3: 5}  # sizes per d, small


def generators(group) -> list[torch.Tensor]:
    """Elements (0, h) whose h generate H: equivariance under them for every input implies it
    under all of H. The cube groups: 90° about z, 120° about (1, 1, 1) (and -I for O_h);
    smaller groups: every element. Checked by closing the Cayley table."""
    tables = finite_tables(group.stabiliser)
    mats = tables.matrices
    if tables.order <= 8:
        idx = list(range(tables.order))
    else:
        wanted = [
            torch.tensor([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]], dtype=F64),
            torch.tensor([[0.0, 0, 1], [1, 0, 0], [0, 1, 0]], dtype=F64),
        ]
        if tables.order == 48:
            wanted.append(-torch.eye(3, dtype=F64))
        idx = [int(((mats - w).abs().amax((1, 2)) < 1e-9).nonzero()[0, 0]) for w in wanted]
    reached = {tables.identity_index}
    while True:  # closure under right multiplication by the generators
        more = {int(tables.cayley[a, b]) for a in reached for b in idx} | reached
        if more == reached:
            break
        reached = more
    assert len(reached) == tables.order, "the chosen elements do not generate H"
    return [group.embed(tables.elements[i], dtype=F64) for i in idx]


def _layers(group, mode, c_in=2, c_out=2, kernel_size=3, stride=1, padding=1):
    kw = dict(stride=stride, padding=padding, attention=mode, attention_kernel_size=3)
    lift = AttentiveLiftingConv(group, c_in, c_out, kernel_size, **kw).double()
    grp = AttentiveGroupConv(group, c_in, c_out, kernel_size, **kw).double()
    return lift, grp


def _check_layers(group, mode, batch=1, size=None, **kw):
    d = group.stabiliser.action_dim
    order = finite_tables(group.stabiliser).order
    size = SPATIAL[d] if size is None else size
    lift, grp = _layers(group, mode, **kw)
    assert isinstance(lift.in_layout, Image) and lift.in_layout.dims == d
    assert isinstance(grp.in_layout, GroupSignal) and grp.in_layout.dims == d
    assert module_layouts(lift) == (lift.in_layout, lift.out_layout)
    c_in = lift.in_channels
    x = torch.randn(batch, c_in, *[size] * d, dtype=F64)
    s = torch.randn(batch, c_in, order, *[size] * d, dtype=F64)
    els = generators(group)
    for layer, inp in ((lift, x), (grp, s)):
        y = layer(inp)
        assert y.shape[:3] == (batch, layer.out_channels, order) and y.dim() == d + 3
        report = assert_equivariant(layer, group, inp, g=els, atol=TOL)
        assert report.relative <= TOL


# ---------------------------------------------------------------- layers, every mode, d = 1, 3
@pytest.mark.parametrize("mode", ATTENTION_MODES)
def test_every_mode_on_1d_signals_p1m(mode) -> None:
    _check_layers(p1m(), mode, batch=2, c_in=3)


@pytest.mark.parametrize("mode", ATTENTION_MODES)
def test_every_mode_on_volumes_cube(mode) -> None:
    _check_layers(cube(), mode)


def test_full_attention_on_volumes_cubem() -> None:
    _check_layers(cubem(), "full", c_in=2, c_out=1)


@pytest.mark.parametrize("mode", ATTENTION_MODES)
@pytest.mark.parametrize("name", ["ShuffledC4", "ShuffledReflection"])
def test_every_mode_with_a_group_written_against_the_interface(name, mode) -> None:
    h = getattr(interface_groups, name)()
    _check_layers(SemidirectProduct(h), mode, batch=2, size=6)


# ---------------------------------------------------------------- Hypothesis: sizes, strides
def _stride_config(size: int, stride: int) -> tuple[int, int]:
    """``(kernel, padding)`` that keep stride-2 layers exact: ``(n + 2p - k) mod s = 0``."""
    if stride == 2 and size % 2 == 0:
        return 2, 0
    return 3, 1


@settings(deadline=None)
@given(
    mode=st.sampled_from(ATTENTION_MODES),
    size=st.integers(4, 9),
    stride=st.sampled_from([1, 2]),
    c_in=st.integers(1, 3),
    c_out=st.integers(1, 3),
    seed=st.integers(0, 2**31 - 1),
)
def test_hypothesis_p1m_sizes_strides_channels(mode, size, stride, c_in, c_out, seed) -> None:
    torch.manual_seed(seed)
    k, p = _stride_config(size, stride)
    assert (size + 2 * p - k) % stride == 0
    _check_layers(
        p1m(),
        mode,
        batch=2,
        size=size,
        c_in=c_in,
        c_out=c_out,
        kernel_size=k,
        stride=stride,
        padding=p,
    )


@settings(deadline=None, max_examples=6)
@given(
    mode=st.sampled_from(["full", "input", "codomain", "channel"]),
    size=st.integers(4, 6),
    stride=st.sampled_from([1, 2]),
    c_in=st.integers(1, 2),
    seed=st.integers(0, 2**31 - 1),
)
def test_hypothesis_cube_sizes_strides_channels(mode, size, stride, c_in, seed) -> None:
    torch.manual_seed(seed)
    k, p = _stride_config(size, stride)
    _check_layers(
        cube(), mode, size=size, c_in=c_in, c_out=1, kernel_size=k, stride=stride, padding=p
    )


# ---------------------------------------------------------------- Theorem 1, every operator
def _operators(group, c_in, c_out):
    pair = {
        lifting: [
            ChannelAttention(group, c_in, c_out, 2, lifting),
            SpatialAttention(group, c_out, 3, lifting),
            FactorisedAttention(
                ChannelAttention(group, c_in, c_out, 2, lifting),
                SpatialAttention(group, c_out, 3, lifting),
            ),
        ]
        for lifting in (True, False)
    }
    signal = {
        lifting: [
            SignalChannelAttention(group, c_in, 2, lifting),
            SignalSpatialAttention(group, 3, lifting),
            SignalSpatialAttention(group, 3, lifting, dilation=2, lifting_pool="mean"),
            SequentialSignalAttention(
                SignalChannelAttention(group, c_in, 2, lifting),
                SignalSpatialAttention(group, 3, lifting),
            ),
        ]
        for lifting in (True, False)
    }
    return pair, signal


@pytest.mark.parametrize("group", [p1m(), cube()], ids=["p1m", "cube"])
def test_theorem1_every_operator_1d_3d(group) -> None:
    d = group.stabiliser.action_dim
    n = finite_tables(group.stabiliser).order
    size = SPATIAL[d]
    c_in, c_out = 2, 2
    pair, signal = _operators(group, c_in, c_out)
    els = generators(group)
    for lifting in (True, False):
        ni = 1 if lifting else n
        for op in pair[lifting]:
            op.double()
            assert op.in_layout == PairSignal(group.stabiliser, d, lifting)
            f = torch.randn(1, c_out, n, c_in, ni, *[size] * d, dtype=F64)
            assert check_theorem1(op, group, f, g_bar=els).relative <= TOL, op
        for op in signal[lifting]:
            op.double()
            want = Image if lifting else GroupSignal
            assert isinstance(op.in_layout, want) and op.in_layout.dims == d
            shape = (1, c_in) + (() if lifting else (n,)) + (size,) * d
            f = torch.randn(shape, dtype=F64)
            assert check_theorem1(op, group, f, g_bar=els).relative <= TOL, op


def test_check_theorem1_reads_the_declared_layout() -> None:
    # a lifting pair operator declares |H_in| = 1: a tensor with |H_in| = |H| is refused by the
    # declared layout (read off the rank alone it would pass as a group layer's)
    op = SpatialAttention(cube(), 1, 3, lifting=True).double()
    f = torch.randn(1, 1, 24, 1, 24, 3, 3, 3, dtype=F64)
    with pytest.raises(ValueError, match="pair signal"):
        check_theorem1(op, cube(), f)


def test_interface_group_operators_theorem1() -> None:
    for h in (interface_groups.ShuffledC4(), interface_groups.ShuffledReflection()):
        group = SemidirectProduct(h)
        d, n = h.action_dim, finite_tables(h).order
        pair, signal = _operators(group, 2, 2)
        for op in pair[False]:
            f = torch.randn(2, 2, n, 2, n, *[6] * d, dtype=F64)
            assert check_theorem1(op.double(), group, f).relative <= TOL, op
        for op in signal[False]:
            f = torch.randn(2, 2, n, *[6] * d, dtype=F64)
            assert check_theorem1(op.double(), group, f).relative <= TOL, op


# ---------------------------------------------------------------- d = 1, 3 reference path
def test_full_attention_in_3d_is_the_materialised_reference() -> None:
    torch.manual_seed(0)
    layer = AttentiveGroupConv(cube(), 2, 1, 3, padding=1, attention="full").double()
    x = torch.randn(1, 2, 24, 4, 4, 4, dtype=F64)
    conv = layer.layer_convolution()
    xs, bank = conv.pair_input(x), conv.pair_bank()
    responses = partial_responses(xs, bank, 1, 1)
    alpha = layer.attention(responses)
    want = conv.add_bias(conv.plain(x) - (alpha * responses).sum(dim=(3, 4)))  # residual form
    torch.testing.assert_close(layer(x), want, rtol=1e-12, atol=1e-12)
    layer(x).sum().backward()  # the reference path is differentiable
    assert layer.attention.spatial.weight.grad is not None


def test_full_attention_in_2d_stays_lean(monkeypatch) -> None:
    import gattn.attention.base as base

    def refuse(*args, **kwargs):
        raise AssertionError("the 2-D full attention must not materialise partial responses")

    monkeypatch.setattr(base, "partial_responses", refuse)
    layer = AttentiveGroupConv(p4(), 2, 2, 3, padding=1, attention="full")
    layer(torch.randn(1, 2, 4, 6, 6))
    with pytest.raises(AssertionError, match="materialise"):
        AttentiveGroupConv(p1m(), 2, 2, 3, padding=1, attention="full")(torch.randn(1, 2, 2, 6))


# ---------------------------------------------------------------- build_attention and layouts
def test_build_attention_takes_group_layouts_and_channels() -> None:
    g = cube()
    h = g.stabiliser
    op = build_attention("full", g, Image(3, 2), GroupSignal(h, 3, 4))
    assert op.channel.in_channels == 2 and op.channel.out_channels == 4
    assert op.in_layout == PairSignal(h, 3, lifting=True)
    op = build_attention("input", g, GroupSignal(h, 3, 2), GroupSignal(h, 3, 4))
    assert isinstance(op.in_layout, GroupSignal) and op.in_layout.channels == 2
    op = build_attention("codomain", g, Image(3, 2), GroupSignal(h, 3, 4))
    assert isinstance(op.in_layout, GroupSignal) and op.in_layout.channels == 4
    assert build_attention(None, g, Image(3, 2), GroupSignal(h, 3, 4)) is None


@pytest.mark.parametrize(
    "args, error, match",
    [
        (("full", cube(), "image", None), TypeError, "in_layout"),
        (("full", cube(), Image(2, 2), None), ValueError, "in_layout"),
        (("full", cube(), Image(3, 2), Image(3, 2)), ValueError, "out_layout"),
        (("full", cube(), Image(3), None), ValueError, "in_channels"),
        (("full", cube(), Image(3, 2), None, 3), ValueError, "disagrees"),
    ],
)
def test_build_attention_bad_layouts(args, error, match) -> None:
    args = list(args)
    if args[3] is None:
        args[3] = GroupSignal(cube().stabiliser, 3, 4)
    with pytest.raises(error, match=match):
        build_attention(*args)


def test_operator_instance_of_another_dimension_is_refused() -> None:
    op = SignalSpatialAttention(p4(), 3)
    with pytest.raises(ValueError, match="3-dimensional"):
        AttentiveGroupConv(cube(), 2, 2, 3, attention=op)


def test_attentive_layers_refuse_per_axis_strides() -> None:
    with pytest.raises(ValueError, match="stride"):
        AttentiveLiftingConv(cube(), 2, 2, 3, stride=(1, 2, 1))


def test_attentive_layers_check_inputs_by_their_layout() -> None:
    layer = AttentiveGroupConv(p1m(), 2, 2, 3, padding=1)
    with pytest.raises(ValueError, match="AttentiveGroupConv.*group signal"):
        layer(torch.randn(1, 2, 2, 5, 5))  # a 2-D group signal for a 1-D layer


# ---------------------------------------------------------------- prior modules stay 2-D
@pytest.mark.parametrize(
    "build",
    [
        lambda g: CBAM(4, group=g),
        lambda g: BAM(4, group=g),
        lambda g: SqueezeExcitation(4, group=g),
        lambda g: ChannelGateLogits(g, 4),
        lambda g: SignalSpatialGate(g, 3),
    ],
)
@pytest.mark.parametrize("group", [p1m(), cube()], ids=["p1m", "cube"])
def test_prior_modules_refuse_other_dimensions(build, group) -> None:
    with pytest.raises(ValueError, match="2-D only"):
        build(group)


# ---------------------------------------------------------------- one stabiliser accessor
def test_attention_uses_the_one_stabiliser_accessor() -> None:
    assert not hasattr(gattn.nn, "stabiliser_of")
    assert "stabiliser_of" not in gattn.nn.conv.__all__
    root = Path(inspect.getfile(attention_pkg)).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        assert "nn.conv import stabiliser_of" not in text, path
        assert "isinstance(group, SemidirectProduct)" not in text, path
        assert "relative_indices" not in text, path

"""Attentive convolutions and their attention operators on a continuous (sampled) H.

Every attention mode of the attentive layers on SE(2) with 8 samples and E(2) with 4 rotations
x mirror: exact equivariance (float64, relative error <= 1e-10) under a 90-degree rotation (and
a mirror) composed with an integer translation, Theorem 1 for the operators under the same
elements, the lean evaluation against the materialising reference, and the errors. The
elements act through the layers' declared layouts (their samples included).
"""

from __future__ import annotations

import math

import pytest
import torch

from gattn.attention import (
    ATTENTION_MODES,
    AttentiveGroupConv,
    AttentiveLiftingConv,
    ChannelAttention,
    FactorisedAttention,
    PairAttention,
    SignalChannelAttention,
    SignalSpatialAttention,
    SpatialAttention,
    build_attention,
)
from gattn.groups import E2, SE2, SE3, GroupSignal, Image, PairSignal, Sim2, p4
from gattn.nn import FieldBank, FieldConfig, HSamples, KernelTransform, resample

TOL = 1e-10
SMALL = FieldConfig(width=8, depth=1)


def _rot(group, angle: float, t=(0.0, 0.0), mirror: bool = False) -> torch.Tensor:
    """``(t, h)`` for SE(2) (angle) or E(2) ((angle, mirror flag))."""
    if group is SE2():
        return torch.tensor([*t, angle], dtype=torch.float64)
    return torch.tensor([*t, angle, float(mirror)], dtype=torch.float64)


CASES = {
    "SE2": (SE2(), 8, [_rot(SE2(), math.pi / 2, (1.0, -2.0))]),
    "E2": (
        E2(),
        4,  # 4 rotations x the mirror: 8 samples
        [_rot(E2(), math.pi / 2, (1.0, 2.0)), _rot(E2(), 0.0, (-1.0, 0.0), mirror=True)],
    ),
}


def _margin(x: torch.Tensor, m: int) -> torch.Tensor:
    """``x`` with its outer ``m`` pixels zeroed (an integer translation by <= m loses nothing)."""
    mask = torch.zeros(x.shape[-2:], dtype=x.dtype)
    mask[m:-m, m:-m] = 1
    return x * mask


def _crop(x: torch.Tensor, m: int) -> torch.Tensor:
    return x[..., m:-m, m:-m] if m else x


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


pytestmark = pytest.mark.usefixtures("float64_default")  # tests/conftest.py


def _layer(cls, group, samples, mode, **kw):
    return cls(
        group,
        3,
        4,
        3,
        padding=1,
        attention=mode,
        samples=samples,
        attention_kernel_size=3,
        bias=False,
        field=SMALL,
        **kw,
    )


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("mode", ATTENTION_MODES)
@pytest.mark.parametrize("lifting", [True, False], ids=["lifting", "group"])
def test_attentive_layers_exactly_equivariant(name, mode, lifting):
    """L_g commutes with every attentive layer for a rotation / mirror that permutes the
    samples, composed with an integer translation (input zero near the border, no bias: the
    translation loses nothing, so the whole output is compared)."""
    group, n, elements = CASES[name]
    torch.manual_seed(0)
    samples = HSamples(group, n)
    cls = AttentiveLiftingConv if lifting else AttentiveGroupConv
    layer = _layer(cls, group, samples, mode)
    assert layer.out_layout.samples is samples and layer.samples is samples
    shape = (2, 3, 13, 13) if lifting else (2, 3, samples.order, 13, 13)
    x = _margin(torch.randn(shape), 4)
    with torch.no_grad():
        y = layer(x)
        for g in elements:
            lhs = layer(layer.in_layout.act(group, g, x))
            rhs = layer.out_layout.act(group, g, y)
            assert _relative(lhs, rhs) <= TOL, (name, mode, g)
        # a 45-degree rotation does not map E(2)'s 4 rotations x mirror onto themselves: the
        # layout refuses it rather than give a wrong answer
        if name == "E2":
            with pytest.raises(ValueError, match="onto themselves"):
                layer.out_layout.act(group, _rot(group, math.pi / 4), y)


@pytest.mark.parametrize("mode", ["full", "channel", "spatial"])
def test_field_operators_replace_tables(mode):
    """With samples the spatial kernel psi_X is a FieldBank on the layer's samples and the
    channel weights are fields; the finite default keeps pixel kernels and index tables."""
    torch.manual_seed(0)
    samples = HSamples(SE2(), 8)
    layer = _layer(AttentiveGroupConv, SE2(), samples, mode)
    finite = AttentiveGroupConv(p4(), 3, 4, 3, padding=1, attention=mode, attention_kernel_size=3)
    op, op_finite = layer.attention, finite.attention
    if mode != "channel":
        assert isinstance(op.spatial.transform, FieldBank) and op.spatial.weight is None
        assert op.spatial.transform.samples is samples
        assert isinstance(op_finite.spatial.transform, KernelTransform)
    if mode != "spatial":
        assert op.channel.uses_field and op.channel.w1 is None
        assert not op_finite.channel.uses_field and op_finite.channel.rel is not None
    assert op.in_layout == PairSignal(SE2().stabiliser, 2, False, samples=samples)


def test_finite_group_with_field_kernel():
    """A finite H with kernel='field' runs every operator on HSamples of all its elements."""
    torch.manual_seed(0)
    g = torch.tensor([2.0, -1.0, 1.0])  # p4: (x, y, quarter turns)
    for mode in ("full", "input"):
        layer = AttentiveGroupConv(
            p4(), 2, 3, 3, padding=1, attention=mode, kernel="field", bias=False, field=SMALL
        )
        assert isinstance(layer.samples, HSamples) and layer.samples.order == 4
        x = _margin(torch.randn(1, 2, 4, 11, 11), 3)
        with torch.no_grad():
            lhs = layer(layer.in_layout.act(p4(), g, x))
            rhs = layer.out_layout.act(p4(), g, layer(x))
        assert _relative(lhs, rhs) <= TOL


@pytest.mark.parametrize("lifting", [True, False], ids=["lifting", "group"])
@pytest.mark.parametrize("factors", ["full", "channel", "spatial"])
def test_lean_matches_reference_on_samples(lifting, factors):
    """The lean d = 2 evaluation equals the materialising reference, outputs and gradients of
    the fields."""
    torch.manual_seed(1)
    samples = HSamples(E2(), 2)
    cls = AttentiveLiftingConv if lifting else AttentiveGroupConv
    layer = _layer(cls, E2(), samples, factors)
    op = layer.attention
    x = torch.randn((2, 3, 9, 9) if lifting else (2, 3, samples.order, 9, 9), requires_grad=True)
    conv = layer.layer_convolution()
    args = (conv.pair_input(x), conv.pair_bank(), conv.stride, conv.padding)
    lean = op.attentive_conv(*args)
    ref = PairAttention.attentive_conv(op, *args)
    assert _relative(lean, ref) <= TOL
    params = [p for p in op.parameters()] + [x]
    g_lean = torch.autograd.grad(lean.pow(2).sum(), params)
    g_ref = torch.autograd.grad(ref.pow(2).sum(), params)
    for a, b in zip(g_lean, g_ref):
        assert _relative(a, b) <= 1e-9
    assert all(float(g.abs().max()) > 0 for g in g_lean)


def _operators(group, samples, lifting):
    """Every shipped operator built on ``samples``, with its input layout."""
    n_in = 1 if lifting else samples.order
    kw = {"samples": samples, "field": SMALL}
    pairs = [
        ChannelAttention(group, 3, 2, 1, lifting, **kw),
        SpatialAttention(group, 2, 3, lifting, **kw),
        FactorisedAttention(
            ChannelAttention(group, 3, 2, 1, lifting, **kw),
            SpatialAttention(group, 2, 3, lifting, **kw),
        ),
    ]
    signals = [
        SignalChannelAttention(group, 3, 1, lifting, **kw),
        SignalSpatialAttention(group, 3, lifting, **kw),
        SignalSpatialAttention(group, 3, lifting, lifting_pool="mean", **kw),
    ]
    pair_shape = (2, 2, samples.order, 3, n_in, 11, 11)
    signal_shape = (2, 3, 11, 11) if lifting else (2, 3, samples.order, 11, 11)
    return [(op, pair_shape) for op in pairs] + [(op, signal_shape) for op in signals]


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("lifting", [True, False], ids=["lifting", "group"])
def test_theorem1_for_operators_on_samples(name, lifting):
    r"""A[L_g f] = L_g A[f] for each operator (alpha broadcast to f's shape, both as the
    declared layout): f zero within 3 pixels of the border, compared away from the border
    (where the spatial kernel of radius 1 sees only the signal, before and after)."""
    group, n, elements = CASES[name]
    torch.manual_seed(2)
    samples = HSamples(group, n)
    for op, shape in _operators(group, samples, lifting):
        lay = op.in_layout
        if isinstance(lay, PairSignal):
            assert lay.samples is samples and lay.lifting == lifting
        elif not lifting:
            assert isinstance(lay, GroupSignal) and lay.samples is samples
        else:
            assert isinstance(lay, Image)
        f = _margin(torch.randn(shape), 3)
        with torch.no_grad():
            alpha = op(f).expand(f.shape).contiguous()
            for g in elements:
                lhs = op(lay.act(group, g, f)).expand(f.shape)
                rhs = lay.act(group, g, alpha)
                assert _relative(_crop(lhs, 3), _crop(rhs, 3)) <= TOL, (type(op).__name__, g)


def test_theorem1_check_fails_for_a_non_relative_weight(monkeypatch):
    """The Theorem-1 comparison above detects an operator that is not equivariant: channel
    weights of features(h_i) instead of features(h_i^{-1} h_j) break it."""
    import gattn.attention.channel as channel

    def absolute(samples):
        h = samples.elements
        feats = samples.stabiliser.features(h).reshape(h.shape[0], -1).double()
        return feats[:, None].expand(h.shape[0], h.shape[0], feats.shape[-1])

    torch.manual_seed(2)
    group, n, elements = CASES["SE2"]
    samples = HSamples(group, n)
    monkeypatch.setattr(channel, "relative_features", absolute)
    op = ChannelAttention(group, 3, 2, 1, False, samples=samples, field=SMALL)
    f = torch.randn(2, 2, 8, 3, 8, 5, 5)
    with torch.no_grad():
        lhs = op(op.in_layout.act(group, elements[0], f))
        rhs = op.in_layout.act(group, elements[0], op(f).expand(f.shape).contiguous())
    assert _relative(lhs.expand(f.shape), rhs) > 1e-3


def test_monte_carlo_samples_are_read_every_forward():
    """Redrawn Monte-Carlo samples change the operators' fields (evaluated per forward); eval
    mode restores the grid."""
    torch.manual_seed(3)
    samples = HSamples(SE2(), 6, monte_carlo=True, seed=0)
    layer = _layer(AttentiveGroupConv, SE2(), samples, "full")
    x = torch.randn(1, 3, 6, 9, 9)
    layer.eval()
    resample(layer)
    with torch.no_grad():
        y_grid = layer(x)
        layer.train()
        resample(layer)
        y_mc = layer(x)
        kernels = layer.attention.spatial.rotated_kernels()
        layer.eval()
        resample(layer)
        assert not torch.allclose(y_mc, y_grid)
        assert not torch.allclose(kernels, layer.attention.spatial.rotated_kernels())
        assert torch.equal(layer(x), y_grid)


def test_sim2_full_attention_exact_under_rotation():
    """Sim(2), 4 rotations x 2 scales: the 90-degree rotation (with a translation) permutes
    the samples; the attentive group convolution commutes with it."""
    group = Sim2(scales=2)
    torch.manual_seed(4)
    samples = HSamples(group, 8)
    g = group.join(torch.tensor([1.0, -1.0]), torch.tensor([math.pi / 2, 0.0]))  # scale 1
    for mode in ("full", "input"):
        layer = _layer(AttentiveGroupConv, group, samples, mode)
        x = _margin(torch.randn(1, 3, 8, 13, 13), 4)
        with torch.no_grad():
            lhs = layer(layer.in_layout.act(group, g, x))
            rhs = layer.out_layout.act(group, g, layer(x))
        assert _relative(lhs, rhs) <= TOL, mode


def test_se3_full_attention_exact_on_a_volume():
    """SE(3) with 24 samples (the cube's rotations are among them): full attention on a small
    volume (the d = 3 reference evaluation) commutes with a quarter turn."""
    group = SE3()
    torch.manual_seed(5)
    samples = HSamples(group, 24)
    matrices = group.stabiliser.matrix(samples.elements)
    quarter = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    k = int(((matrices - quarter).abs().amax((1, 2)) < 1e-12).nonzero()[0])
    g = group.embed(samples.elements[k])
    layer = AttentiveGroupConv(
        group, 2, 2, 3, padding=1, samples=samples, attention_kernel_size=3, field=SMALL
    )
    x = torch.randn(1, 2, 24, 5, 5, 5)
    with torch.no_grad():
        lhs = layer(layer.in_layout.act(group, g, x))
        rhs = layer.out_layout.act(group, g, layer(x))
    assert _relative(lhs, rhs) <= TOL


# ---------------------------------------------------------------------------- errors


def test_continuous_group_without_samples_is_refused():
    for make in (
        lambda: AttentiveLiftingConv(SE2(), 3, 2, 3),
        lambda: AttentiveGroupConv(E2(), 3, 2, 3, attention="input"),
        lambda: ChannelAttention(SE2(), 3, 2),
        lambda: SpatialAttention(SE2(), 2),
        lambda: SignalChannelAttention(E2(), 3),
        lambda: SignalSpatialAttention(SE2(), 3),
    ):
        with pytest.raises(ValueError, match="samples"):
            make()
    elements = HSamples(SE2(), 8).elements  # a layout's bare tensor: not a shared HSamples
    with pytest.raises(TypeError, match="HSamples"):
        build_attention("full", SE2(), Image(2, 3), GroupSignal(SE2().stabiliser, 2, 2, elements))
    with pytest.raises(ValueError, match="kernel='field'"):
        AttentiveGroupConv(p4(), 3, 2, 3, samples=HSamples(p4()), kernel="pixel")


def test_samples_of_another_group_are_refused():
    other = HSamples(E2(), 4)
    with pytest.raises(ValueError, match="samples are of O\\(2\\)"):
        AttentiveGroupConv(SE2(), 3, 2, 3, samples=other)
    with pytest.raises(ValueError, match="samples are of O\\(2\\)"):
        SpatialAttention(SE2(), 2, samples=other)
    with pytest.raises(TypeError, match="samples"):
        ChannelAttention(SE2(), 3, 2, samples="eight")


def test_operators_on_other_samples_are_refused():
    a, b = HSamples(SE2(), 8), HSamples(SE2(), 8)
    with pytest.raises(ValueError, match="same HSamples"):
        FactorisedAttention(
            ChannelAttention(SE2(), 3, 2, samples=a), SpatialAttention(SE2(), 2, samples=b)
        )
    op = FactorisedAttention(None, SpatialAttention(SE2(), 4, 3, samples=b))
    with pytest.raises(ValueError, match="other H samples"):
        AttentiveGroupConv(SE2(), 3, 4, 3, samples=a, attention=op)
    # the layer's own samples are fine
    layer = AttentiveGroupConv(SE2(), 3, 4, 3, samples=b, attention=op, padding=1)
    assert layer(torch.randn(1, 3, 8, 7, 7)).shape == (1, 4, 8, 7, 7)
    stab = SE2().stabiliser
    with pytest.raises(ValueError, match="different H samples"):
        build_attention(
            "full", SE2(), GroupSignal(stab, 2, 3, samples=a), GroupSignal(stab, 2, 4, samples=b)
        )
    with pytest.raises(TypeError, match="field"):
        SpatialAttention(SE2(), 2, samples=a, field={"width": 4})


def test_testing_tools_read_the_sampled_layouts():
    """gattn.testing's Theorem-1 check and assert_equivariant take the operators' and layers'
    declared layouts over the samples (elements that permute the samples, tested exactly)."""
    from gattn.testing import assert_equivariant, check_theorem1

    torch.manual_seed(6)
    samples = HSamples(E2(), 2)
    layer = _layer(AttentiveGroupConv, E2(), samples, "full")
    report = check_theorem1(layer.attention, E2(), torch.randn(1, 4, 4, 3, 4, 9, 9))
    assert report.passed and len(report.per_element) >= 2
    assert_equivariant(layer, E2(), torch.randn(1, 3, 4, 9, 9))

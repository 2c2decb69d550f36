"""CBAM and BAM as drop-ins for *trained* released modules: timm's ``CbamModule`` and the
original authors' ``CBAM`` / ``BAM`` (``Jongchan/attention-module``).

timm cannot be installed beside our torch, so the references below are written from the
published formulas with exactly the released modules' parameter names and state-dict layout
(docs/special_cases.md lists the facts): timm's ``channel.fc1/fc2`` (``1 x 1`` convs),
``spatial.conv.conv`` + ``spatial.conv.bn`` with statistics [mean, max]; the authors'
``ChannelGate.mlp.1/3`` (biased linears), ``SpatialGate.spatial.conv/bn`` (BN momentum 0.01)
with statistics [max, mean]; BAM's ``channel_att.gate_c`` (BN on the hidden layer) and
``spatial_att.gate_s``, combined ``1 + sigmoid(channel * spatial)``. Their state dicts are
loaded into gattn's modules and the outputs compared in float64 (1e-12), eval mode with
non-trivial running statistics and train mode (running statistics then move alike).
"""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from gattn.attention import AttentiveGroupConv
from gattn.attention.prior import (
    BAM,
    CBAM,
    ParallelSignalAttention,
    SignalSpatialGate,
    load_authors_bam,
    load_authors_cbam,
    load_timm_cbam,
)
from gattn.groups import p4, p4m
from gattn.groups.signals import transform_image
from gattn.nn import GroupConv
from gattn.testing import assert_equivariant, group_signals
from gattn.testing.theorem1 import check_theorem1

TOL = 1e-12
EQ_TOL = 1e-10
GROUPS = {"p4": p4, "p4m": p4m}
F64 = torch.float64


# --------------------------------------------------------------------------- references


class TimmChannelAttn(nn.Module):
    """timm ``ChannelAttn``: x * sigmoid(fc2(relu(fc1(avg))) + fc2(relu(fc1(max))))."""

    def __init__(self, c: int, hid: int, bias: bool) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(c, hid, 1, bias=bias)
        self.act = nn.ReLU()
        self.fc2 = nn.Conv2d(hid, c, 1, bias=bias)
        self.gate = nn.Sigmoid()

    def forward(self, x):
        mlp = lambda s: self.fc2(self.act(self.fc1(s)))  # noqa: E731
        return x * self.gate(mlp(x.mean((2, 3), keepdim=True)) + mlp(x.amax((2, 3), keepdim=True)))


class ConvBn(nn.Module):
    """timm ``ConvNormAct(apply_act=False)`` / the authors' ``BasicConv(relu=False)``: conv, bn."""

    def __init__(self, k: int, momentum: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, k, padding=k // 2, bias=False)
        self.bn = nn.BatchNorm2d(1, eps=1e-5, momentum=momentum)

    def forward(self, x):
        return self.bn(self.conv(x))


class TimmSpatialAttn(nn.Module):
    """timm ``SpatialAttn``: x * sigmoid(bn(conv(cat[mean_c, max_c])))."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.conv = ConvBn(k, 0.1)
        self.gate = nn.Sigmoid()

    def forward(self, x):
        s = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * self.gate(self.conv(s))


class TimmCbam(nn.Module):
    def __init__(self, c: int, hid: int, bias: bool = False, k: int = 7) -> None:
        super().__init__()
        self.channel = TimmChannelAttn(c, hid, bias)
        self.spatial = TimmSpatialAttn(k)

    def forward(self, x):
        return self.spatial(self.channel(x))


class HardGate(nn.Module):
    def forward(self, x):
        return torch.clamp(x / 6 + 0.5, 0, 1)


class AuthorsChannelGate(nn.Module):
    """Authors' ``ChannelGate``: x * sigmoid(mlp(avgpool) + mlp(maxpool)), mlp biased."""

    def __init__(self, c: int, r: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Flatten(), nn.Linear(c, c // r), nn.ReLU(), nn.Linear(c // r, c)
        )
        self.pool_types = ["avg", "max"]

    def forward(self, x):
        att = self.mlp(x.mean((2, 3))) + self.mlp(x.amax((2, 3)))
        return x * torch.sigmoid(att)[:, :, None, None]


class AuthorsSpatialGate(nn.Module):
    """Authors' ``SpatialGate``: ChannelPool = cat(max_c, mean_c), BasicConv (BN momentum 0.01)."""

    def __init__(self) -> None:
        super().__init__()
        self.spatial = ConvBn(7, 0.01)

    def forward(self, x):
        s = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial(s))


class AuthorsCbam(nn.Module):
    def __init__(self, c: int, r: int = 16) -> None:
        super().__init__()
        self.ChannelGate = AuthorsChannelGate(c, r)
        self.SpatialGate = AuthorsSpatialGate()

    def forward(self, x):
        return self.SpatialGate(self.ChannelGate(x))


class AuthorsBam(nn.Module):
    """Authors' ``BAM``: 1 + sigmoid(channel_att(x) * spatial_att(x)), times x."""

    def __init__(self, c: int, r: int = 16, n: int = 2, d: int = 4) -> None:
        super().__init__()
        h = c // r
        self.channel_att = nn.Module()
        self.channel_att.gate_c = nn.Sequential(
            OrderedDict(
                flatten=nn.Flatten(),
                gate_c_fc_0=nn.Linear(c, h),
                gate_c_bn_1=nn.BatchNorm1d(h),
                gate_c_relu_1=nn.ReLU(),
                gate_c_fc_final=nn.Linear(h, c),
            )
        )
        layers = OrderedDict(
            gate_s_conv_reduce0=nn.Conv2d(c, h, 1),
            gate_s_bn_reduce0=nn.BatchNorm2d(h),
            gate_s_relu_reduce0=nn.ReLU(),
        )
        for i in range(n):
            layers[f"gate_s_conv_di_{i}"] = nn.Conv2d(h, h, 3, padding=d, dilation=d)
            layers[f"gate_s_bn_di_{i}"] = nn.BatchNorm2d(h)
            layers[f"gate_s_relu_di_{i}"] = nn.ReLU()
        layers["gate_s_conv_final"] = nn.Conv2d(h, 1, 1)
        self.spatial_att = nn.Module()
        self.spatial_att.gate_s = nn.Sequential(layers)

    def forward(self, x):
        mc = self.channel_att.gate_c(x.mean((2, 3)))[:, :, None, None]
        ms = self.spatial_att.gate_s(x)
        return (1 + torch.sigmoid(mc * ms)) * x


def randomise(module: nn.Module, seed: int) -> nn.Module:
    """float64, random parameters, non-trivial running statistics and batch counters."""
    module.double()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=F64) * 0.5)
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen, dtype=F64) + 0.5)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen, dtype=F64))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen, dtype=F64) + 0.5)
                m.num_batches_tracked.fill_(7)
    return module


def _x(c: int, size: int = 11, batch: int = 4, seed: int = 1, width: int | None = None):
    gen = torch.Generator().manual_seed(seed)
    offsets = 2 * torch.randn(batch, c, 1, 1, generator=gen, dtype=F64)
    return torch.randn(batch, c, size, width or size, generator=gen, dtype=F64) + offsets


def _bns(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def _err(a, b) -> float:
    return float((a - b).detach().abs().max())


def _compare(ref: nn.Module, ours: nn.Module, x, train: bool) -> None:
    """Outputs equal; in train mode the running statistics then move identically."""
    ref.train(train)
    ours.train(train)
    with torch.no_grad():
        assert _err(ours(x), ref(x)) <= TOL
    ref_bn, our_bn = _bns(ref), _bns(ours)
    assert len(ref_bn) == len(our_bn)
    for a, b in zip(our_bn, ref_bn):
        assert a.momentum == b.momentum and a.eps == b.eps
        assert _err(a.running_mean, b.running_mean) <= TOL
        assert _err(a.running_var, b.running_var) <= TOL
        assert int(a.num_batches_tracked) == int(b.num_batches_tracked)


# --------------------------------------------------------------------------- timm CBAM


TIMM_CONFIGS = [  # (channels, hidden, bias, kernel): hidden as timm's make_divisible rounds it
    (32, 2, False, 7),
    (24, 2, False, 7),  # 24 / 16 = 1.5 rounds to 2 (not gattn's 24 // 16 = 1)
    (40, 5, True, 7),  # mlp_bias=True
    (16, 3, False, 5),  # rd_channels=3, spatial_kernel_size=5
]


def test_timm_state_dict_keys_are_timms():
    """The reference has exactly timm's CbamModule keys (recorded in docs/special_cases.md)."""
    assert list(TimmCbam(32, 2).state_dict()) == [
        "channel.fc1.weight",
        "channel.fc2.weight",
        "spatial.conv.conv.weight",
        "spatial.conv.bn.weight",
        "spatial.conv.bn.bias",
        "spatial.conv.bn.running_mean",
        "spatial.conv.bn.running_var",
        "spatial.conv.bn.num_batches_tracked",
    ]


@pytest.mark.parametrize("c,hid,bias,k", TIMM_CONFIGS)
@pytest.mark.parametrize("train", [False, True])
def test_timm_cbam_state_dict_loads_and_matches(c, hid, bias, k, train):
    ref = randomise(TimmCbam(c, hid, bias, k), seed=c)
    ours = CBAM.from_timm(ref.state_dict())
    assert ours.operator.operators[0].hidden == hid
    assert next(ours.parameters()).dtype == F64
    spatial = ours.operator.operators[1]
    assert isinstance(spatial, SignalSpatialGate) and spatial.spatial_pool_order == ("mean", "max")
    x = _x(c, size=10)
    _compare(ref, ours, x, train)
    _compare(ref, ours, _x(c, size=9, seed=2, width=13), train)  # non-square too
    assert _err(ours(x.unsqueeze(2)).squeeze(2), ref(x)) <= TOL  # (B, C, 1, Y, X) layout


def test_timm_cbam_from_module_takes_its_settings():
    ref = randomise(TimmCbam(16, 4), seed=3)
    ref.spatial.conv.bn.momentum = 0.3
    ref.eval()
    ours = load_timm_cbam(ref)
    assert not ours.training  # the module's mode
    assert ours.operator.operators[1].bn.momentum == 0.3
    _compare(ref, ours, _x(16), train=True)
    # inside a larger state dict, with a prefix (a state dict: timm's default momentum)
    ref.spatial.conv.bn.momentum = 0.1
    net = nn.Sequential(OrderedDict(stem=nn.Conv2d(3, 16, 1), attn=ref)).double()
    again = CBAM.from_timm(net.state_dict(), prefix="attn.")
    _compare(ref, again, _x(16, seed=4), train=False)
    again = CBAM.from_timm(net, prefix="attn.")  # a module with a prefix
    _compare(ref, again, _x(16, seed=4), train=False)


def test_timm_wrong_variants_mismatch():
    """The comparison can fail: without the batch norm, or with the other statistics order,
    the same weights give different outputs."""
    ref = randomise(TimmCbam(16, 4), seed=5).eval()
    ours = CBAM.from_timm(ref.state_dict()).eval()
    x = _x(16)
    assert _err(ours(x), ref(x)) <= TOL
    plain = CBAM(16, hidden_channels=4).double().eval()  # gattn's old CBAM: no batch norm
    flipped = CBAM(16, hidden_channels=4, norm="batch", spatial_pool_order=("max", "mean"))
    flipped.double().eval()
    for other in (plain, flipped):
        other.load_state_dict(ours.state_dict(), strict=False)
        assert _err(other(x), ref(x)) > 1e-3


# --------------------------------------------------------------------------- authors' CBAM


@pytest.mark.parametrize("c,r", [(32, 16), (16, 4), (24, 16)])
@pytest.mark.parametrize("train", [False, True])
def test_authors_cbam_matches(c, r, train):
    ref = randomise(AuthorsCbam(c, r), seed=c + r)
    ours = CBAM.from_authors(ref.state_dict())
    spatial = ours.operator.operators[1]
    assert spatial.spatial_pool_order == ("max", "mean") and spatial.bn.momentum == 0.01
    _compare(ref, ours, _x(c), train)


def test_authors_cbam_checkpoint_layout():
    """A DataParallel checkpoint (``module.`` prefix, no ``num_batches_tracked`` as saved by
    PyTorch 0.4) loads with the block's prefix; a module source gives its BN settings."""
    ref = randomise(AuthorsCbam(32, 16), seed=9).eval()
    state = {
        "module.layer1.0.cbam." + k: v
        for k, v in ref.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    state["module.conv1.weight"] = torch.zeros(3, dtype=F64)
    ours = load_authors_cbam(state, prefix="module.layer1.0.cbam.").eval()
    x = _x(32)
    assert _err(ours(x), ref(x)) <= TOL
    assert int(ours.operator.operators[1].bn.num_batches_tracked) == 0
    ref.SpatialGate.spatial.bn.momentum = 0.2
    assert load_authors_cbam(ref).operator.operators[1].bn.momentum == 0.2


def test_authors_pool_order_matters():
    ref = randomise(AuthorsCbam(16, 4), seed=11).eval()
    ours = CBAM.from_authors(ref).eval()
    wrong = CBAM(16, hidden_channels=4, bias=True, norm="batch").double().eval()  # [mean, max]
    wrong.load_state_dict(ours.state_dict())
    x = _x(16)
    assert _err(ours(x), ref(x)) <= TOL
    assert _err(wrong(x), ref(x)) > 1e-3


# --------------------------------------------------------------------------- authors' BAM


@pytest.mark.parametrize("c,r,n,d", [(32, 16, 2, 4), (16, 4, 1, 2), (48, 16, 2, 4)])
@pytest.mark.parametrize("train", [False, True])
def test_authors_bam_matches(c, r, n, d, train):
    ref = randomise(AuthorsBam(c, r, n, d), seed=c + n)
    source = ref if d != 4 else ref.state_dict()  # a state dict: the authors' dilation 4
    ours = BAM.from_authors(source)
    parallel = ours.operator.operator
    assert parallel.combine == "product" and parallel.branches[0].norm_position == "hidden"
    ours.train(True)
    _compare(ref, ours, _x(c, size=12), train)


def test_authors_bam_explicit_dilation_and_prefix():
    ref = randomise(AuthorsBam(16, 4, 2, 3), seed=2).eval()
    state = {"module.bam1." + k: v for k, v in ref.state_dict().items()}
    ours = load_authors_bam(state, prefix="module.bam1.", dilation=3).eval()
    x = _x(16, size=12)
    assert _err(ours(x), ref(x)) <= TOL
    assert _err(load_authors_bam(state, prefix="module.bam1.").eval()(x), ref(x)) > 1e-6


# --------------------------------------------------------------------------- BAM's combinations


@pytest.mark.parametrize("combine", ["sum", "product"])
@pytest.mark.parametrize("channel_norm", ["output", "hidden"])
def test_bam_combine_against_formula(combine, channel_norm):
    """weights = 1 + sigmoid(Mc + Ms) (paper) or 1 + sigmoid(Mc * Ms) (authors' code)."""
    bam = randomise(BAM(16, 4, dilation=2, combine=combine, channel_norm=channel_norm), 1).eval()
    channel, spatial = bam.operator.operator.branches
    x = _x(16, size=10)
    mc, ms = channel(x.unsqueeze(2)), spatial(x.unsqueeze(2))
    assert mc.shape == (4, 16, 1, 1, 1) and ms.shape == (4, 1, 1, 10, 10)
    z = mc + ms if combine == "sum" else mc * ms
    expected = (1 + torch.sigmoid(z)).squeeze(2)
    assert _err(bam.weights(x), expected) <= TOL
    assert _err(bam(x), expected * x) <= TOL
    # the hidden-layer norm: fc2(relu(bn(fc1(mean)))); the output norm: bn(fc2(relu(fc1(mean))))
    pooled = x.unsqueeze(2).mean(dim=(-2, -1), keepdim=True)
    if channel_norm == "hidden":
        ref_mc = channel.fc2(torch.relu(channel.bn(channel.fc1(pooled))))
    else:
        ref_mc = channel.bn(channel.fc2(torch.relu(channel.fc1(pooled))))
    assert _err(mc, ref_mc) <= TOL


def test_bam_default_is_the_paper_sum():
    bam = BAM(8, 2)
    assert bam.operator.operator.combine == "sum"
    assert bam.operator.operator.branches[0].norm_position == "output"


# --------------------------------------------------------------------------- p4 / p4m


def _lifted_reference(ref: nn.Module, group, x):
    """out[:, :, h] = L_h ref(L_h^{-1} x[:, :, h]), every slice in one batch (so the reference's
    train-mode statistics are over the batch, H and space, like GroupBatchNorm's)."""
    n = group.stabiliser.order
    b = x.shape[0]
    frames = []
    for h in range(n):
        inv = group.embed(group.stabiliser.inverse(torch.tensor(h)), dtype=F64)
        frames.append(transform_image(group, inv, x[:, :, h]))
    y = ref(torch.cat(frames, dim=0))
    outs = [
        transform_image(group, group.embed(torch.tensor(h), dtype=F64), y[h * b : (h + 1) * b])
        for h in range(n)
    ]
    return torch.stack(outs, dim=2)


@pytest.mark.parametrize("name", ["p4", "p4m"])
@pytest.mark.parametrize("train", [False, True])
@pytest.mark.parametrize("source", ["timm", "authors_cbam", "authors_bam"])
def test_loaded_on_group_is_the_trained_module_in_every_frame(name, train, source):
    group = GROUPS[name]()
    if source == "timm":
        ref, load = randomise(TimmCbam(8, 2, True, 5), 1), load_timm_cbam
    elif source == "authors_cbam":
        ref, load = randomise(AuthorsCbam(8, 4), 2), load_authors_cbam
    else:
        ref, load = randomise(AuthorsBam(8, 4, 1, 2), 3), load_authors_bam
    ours = load(ref, group=group)
    x = torch.randn(3, 8, group.stabiliser.order, 9, 9, dtype=F64)
    ref.train(train)
    ours.train(train)
    with torch.no_grad():
        assert _err(ours(x), _lifted_reference(ref, group, x)) <= TOL
    assert_equivariant(ours, group, x, atol=EQ_TOL)


def _variants(group, c: int, r: int) -> list[nn.Module]:
    mods = [
        CBAM(c, r, kernel_size=5, group=group, norm="batch"),
        CBAM(c, r, kernel_size=3, group=group, spatial_pool_order=("max", "mean"), bias=True),
        CBAM(c, r, kernel_size=5, group=group, norm="batch", spatial_pool_order=("max", "mean")),
        BAM(c, r, dilation=2, group=group, combine="product"),
        BAM(c, r, dilation=2, group=group, combine="product", channel_norm="hidden"),
        BAM(c, r, dilation=1, num_dilated=1, group=group, channel_norm="hidden"),
    ]
    return [randomise(m, i) for i, m in enumerate(mods)]


@pytest.mark.parametrize("name", ["p4", "p4m"])
@settings(max_examples=1, deadline=None)
@given(data=st.data(), c=st.sampled_from([2, 4]), r=st.sampled_from([1, 2]))
def test_variants_theorem1_and_equivariance(name, data, c, r):
    group = GROUPS[name]()
    x = data.draw(group_signals(group, batch=3, channels=c, size=st.sampled_from([7, 8])))
    for module in _variants(group, c, r):
        for train in (False, True):
            module.train(train)
            report = check_theorem1(module.operator, group, x)
            assert report.relative <= EQ_TOL, (module, train, report)
            assert_equivariant(module, group, x, atol=EQ_TOL)


@pytest.mark.parametrize("index", range(6))
def test_variants_inside_attentive_layer(index):
    """``AttentiveGroupConv(attention=m.operator)`` == conv(m(x)), equivariant (Theorem 1)."""
    group = p4()
    m = _variants(group, 4, 2)[index].eval()
    layer = AttentiveGroupConv(group, 4, 6, 3, padding=1, attention=m.operator).double().eval()
    conv = GroupConv(group, 4, 6, 3, padding=1).double()
    conv.load_state_dict(layer.conv.state_dict())
    x = torch.randn(2, 4, 4, 8, 8, dtype=F64)
    torch.testing.assert_close(layer(x), conv(m(x)), rtol=0, atol=TOL)
    assert_equivariant(layer, group, x, atol=EQ_TOL)


# --------------------------------------------------------------------------- validation


def test_bad_options():
    with pytest.raises(ValueError, match="norm must be one of"):
        CBAM(8, norm="layer")
    with pytest.raises(TypeError, match="norm must be None or a string"):
        CBAM(8, norm=True)
    with pytest.raises(ValueError, match="spatial_pool_order"):
        CBAM(8, spatial_pool_order=("mean", "mean"))
    with pytest.raises(TypeError, match="spatial_pool_order"):
        CBAM(8, spatial_pool_order="max")
    with pytest.raises(ValueError, match="norm_momentum"):
        CBAM(8, norm="batch", norm_momentum=0.0)
    with pytest.raises(ValueError, match="norm_eps"):
        CBAM(8, norm="batch", norm_eps=-1.0)
    with pytest.raises(ValueError, match="hidden"):
        CBAM(8, hidden_channels=0)
    with pytest.raises(ValueError, match="combine"):
        BAM(8, combine="mean")
    with pytest.raises(ValueError, match="combine"):
        ParallelSignalAttention(nn.Identity(), combine="max")
    with pytest.raises(ValueError, match="norm_position"):
        BAM(8, channel_norm="input")
    gate = SignalSpatialGate(p4(), 3, norm="batch")
    with pytest.raises(ValueError, match=r"group signal \(B, C, 4, Y, X\)"):
        gate(torch.randn(2, 3, 8, 8))


def test_bad_sources():
    good = TimmCbam(16, 4).state_dict()
    with pytest.raises(TypeError, match="source must be"):
        load_timm_cbam([1, 2])
    with pytest.raises(TypeError, match="prefix must be a string"):
        load_timm_cbam(good, prefix=1)
    with pytest.raises(TypeError, match=r"source\['channel.fc1.weight'\] must be a torch.Tensor"):
        load_timm_cbam({**good, "channel.fc1.weight": [1.0]})
    with pytest.raises(ValueError, match="no key starting with prefix 'attn.'"):
        load_timm_cbam(good, prefix="attn.")
    missing = {k: v for k, v in good.items() if k != "spatial.conv.bn.running_var"}
    with pytest.raises(ValueError, match="missing 'spatial.conv.bn.running_var'"):
        load_timm_cbam(missing)
    with pytest.raises(ValueError, match="does not have: 'extra.weight'"):
        load_timm_cbam({**good, "extra.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match=r"shape \(4, 16\), expected \(16, 4, 1, 1\)"):
        load_timm_cbam({**good, "channel.fc2.weight": torch.zeros(4, 16)})
    with pytest.raises(ValueError, match="LightCbamModule"):
        load_timm_cbam({**good, "spatial.conv.conv.weight": torch.zeros(1, 1, 7, 7)})
    with pytest.raises(ValueError, match="only one of"):
        load_timm_cbam({**good, "channel.fc1.bias": torch.zeros(4)})
    hard = TimmCbam(16, 4)
    hard.spatial.gate = HardGate()
    with pytest.raises(ValueError, match="not the logistic sigmoid"):
        load_timm_cbam(hard)
    authors = AuthorsCbam(16, 4)
    no_spatial = {k: v for k, v in authors.state_dict().items() if k.startswith("ChannelGate")}
    with pytest.raises(ValueError, match="no_spatial"):
        load_authors_cbam(no_spatial)
    authors.ChannelGate.pool_types = ["avg", "lse"]
    with pytest.raises(ValueError, match="pool_types"):
        load_authors_cbam(authors)
    bam = AuthorsBam(16, 4).state_dict()
    with pytest.raises(ValueError, match="num_layers"):
        load_authors_bam({**bam, "channel_att.gate_c.gate_c_fc_1.weight": torch.zeros(4, 4)})
    odd = AuthorsBam(16, 4)
    odd.spatial_att.gate_s.gate_s_bn_di_0.momentum = 0.01
    with pytest.raises(ValueError, match="momentum"):
        load_authors_bam(odd)

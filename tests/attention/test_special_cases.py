"""Prior attention mechanisms with the trivial stabiliser == the published modules.

Each reference below is written from the paper's definition with plain ``torch.nn`` layers;
weights are copied into gattn's module (built from the generic attention operators) and the
outputs must agree to 1e-6 in float32.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gattn.attention import SignalAttention
from gattn.attention.prior import (
    BAM,
    CBAM,
    CoAttention,
    ParallelSignalAttention,
    ResidualAttention,
    ResidualSignalAttention,
    SqueezeExcitation,
)
from gattn.groups import Rn, p4
from gattn.nn import LiftingConv

TOL = 1e-6
CONFIGS = [(4, 2), (6, 4), (16, 4), (32, 16), (8, 1)]  # (channels, reduction)


def _hidden(c: int, r: int) -> int:
    return max(c // r, 1)


# --------------------------------------------------------------------------- references


class RefMLP(nn.Module):
    def __init__(self, c: int, r: int, bias: bool) -> None:
        super().__init__()
        self.fc1 = nn.Linear(c, _hidden(c, r), bias=bias)
        self.fc2 = nn.Linear(_hidden(c, r), c, bias=bias)

    def forward(self, s):
        return self.fc2(torch.relu(self.fc1(s)))


class RefSE(nn.Module):
    """Hu et al. 2018: s = sigma(W2 relu(W1 avgpool(F))), F * s."""

    def __init__(self, c: int, r: int) -> None:
        super().__init__()
        self.mlp = RefMLP(c, r, bias=False)

    def forward(self, x):
        s = torch.sigmoid(self.mlp(x.mean(dim=(2, 3))))
        return x * s[:, :, None, None]


class RefCBAM(nn.Module):
    """Woo et al. 2018: Mc = sigma(MLP(avg) + MLP(max)); Ms = sigma(conv7x7([avg_c; max_c]))."""

    def __init__(self, c: int, r: int, k: int = 7) -> None:
        super().__init__()
        self.mlp = RefMLP(c, r, bias=False)
        self.conv = nn.Conv2d(2, 1, k, padding=k // 2, bias=False)

    def mask(self, x):
        mc = torch.sigmoid(self.mlp(x.mean(dim=(2, 3))) + self.mlp(x.amax(dim=(2, 3))))
        mc = mc[:, :, None, None]
        x1 = x * mc
        s = torch.cat([x1.mean(dim=1, keepdim=True), x1.amax(dim=1, keepdim=True)], dim=1)
        return mc * torch.sigmoid(self.conv(s))

    def forward(self, x):
        return self.mask(x) * x


class RefBAM(nn.Module):
    """Park et al. 2018: F * (1 + sigma(Mc(F) + Ms(F)))."""

    def __init__(self, c: int, r: int, d: int = 4, n: int = 2) -> None:
        super().__init__()
        h = _hidden(c, r)
        self.mlp = RefMLP(c, r, bias=True)
        self.bn_c = nn.BatchNorm1d(c)
        layers = [nn.Conv2d(c, h, 1), nn.BatchNorm2d(h), nn.ReLU()]
        for _ in range(n):
            layers += [nn.Conv2d(h, h, 3, padding=d, dilation=d), nn.BatchNorm2d(h), nn.ReLU()]
        layers.append(nn.Conv2d(h, 1, 1))
        self.spatial = nn.Sequential(*layers)

    def forward(self, x):
        mc = self.bn_c(self.mlp(x.mean(dim=(2, 3))))[:, :, None, None]
        return x * (1 + torch.sigmoid(mc + self.spatial(x)))


# --------------------------------------------------------------------------- weight copying


def copy_mlp(op, mlp: RefMLP) -> None:
    """Into a SignalChannelAttention (|H| = 1)."""
    with torch.no_grad():
        op.w1[0].copy_(mlp.fc1.weight)
        op.w2[0].copy_(mlp.fc2.weight)


def copy_conv(gconv, conv: nn.Conv2d) -> None:
    """Into a GroupConv with |H| = 1."""
    with torch.no_grad():
        gconv.weight.copy_(conv.weight.reshape(gconv.weight.shape))
        if conv.bias is not None:
            gconv.bias.copy_(conv.bias)


def copy_bn(gbn, bn) -> None:
    gbn.load_state_dict(bn.state_dict())


def randomise_bn(module: nn.Module, gen: torch.Generator) -> None:
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen))
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)


def se_pair(c, r):
    ref, ours = RefSE(c, r), SqueezeExcitation(c, r)
    copy_mlp(ours.operator, ref.mlp)
    return ref, ours


def cbam_pair(c, r, k=7):
    ref, ours = RefCBAM(c, r, k), CBAM(c, r, k)
    copy_mlp(ours.operator.operators[0], ref.mlp)
    with torch.no_grad():
        ours.operator.operators[1].weight.copy_(ref.conv.weight.unsqueeze(2))
    return ref, ours


def bam_pair(c, r, d=4, n=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    ref, ours = RefBAM(c, r, d, n), BAM(c, r, d, n)
    randomise_bn(ref, gen)
    channel, spatial = ours.operator.operator.branches
    copy_conv(channel.fc1, ref.mlp.fc1)
    copy_conv(channel.fc2, ref.mlp.fc2)
    copy_bn(channel.bn, ref.bn_c)
    for a, b in zip(spatial.layers, ref.spatial):
        if isinstance(b, nn.Conv2d):
            copy_conv(a, b)
        elif isinstance(b, nn.BatchNorm2d):
            copy_bn(a, b)
    return ref, ours


def _x(c, size=11, batch=3, seed=1):
    """Random maps with per-sample channel offsets (pooled descriptors vary over the batch, so
    train-mode batch norm of the channel branch is well conditioned)."""
    gen = torch.Generator().manual_seed(seed)
    offsets = 2 * torch.randn(batch, c, 1, 1, generator=gen)
    return torch.randn(batch, c, size, size, generator=gen) + offsets


def _err(a, b) -> float:
    """Largest difference, relative to the reference's scale when that exceeds 1 (float32 has
    an ulp of 1e-6 at 8, so an absolute 1e-6 is only meaningful for values of order 1)."""
    scale = max(1.0, float(b.detach().abs().max()))
    return float((a - b).detach().abs().max()) / scale


# --------------------------------------------------------------------------- matches


@pytest.mark.parametrize("c,r", CONFIGS)
def test_se_matches_published(c, r):
    ref, ours = se_pair(c, r)
    x = _x(c)
    assert _err(ours(x), ref(x)) <= TOL
    assert _err(ours(x.unsqueeze(2)).squeeze(2), ref(x)) <= TOL  # (B, C, 1, Y, X) layout too
    assert ours(x.unsqueeze(2)).shape == (3, c, 1, 11, 11)


@pytest.mark.parametrize("c,r", CONFIGS)
@pytest.mark.parametrize("k", [7, 3])
def test_cbam_matches_published(c, r, k):
    ref, ours = cbam_pair(c, r, k)
    x = _x(c, size=10)
    assert _err(ours(x), ref(x)) <= TOL
    assert _err(ours.weights(x), ref.mask(x)) <= TOL


@pytest.mark.parametrize("c,r", CONFIGS)
@pytest.mark.parametrize("train", [False, True])
def test_bam_matches_published(c, r, train):
    ref, ours = bam_pair(c, r)
    ref.train(train)
    ours.train(train)
    x = _x(c, size=12, batch=4)
    assert _err(ours(x), ref(x)) <= TOL
    if train:  # the running statistics moved identically
        ours_bn = [m for m in ours.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        ref_bn = [m for m in ref.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        assert len(ours_bn) == len(ref_bn) == 4
        # channel BN first in ours (branch order), first in ref's module order too
        for a, b in zip(ours_bn, ref_bn):
            assert _err(a.running_mean, b.running_mean) <= TOL
            assert _err(a.running_var, b.running_var) <= 1e-5


@pytest.mark.parametrize("c,r", CONFIGS[:3])
def test_bam_other_dilation(c, r):
    ref, ours = bam_pair(c, r, d=2, n=1)
    ref.eval()
    ours.eval()
    x = _x(c, size=9)
    assert _err(ours(x), ref(x)) <= TOL


@pytest.mark.parametrize("c,r", CONFIGS)
def test_residual_attention_matches_published(c, r):
    """Wang et al. 2017: H = (1 + M(x)) * T(x), mask M = CBAM's mixed mask, trunk a conv."""
    gen = torch.Generator().manual_seed(3)
    ref_mask = RefCBAM(c, r)
    trunk = nn.Conv2d(c, c, 3, padding=1)
    mask = CBAM(c, r)
    copy_mlp(mask.operator.operators[0], ref_mask.mlp)
    with torch.no_grad():
        mask.operator.operators[1].weight.copy_(ref_mask.conv.weight.unsqueeze(2))
        trunk.weight.normal_(generator=gen)
    ours = ResidualAttention(c, mask=mask.operator, trunk=trunk)
    x = _x(c)
    assert _err(ours(x), (1 + ref_mask.mask(x)) * trunk(x)) <= TOL
    plain = ResidualAttention(c, mask=mask.operator)  # identity trunk: (1 + alpha) x
    assert _err(plain(x), x + ref_mask(x)) <= TOL
    assert _err(plain.weights(x), 1 + ref_mask.mask(x)) <= TOL


@pytest.mark.parametrize("c,r", CONFIGS)
def test_coattention_trivial_group_is_attention_after_conv(c, r):
    """With trivial H, co-domain attention = CBAM-style channel (+ spatial) attention applied to
    the convolution's output."""
    ref_att = RefCBAM(c, r)
    conv = nn.Conv2d(3, c, 3, padding=1)
    lift = LiftingConv(Rn(2), 3, c, 3, padding=1)
    copy_conv(lift, conv)
    ours = CoAttention(c, r, kernel_size=7, conv=lift)
    copy_mlp(ours.operator.operators[0], ref_att.mlp)
    with torch.no_grad():
        ours.operator.operators[1].weight.copy_(ref_att.conv.weight.unsqueeze(2))
    x = _x(3)
    out = ours(x)
    assert out.shape == (3, c, 1, 11, 11)
    assert _err(out.squeeze(2), ref_att(conv(x))) <= TOL
    assert ours.operator.position == "output"


def test_references_are_sensitive():
    """The comparison can fail: a perturbed weight is detected."""
    ref, ours = se_pair(8, 2)
    with torch.no_grad():
        ours.operator.w1.add_(1e-2)
    x = _x(8)
    assert _err(ours(x), ref(x)) > TOL
    ref, ours = bam_pair(8, 2)
    ref.eval()
    ours.eval()
    with torch.no_grad():
        ours.operator.operator.branches[1].layers[-1].bias.add_(1e-2)
    assert _err(ours(x), ref(x)) > TOL


# --------------------------------------------------------------------------- composition


def test_built_from_generic_operators():
    from gattn.attention import (
        SequentialSignalAttention,
        SignalChannelAttention,
        SignalSpatialAttention,
    )

    se = SqueezeExcitation(8, 2)
    assert isinstance(se.operator, SignalChannelAttention) and se.operator.pooling == ("mean",)
    cbam = CBAM(8, 2)
    assert isinstance(cbam.operator, SequentialSignalAttention)
    assert [type(o) for o in cbam.operator.operators] == [
        SignalChannelAttention,
        SignalSpatialAttention,
    ]
    bam = BAM(8, 2)
    assert isinstance(bam.operator, ResidualSignalAttention)
    assert isinstance(bam.operator.operator, ParallelSignalAttention)
    for m in (se, cbam, bam, ResidualAttention(8), CoAttention(8)):
        assert isinstance(m.operator, SignalAttention)


def test_residual_weights_in_one_two():
    bam = BAM(8, 2).eval()
    a = bam.weights(_x(8))
    assert bool((a >= 1).all() and (a <= 2).all())


# --------------------------------------------------------------------------- validation


def test_bad_inputs():
    with pytest.raises(ValueError, match="channels"):
        SqueezeExcitation(0)
    with pytest.raises(ValueError, match="reduction"):
        CBAM(8, reduction=0)
    with pytest.raises(ValueError, match="dilation"):
        BAM(8, dilation=0)
    with pytest.raises(ValueError, match="kernel_size"):
        CBAM(8, kernel_size=4)
    with pytest.raises(ValueError, match="position"):
        SqueezeExcitation(8, position="middle")
    with pytest.raises(TypeError, match="group"):
        SqueezeExcitation(8, group="p4")
    with pytest.raises(TypeError, match="operator"):
        ResidualAttention(8, mask=nn.Identity())
    with pytest.raises(TypeError, match="trunk"):
        ResidualAttention(8, trunk=lambda x: x)
    with pytest.raises(TypeError, match="conv"):
        CoAttention(8, conv="conv")
    with pytest.raises(ValueError, match=r"channels, expected 8"):
        SqueezeExcitation(8)(torch.randn(2, 4, 5, 5))
    with pytest.raises(ValueError, match=r"\(B, 8, 4, Y, X\)"):
        SqueezeExcitation(8, group=p4())(torch.randn(2, 8, 5, 5))  # image with p4
    with pytest.raises(ValueError, match="shape"):
        CBAM(8)(torch.randn(2, 8, 2, 5, 5))  # |H| = 2 with trivial group
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        CBAM(8)([1.0])
    with pytest.raises(ValueError, match="branch"):
        ParallelSignalAttention()


class TorchvisionStyleSE(torch.nn.Module):
    """torchvision.ops.SqueezeExcitation as published: 1x1 convs *with* biases."""

    def __init__(self, c: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = torch.nn.Conv2d(c, hidden, 1)
        self.fc2 = torch.nn.Conv2d(hidden, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(-2, -1), keepdim=True)
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(s)))) * x


@pytest.mark.parametrize("channels,reduction", [(8, 4), (16, 4), (6, 2)])
def test_biased_se_matches_torchvision_style_block(channels: int, reduction: int) -> None:
    from gattn.attention import SqueezeExcitation

    torch.manual_seed(3)
    ours = SqueezeExcitation(channels, reduction, bias=True)
    hidden = ours.operator.hidden
    ref = TorchvisionStyleSE(channels, hidden)
    with torch.no_grad():
        ours.operator.w1[0].copy_(ref.fc1.weight[:, :, 0, 0])
        ours.operator.w2[0].copy_(ref.fc2.weight[:, :, 0, 0])
        ours.operator.b1.copy_(ref.fc1.bias)
        ours.operator.b2.copy_(ref.fc2.bias)
    x = torch.randn(3, channels, 9, 9)
    torch.testing.assert_close(ours(x), ref(x), rtol=0, atol=1e-6)


def test_biased_channel_attention_stays_equivariant() -> None:
    from gattn.attention import CBAM
    from gattn.groups import p4m
    from gattn.testing import assert_equivariant

    torch.manual_seed(4)
    module = CBAM(6, 2, group=p4m(), bias=True).double()
    with torch.no_grad():
        module.operator.operators[0].b1.normal_()
        module.operator.operators[0].b2.normal_()
    x = torch.randn(2, 6, 8, 7, 7, dtype=torch.float64)
    assert_equivariant(module, p4m(), x)

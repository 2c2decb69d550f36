r"""The attentive layers compute the paper's functions by default (docs/attention.md).

Written from the equations of [AGC] and the official attentive layers' form, independently of
the layers' code paths:

* residual attention (the default): :math:`\sum_{\tilde c,\tilde h}(1 - \alpha)\,\tilde f` for
  pair attention, :math:`[(1 - \alpha) f] \star \psi` for input-level :math:`\alpha F`;
* the :math:`\alpha F` lifting spatial attention: lifted statistics, a group-lifting correlation
  with the rotated (optionally dilated) kernel, the **max** over :math:`H` of the logits, then
  the sigmoid.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gattn.attention import (
    AttentiveGroupConv,
    AttentiveLiftingConv,
    FactorisedAttention,
    SignalSpatialAttention,
    SpatialAttention,
)
from gattn.groups import finite_tables, p4, p4m, transform_image, transform_signal
from gattn.models.layers import ConvFactory
from gattn.nn import GroupConv, LiftingConv
from gattn.testing import assert_equivariant

NAMED = ["full", "input", "channel", "spatial", "codomain"]


def _elements(group):
    stab = group.stabiliser
    return [group.embed(stab.grid()[i], dtype=torch.float64) for i in range(stab.order)]


def _partial_responses(layer, x):
    """f~_{c,c~}(x, h, h~) = sum_y f_c~(x + y, h~) K_{c,h,c~,h~}(y), by unfold."""
    lifting = isinstance(layer, AttentiveLiftingConv)
    n = layer.group.stabiliser.order
    x5 = x.unsqueeze(2) if lifting else x
    b, ci, hi, yy, xx = x5.shape
    co, k, p, s = layer.out_channels, layer.kernel_size, layer.padding, layer.stride
    bank = layer.filter_bank().reshape(co, n, ci, hi, k * k)
    patches = F.unfold(x5.reshape(b, ci * hi, yy, xx), k, padding=p, stride=s)
    oy, ox = (yy + 2 * p - k) // s + 1, (xx + 2 * p - k) // s + 1
    patches = patches.reshape(b, ci, hi, k * k, oy, ox)
    return torch.einsum("ohctq,bctqyx->bohctyx", bank, patches)


# ---------------------------------------------------------------- defaults


@pytest.mark.parametrize("cls", [AttentiveLiftingConv, AttentiveGroupConv])
@pytest.mark.parametrize("mode", NAMED)
def test_named_modes_default_to_the_residual_form(cls, mode):
    assert cls(p4(), 2, 3, 3, attention=mode).residual is True
    assert cls(p4(), 2, 3, 3, attention=mode, residual=False).residual is False


def test_layer_default_is_residual_and_operator_instances_are_plain():
    assert AttentiveGroupConv(p4(), 2, 3, 3).residual is True
    assert AttentiveLiftingConv(p4(), 1, 3, 3).residual is True
    # an operator instance defines its own weights (e.g. BAM's 1 + alpha): plain by default
    op = FactorisedAttention(spatial=SpatialAttention(p4(), 3, 3))
    assert AttentiveGroupConv(p4(), 2, 3, 3, attention=op).residual is False
    assert AttentiveGroupConv(p4(), 2, 3, 3, attention=op, residual=True).residual is True
    assert AttentiveGroupConv(p4(), 2, 3, 3, attention=None).residual is False
    assert ConvFactory(p4(), "full").residual is True


def test_bad_residual_and_dilation_arguments():
    with pytest.raises(TypeError, match="residual"):
        AttentiveGroupConv(p4(), 2, 3, 3, residual="yes")
    with pytest.raises(ValueError, match="attention_dilation"):
        AttentiveGroupConv(p4(), 2, 3, 3, attention="input", attention_dilation=0)
    with pytest.raises(ValueError, match="dilation=2.*'full'"):
        AttentiveGroupConv(p4(), 2, 3, 3, attention="full", attention_dilation=2)
    with pytest.raises(ValueError, match="lifting_pool"):
        SignalSpatialAttention(p4(), 3, lifting=True, lifting_pool="avg")
    with pytest.raises(ValueError, match="dilation"):
        SignalSpatialAttention(p4(), 3, dilation=0)
    with pytest.raises(ValueError, match="lifting_attention_dilation"):
        ConvFactory(p4(), "full", lifting_attention_dilation=4)
    with pytest.raises(TypeError, match="residual"):
        ConvFactory(p4(), "input", residual=1)


# ---------------------------------------------------------------- residual pair attention


@pytest.mark.parametrize("mode", ["full", "channel", "spatial"])
@pytest.mark.parametrize("cls", [AttentiveLiftingConv, AttentiveGroupConv])
def test_default_pair_attention_is_sum_of_one_minus_alpha_responses(mode, cls):
    r"""out(x, h) = sum_{c~, h~} (1 - alpha) f~ + b: the official AttConvRnG / AttConvGG output
    f~ - alpha^X (alpha^C f~), summed over the input channels and orientations."""
    group = p4()
    torch.manual_seed(3)
    layer = cls(group, 3, 2, 3, padding=1, attention=mode).double()  # default: residual
    with torch.no_grad():
        layer.conv.bias.normal_()
    shape = (2, 3, 7, 7) if cls is AttentiveLiftingConv else (2, 3, 4, 7, 7)
    x = torch.randn(shape, dtype=torch.float64)
    resp = _partial_responses(layer, x)
    alpha = layer.attention(resp)  # the materialising definition of alpha (pinned elsewhere)
    expected = ((1 - alpha) * resp).sum(dim=(3, 4)) + layer.conv.bias[:, None, None, None]
    assert (layer(x) - expected).abs().max() <= 1e-10
    plain = (alpha * resp).sum(dim=(3, 4)) + layer.conv.bias[:, None, None, None]
    assert (layer(x) - plain).abs().max() > 1e-3  # the two forms really differ


# ---------------------------------------------------------------- input-level alpha F


def _channel_alpha_image(op, x):
    """SE/CBAM channel attention of an image: sigma(sum_s W2 relu(W1 s))."""
    w1, w2 = op.w1[0], op.w2[0]  # (hid, C), (C, hid)
    logits = 0
    for s in (x.mean(dim=(-2, -1)), x.amax(dim=(-2, -1))):
        logits = logits + torch.relu(s @ w1.T) @ w2.T
    return torch.sigmoid(logits)[..., None, None]  # (B, C, 1, 1)


def _channel_alpha_signal(op, x, group):
    """alpha(t) = sigma(sum_s sum_u W2(t^-1 u) relu(sum_v W1(u^-1 v) s(v)))."""
    rel = finite_tables(group.stabiliser).relative
    n = group.stabiliser.order
    logits = 0
    for s in (x.mean(dim=(-2, -1)), x.amax(dim=(-2, -1))):  # (B, C, n)
        z = torch.stack(
            [sum(s[:, :, v] @ op.w1[int(rel[u, v])].T for v in range(n)) for u in range(n)],
            dim=-1,
        ).relu()  # (B, hid, n)
        out = torch.stack(
            [sum(z[:, :, u] @ op.w2[int(rel[t, u])].T for u in range(n)) for t in range(n)],
            dim=-1,
        )
        logits = logits + out
    return torch.sigmoid(logits)[..., None, None]  # (B, C, n, 1, 1)


def lifting_spatial_alpha(group, weight, x, dilation=1, pool="max"):
    r"""Official fSpatialAttention: (mean, max) over channels, lifting correlation with
    L_h psi (dilated), pooled over H (max of the logits), sigmoid. (B, 1, Y, X)."""
    k = weight.shape[-1]
    stats = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
    logits = torch.stack(
        [
            F.conv2d(
                stats,
                transform_image(group, g, weight, "exact"),
                padding=dilation * (k // 2),
                dilation=dilation,
            )[:, 0]
            for g in _elements(group)
        ],
        dim=1,
    )  # (B, |H|, Y, X)
    pooled = logits.amax(dim=1, keepdim=True) if pool == "max" else logits.mean(1, True)
    return torch.sigmoid(pooled)


def group_spatial_alpha(group, weight, x, dilation=1):
    r"""Official fSpatialAttentionGG: (mean, max) over channels, group correlation 2 -> 1
    with L_h psi(., h^-1 h~) (dilated), sigmoid. (B, 1, |H|, Y, X)."""
    k = weight.shape[-1]
    n = group.stabiliser.order
    b, _, _, yy, xx = x.shape
    stats = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
    out = []
    for g in _elements(group):
        rotated = transform_signal(group, g, weight, "exact")  # (1, 2, n, k, k)
        out.append(
            F.conv2d(
                stats.reshape(b, 2 * n, yy, xx),
                rotated.reshape(1, 2 * n, k, k),
                padding=dilation * (k // 2),
                dilation=dilation,
            )[:, 0]
        )
    return torch.sigmoid(torch.stack(out, dim=1)).unsqueeze(1)


@pytest.mark.parametrize("group", [p4(), p4m()], ids=["p4", "p4m"])
@pytest.mark.parametrize("dilation", [1, 4])
def test_lifting_input_attention_is_the_official_form(group, dilation):
    r"""fAttConvRnG: x' = x - alpha^X(alpha^C x) alpha^C x, then the lifting correlation;
    alpha^X with the max over H of the lifted logits."""
    torch.manual_seed(dilation)
    layer = AttentiveLiftingConv(
        group, 2, 3, 3, padding=1, attention="input", attention_dilation=dilation
    ).double()
    ch, sp = layer.attention.operators
    assert sp.lifting_pool == "max" and sp.dilation == dilation
    x = torch.randn(2, 2, 11, 11, dtype=torch.float64)
    xc = _channel_alpha_image(ch, x) * x
    attended = lifting_spatial_alpha(group, sp.weight, xc, dilation) * xc
    plain = LiftingConv(group, 2, 3, 3, padding=1).double()
    plain.load_state_dict(layer.conv.state_dict())
    assert (layer(x) - plain(x - attended)).abs().max() <= 1e-10
    # the mean over H (the old default) is a different function
    mean = lifting_spatial_alpha(group, sp.weight, xc, dilation, pool="mean")
    assert (mean - lifting_spatial_alpha(group, sp.weight, xc, dilation)).abs().max() > 1e-3


@pytest.mark.parametrize("dilation", [1, 2])
def test_group_input_attention_is_the_official_form(dilation):
    """fAttConvGG: x' = x - alpha^X(alpha^C x) alpha^C x, then the group correlation."""
    group = p4()
    torch.manual_seed(5)
    layer = AttentiveGroupConv(
        group, 3, 2, 3, padding=1, attention="input", attention_dilation=dilation
    ).double()
    ch, sp = layer.attention.operators
    x = torch.randn(2, 3, 4, 9, 9, dtype=torch.float64)
    xc = _channel_alpha_signal(ch, x, group) * x
    attended = group_spatial_alpha(group, sp.weight, xc, dilation) * xc
    plain = GroupConv(group, 3, 2, 3, padding=1).double()
    plain.load_state_dict(layer.conv.state_dict())
    assert (layer(x) - plain(x - attended)).abs().max() <= 1e-10
    layer.residual = False
    assert (layer(x) - plain(attended)).abs().max() <= 1e-10


@pytest.mark.parametrize("pool", ["max", "mean"])
@pytest.mark.parametrize("dilation", [1, 3])
def test_signal_spatial_attention_matches_formula(pool, dilation):
    group = p4m()
    torch.manual_seed(1)
    op = SignalSpatialAttention(group, 5, lifting=True, dilation=dilation, lifting_pool=pool)
    op = op.double()
    img = torch.randn(2, 3, 10, 10, dtype=torch.float64)
    expected = lifting_spatial_alpha(group, op.weight, img, dilation, pool)
    assert op(img).shape == (2, 1, 10, 10)  # padding d (k - 1) / 2 keeps the size
    assert (op(img) - expected).abs().max() <= 1e-12
    sig_op = SignalSpatialAttention(group, 5, dilation=dilation).double()
    sig = torch.randn(2, 3, 8, 10, 10, dtype=torch.float64)
    assert (sig_op(sig) - group_spatial_alpha(group, sig_op.weight, sig, dilation)).abs().max() <= (
        1e-12
    )


def test_lifting_pool_default_is_max():
    """The default image-level map is sigma(max_h logits), not the H-mean of the logits."""
    torch.manual_seed(4)
    op = SignalSpatialAttention(p4(), 5, lifting=True).double()
    img = torch.randn(2, 3, 9, 9, dtype=torch.float64)
    assert (op(img) - lifting_spatial_alpha(p4(), op.weight, img)).abs().max() <= 1e-12
    assert op.lifting_pool == "max"


@pytest.mark.parametrize("group", [p4(), p4m()], ids=["p4", "p4m"])
@pytest.mark.parametrize("cls", [AttentiveLiftingConv, AttentiveGroupConv])
@pytest.mark.parametrize("residual", [True, False])
def test_dilated_input_attention_is_exactly_equivariant(group, cls, residual):
    torch.manual_seed(2)
    layer = cls(
        group, 2, 3, 3, padding=1, attention="input", attention_dilation=4, residual=residual
    ).double()
    n = group.stabiliser.order
    shape = (2, 2, 13, 13) if cls is AttentiveLiftingConv else (2, 2, n, 13, 13)
    x = torch.randn(shape, dtype=torch.float64)
    assert assert_equivariant(layer, group, x).relative <= 1e-10

"""The profiled eager lean path (docs/benchmarks.md, "Eager path, profiled and optimised").

* the depthwise weight gradient written as a big-kernel depthwise correlation in batch chunks
  (:func:`gattn.ops.depthwise.depthwise_weight_grad`) against the library's convolution
  backward, ragged chunks included;
* the positions-major statistics buffer of the full attention (``(B, L, 2, T, O)``), checked
  where it differs from the old layout: slices of several input elements (``chunks``), many
  ragged chunks of responses, maps and weight-gradient samples, ties, stride 2, odd and even
  sizes — against the materialising reference :meth:`PairAttention.attentive_conv` in float64;
* the signal spatial attention's ``2 |H| -> |H|`` correlation with its input gradient as a
  forward correlation (``_SameConv2d``), dilated and twice differentiable;
* the channels-last plain convolution of an attentive layer.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gattn.attention import AttentiveGroupConv, AttentiveLiftingConv
from gattn.attention import spatial as spatial_mod
from gattn.attention.base import LayerConvolution, PairAttention, partial_responses
from gattn.groups import p4, p4m
from gattn.ops import depthwise
from gattn.ops import lean_attention as lean

TOL = 1e-10


def _library_weight_grad(grad, s, k):
    return depthwise.library_backward(grad, s, s.new_zeros(s.shape[1], 1, k, k), weight=True)


@pytest.mark.parametrize("batch", [1, 8, 11, 17])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_depthwise_weight_grad_matches_convolution_backward(batch, dtype, monkeypatch):
    """Ragged chunks (batch 11 and 17 over chunks of 4), odd and even map sizes."""
    monkeypatch.setattr(depthwise, "WEIGHT_GRAD_CHUNK", 4)
    g = torch.Generator().manual_seed(batch)
    for y, x, k in [(9, 8, 3), (6, 7, 7), (5, 5, 5)]:
        s = torch.randn(batch, 6, y, x, generator=g, dtype=dtype)
        grad = torch.randn(batch, 6, y, x, generator=g, dtype=dtype)
        got = depthwise.depthwise_weight_grad(grad, s, k)
        ref = _library_weight_grad(grad, s, k)
        tol = TOL if dtype == torch.float64 else 1e-4
        torch.testing.assert_close(got, ref, atol=tol, rtol=tol)
        # channels-last inputs, as the lean path hands them over
        cl = torch.channels_last
        got_cl = depthwise.depthwise_weight_grad(
            grad.contiguous(memory_format=cl), s.contiguous(memory_format=cl), k
        )
        torch.testing.assert_close(got_cl, ref, atol=tol, rtol=tol)


def test_depthwise_same_backward_equals_autograd():
    g = torch.Generator().manual_seed(3)
    s = torch.randn(10, 4, 7, 6, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 1, 5, 5, generator=g, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(10, 4, 7, 6, generator=g, dtype=torch.float64)
    F.conv2d(s, w, padding=2, groups=4).backward(grad)
    gs, gw = depthwise.depthwise_same_backward(grad, s.detach(), w.detach())
    torch.testing.assert_close(gs, s.grad, atol=TOL, rtol=0)
    torch.testing.assert_close(gw, w.grad, atol=TOL, rtol=0)
    assert depthwise.depthwise_same_backward(grad, s.detach(), w.detach(), False)[1] is None


def _tied(shape, seed):
    """Rectified input with a zero block and a constant block: exact ties over input channels
    and of the spatial maxima."""
    g = torch.Generator().manual_seed(seed)
    x = torch.relu(torch.randn(*shape, generator=g, dtype=torch.float64) - 0.3)
    h, w = shape[-2:]
    x[..., : h // 3, :] = 0.0
    x[..., h // 3 : 2 * h // 3, : w // 2] = 0.7
    return x


def _reference(layer, x):
    """The layer's output with the materialising attentive convolution (residual and bias as
    the layer has them)."""

    class Materialising(type(layer.attention)):
        attentive_conv = PairAttention.attentive_conv

    op = layer.attention
    op.__class__, cls = Materialising, op.__class__
    try:
        return op.layer_output(x, layer.layer_convolution(), layer.residual)
    finally:
        op.__class__ = cls


def _grads(out, inputs, seed=1):
    g = torch.Generator().manual_seed(seed)
    gy = torch.randn(out.shape, generator=g, dtype=out.dtype)
    return torch.autograd.grad(out, inputs, gy)


CASES = {
    # name: (group, lifting, C_in, C_out, size, stride, padding, batch, slices, checkpoint)
    "p4-odd-two-slices": (p4(), False, 3, 2, 9, 1, 0, 5, 2, False),
    "p4-even-stride2-all-at-once": (p4(), False, 2, 3, 8, 2, 1, 4, 1, False),
    "p4m-odd-three-slices-checkpoint": (p4m(), False, 2, 2, 7, 1, 1, 3, 3, True),
    "p4-lifting-even": (p4(), True, 3, 2, 8, 1, 1, 6, None, False),
}


def _layer(case):
    group, lifting, ci, co, size, stride, padding, batch, slices, checkpoint = CASES[case]
    torch.manual_seed(0)
    cls = AttentiveLiftingConv if lifting else AttentiveGroupConv
    layer = cls(group, ci, co, 3, stride=stride, padding=padding, bias=False).double()
    n = group.stabiliser.order
    shape = (batch, ci, size, size) if lifting else (batch, ci, n, size, size)
    return layer, shape


def _ragged(case, monkeypatch, layer):
    """Small budgets: ragged batch chunks of responses (about 2 samples), of maps (about 3)
    and of the depthwise weight gradient (2), and the case's slices / checkpoint."""
    group, lifting, ci, co, size, stride, padding, batch, slices, checkpoint = CASES[case]
    oy = (size + 2 * padding - 3) // stride + 1
    per_map = co * group.stabiliser.order * oy * oy  # one input element
    monkeypatch.setattr(lean, "RESPONSE_BUDGET", 2 * ci * per_map)
    monkeypatch.setattr(lean, "MAP_BUDGET", 3 * per_map)
    monkeypatch.setattr(depthwise, "WEIGHT_GRAD_CHUNK", 2)
    layer.attention.checkpoint = checkpoint
    layer.attention.chunks = slices


def _outputs_and_grads(layer, x, fn=None):
    x = x.clone().requires_grad_()
    out = layer(x) if fn is None else fn(layer, x)
    return [out, *_grads(out, [x, *layer.parameters()])]


@pytest.mark.parametrize("case", sorted(CASES))
def test_full_attention_equals_reference_over_ragged_chunks(case, monkeypatch):
    """Outputs and all gradients (input, filter bank, channel and spatial attention) equal the
    materialising reference to 1e-10 in float64, with slices of several input elements
    (``chunks``: ``T > 1`` in the statistics buffer), ragged batch chunks of partial
    responses, of attention maps and of the depthwise weight gradient (random input: no
    ties, where the reference's ``amax`` would split the gradient)."""
    layer, shape = _layer(case)
    _ragged(case, monkeypatch, layer)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    got = _outputs_and_grads(layer, x)
    ref = _outputs_and_grads(layer, x, _reference)
    for a, r in zip(got, ref):
        torch.testing.assert_close(a, r, atol=TOL, rtol=0)


@pytest.mark.parametrize("case", sorted(CASES))
def test_full_attention_ties_do_not_depend_on_chunking(case, monkeypatch):
    """Exact ties (over input channels and spatially): the first maximiser wins whatever the
    slices and batch chunks, so the ragged, sliced run equals the default one."""
    layer, shape = _layer(case)
    x = _tied(shape, seed=shape[0])
    ref = _outputs_and_grads(layer, x)
    _ragged(case, monkeypatch, layer)
    got = _outputs_and_grads(layer, x)
    for a, r in zip(got, ref):
        torch.testing.assert_close(a, r, atol=TOL, rtol=0)


def test_response_statistics_layout_matches_materialised_statistics():
    """``response_statistics`` reads S and M out of the positions-major buffer: it must still
    return ``(B, C_out, |H|, T, 2, Y', X')`` = (mean, first max) over input channels of the
    channel-attended partial responses."""
    g = torch.Generator().manual_seed(5)
    b, ci, t, co, n, size = 2, 3, 4, 2, 4, 7
    x = torch.randn(b, ci, t, size, size, generator=g, dtype=torch.float64)
    bank = torch.randn(co, n, ci, t, 3, 3, generator=g, dtype=torch.float64)
    alpha = torch.rand(b, co, n, ci, t, generator=g, dtype=torch.float64)
    stats = lean.response_statistics(x, bank, alpha, 2, 1)
    resp = alpha[..., None, None] * partial_responses(x, bank, 2, 1)  # (B, O, H, C_in, T, ...)
    ref = torch.stack([resp.mean(dim=3), resp.amax(dim=3)], dim=4)  # (B, O, H, T, 2, ...)
    torch.testing.assert_close(stats, ref, atol=TOL, rtol=0)


@pytest.mark.parametrize("dilation,k", [(1, 7), (2, 3), (4, 5)])
def test_same_conv2d_equals_conv2d_with_double_backward(dilation, k):
    """The signal spatial attention's correlation: outputs, both gradients and the
    second-order gradients equal ``F.conv2d``'s."""
    g = torch.Generator().manual_seed(k)
    s = torch.randn(3, 8, 11, 10, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 8, k, k, generator=g, dtype=torch.float64, requires_grad=True)
    p = dilation * (k // 2)
    got = spatial_mod._SameConv2d.apply(s, w, p, dilation)
    ref = F.conv2d(s, w, padding=p, dilation=dilation)
    torch.testing.assert_close(got, ref, atol=TOL, rtol=0)
    gy = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    ga = torch.autograd.grad(got, [s, w], gy, create_graph=True)
    gr = torch.autograd.grad(ref, [s, w], gy, create_graph=True)
    for a, r in zip(ga, gr):
        torch.testing.assert_close(a, r, atol=TOL, rtol=0)
    # second order: d/d(s, w) of a functional of the first-order gradients
    sa = torch.autograd.grad(ga[0].square().sum() + ga[1].square().sum(), [s, w])
    sr = torch.autograd.grad(gr[0].square().sum() + gr[1].square().sum(), [s, w])
    for a, r in zip(sa, sr):
        torch.testing.assert_close(a, r, atol=1e-9, rtol=0)


@pytest.mark.parametrize("lifting", [False, True])
def test_input_attention_unchanged_by_the_fast_correlation(lifting, monkeypatch):
    """The input-level layer with ``_SameConv2d`` equals the same layer with plain ``conv2d``
    (outputs and all gradients, float64, dilated lifting kernel)."""
    torch.manual_seed(2)
    cls = AttentiveLiftingConv if lifting else AttentiveGroupConv
    kw = {"attention_dilation": 2} if lifting else {}
    layer = cls(p4(), 3, 2, 3, attention="input", **kw).double()
    shape = (3, 3, 9, 9) if lifting else (3, 3, 4, 9, 9)
    x = _tied(shape, seed=4).requires_grad_()
    params = list(layer.parameters())
    out = layer(x)
    got = _grads(out, [x, *params])

    def plain(x, weight, padding, dilation, conv):
        return conv(x, weight, padding=padding, dilation=dilation)

    monkeypatch.setattr(spatial_mod, "_same_conv", plain)
    ref_out = layer(x)
    ref = _grads(ref_out, [x, *params])
    torch.testing.assert_close(out, ref_out, atol=TOL, rtol=0)
    for a, r in zip(got, ref):
        torch.testing.assert_close(a, r, atol=TOL, rtol=0)


@pytest.mark.parametrize("lifting", [False, True])
def test_channels_last_plain_convolution_keeps_values_and_layout(lifting):
    """float32 on the CPU runs the plain convolution channels last: same values as ``conv2d``
    on the usual layout, and a ``(B, C_out, |H|, Y', X')`` result that reshapes like one."""
    g = torch.Generator().manual_seed(0)
    ni = 1 if lifting else 4
    bank = torch.randn(2 * 4, 3 * ni, 3, 3, generator=g)
    conv = LayerConvolution(bank, 2, 1, None, 3, 2, 4, lifting)
    x = torch.randn((5, 3, 9, 9) if lifting else (5, 3, 4, 9, 9), generator=g)
    y = conv.plain(x)
    ref = F.conv2d(x if lifting else x.flatten(1, 2), bank, None, 2, 1).reshape(5, 2, 4, 5, 5)
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=1e-5)
    assert y.shape == (5, 2, 4, 5, 5)
    assert y.flatten(1, 2).shape == (5, 8, 5, 5)


def test_depthwise_weight_grad_rejects_bad_arguments():
    s = torch.zeros(2, 3, 5, 5)
    with pytest.raises(ValueError, match="grad and s"):
        depthwise.depthwise_weight_grad(torch.zeros(2, 3, 5, 4), s, 3)
    with pytest.raises(ValueError, match="odd"):
        depthwise.depthwise_weight_grad(s, s, 4)

"""Local group attention through flex_attention (gattn.ops.flex) against the fused path.

On CPU torch's flex_attention has a forward pass only: outputs are compared in float64 with the
eager flex reference (and, slow, the compiled CPU kernel in float32); gradients are compared
through ``dense_local_attention``, the same ``score_mod`` / ``mask_mod`` on the dense score
matrix with plain autograd (the index arithmetic and the bias table's gradient). Flex's own
backward pass runs on CUDA only (tests/cuda/test_flex_cuda.py).
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from gattn.groups import p4, p4m
from gattn.nn import GroupSelfAttention, LiftingSelfAttention
from gattn.ops import flex
from gattn.ops.flex import (
    check_backend,
    dense_local_attention,
    flex_local_attention,
    select_backend,
)
from gattn.ops.local_attention import local_attention

pytestmark = pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")

CASES = [  # spatial, Hq, H', G, patch
    ((6, 7), 4, 4, 4, 3),  # group, odd x even
    ((8, 8), 1, 4, 1, 5),  # lifting, even
    ((5,), 2, 2, 2, 3),  # 1-D
    ((3, 4, 5), 2, 2, 2, 3),  # 3-D
    ((4, 5), 8, 8, 8, 1),  # patch 1
    ((5, 5), 4, 4, 4, 5),  # patch = signal size
]


def _inputs(spatial, hq, hout, g, patch, dtype=torch.float64, grad=False, seed=0):
    gen = torch.Generator().manual_seed(seed)
    b, m, d = 2, 2, 3
    n = math.prod(spatial)
    q = torch.randn(b, m, n, hq, d, generator=gen, dtype=dtype)
    k = torch.randn(b, m, d, g, *spatial, generator=gen, dtype=dtype)
    v = torch.randn(b, m, d, g, *spatial, generator=gen, dtype=dtype)
    rho = torch.randn(m, hout, d, g * patch ** len(spatial), generator=gen, dtype=dtype)
    return [t.requires_grad_(grad) for t in (q, k, v, rho)]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_flex_forward_equals_fused_float64(case) -> None:
    *_, patch = case
    q, k, v, rho = _inputs(*case)
    ref = local_attention(q, k, v, rho, patch)
    with torch.no_grad():
        out = flex_local_attention(q, k, v, rho, patch, compile=False)
    assert out.dtype == torch.float64 and out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-10)


def test_flex_head_dim_padding_changes_nothing() -> None:
    """Zero-padding the head dimension (the Triton kernel needs 16) gives the same result."""
    q, k, v, rho = _inputs((6, 5), 4, 4, 4, 3)
    with torch.no_grad():
        out = flex_local_attention(q, k, v, rho, 3, compile=False, min_head_dim=16)
    assert out.shape == (2, 2, 30, 4, 3)
    torch.testing.assert_close(out, local_attention(q, k, v, rho, 3), rtol=0, atol=1e-10)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_flex_formulation_gradients_equal_fused_float64(case) -> None:
    """Outputs and the gradients of q, k, v and rho of the flex formulation (dense evaluation
    of its score_mod / mask_mod) equal the fused path's explicit backward."""
    *_, patch = case
    a = _inputs(*case, grad=True)
    b = _inputs(*case, grad=True)
    grad = torch.randn(local_attention(*a, patch).shape, dtype=torch.float64)
    out_f = local_attention(*a, patch)
    out_d = dense_local_attention(*b, patch)
    torch.testing.assert_close(out_d, out_f, rtol=0, atol=1e-10)
    out_f.backward(grad)
    out_d.backward(grad)
    for name, x, y in zip("qkvr", a, b):
        assert y.grad is not None, name
        torch.testing.assert_close(y.grad, x.grad, rtol=0, atol=1e-10, msg=name)


def test_flex_ties_and_constant_logits() -> None:
    """Zero queries: every neighbour ties (uniform weights over the in-signal neighbours)."""
    q, k, v, rho = _inputs((5, 6), 4, 4, 4, 3)
    q = torch.zeros_like(q)
    with torch.no_grad():
        out = flex_local_attention(q, k, v, rho, 3, compile=False)
    torch.testing.assert_close(out, local_attention(q, k, v, rho, 3), rtol=0, atol=1e-10)
    # the corner query averages its 2x2 in-signal neighbourhood over all 4 key elements
    corner = v[:, :, :, :, :2, :2].mean((3, 4, 5))
    torch.testing.assert_close(out[:, :, 0, 0], corner, rtol=0, atol=1e-12)


def test_flex_refuses_cpu_backward_clearly() -> None:
    q, k, v, rho = _inputs((5, 5), 4, 4, 4, 3, grad=True)
    with pytest.raises(NotImplementedError, match="no backward pass on cpu.*attention_backend"):
        flex_local_attention(q, k, v, rho, 3)


@pytest.mark.parametrize(
    "bad, match",
    [({"patch": 4}, "positive odd"), ({"rho": torch.zeros(2, 3)}, "rho must be a 4-d")],
)
def test_flex_bad_input(bad, match) -> None:
    q, k, v, rho = _inputs((5, 5), 4, 4, 4, 3)
    args = {"q": q, "k": k, "v": v, "rho": rho, "patch": 3, **bad}
    with pytest.raises(ValueError, match=match):
        flex_local_attention(**args)


def test_backend_names_and_auto_choice() -> None:
    with pytest.raises(ValueError, match="attention_backend must be one of 'auto', 'fused'"):
        check_backend("triton")
    with pytest.raises(ValueError, match="got 1"):
        check_backend(1)
    x32 = torch.zeros(2, requires_grad=True)
    assert select_backend("flex", x32) == "flex"
    assert select_backend("fused", x32) == "fused"
    assert select_backend("auto", x32) == "fused"  # CPU: the fused path (and no flex backward)
    assert select_backend("auto", x32.detach()) == "fused"
    assert flex.AUTO_BACKEND["cpu"] == "fused"


def test_auto_falls_back_where_flex_cannot_run(monkeypatch) -> None:
    """With flex preferred on CPU (as on CUDA), auto still runs the fused path where flex
    cannot: gradients on CPU, float64."""
    monkeypatch.setitem(flex.AUTO_BACKEND, "cpu", "flex")
    x = torch.zeros(2)
    assert select_backend("auto", x) == "flex"
    assert select_backend("auto", x.requires_grad_()) == "fused"
    with torch.no_grad():
        assert select_backend("auto", x) == "flex"
    assert select_backend("auto", torch.zeros(2, dtype=torch.float64)) == "fused"
    monkeypatch.setattr(flex, "flex_attention", None)
    assert select_backend("auto", torch.zeros(2)) == "fused"


@pytest.mark.parametrize("cls", [LiftingSelfAttention, GroupSelfAttention])
def test_layer_backend_arguments(cls) -> None:
    with pytest.raises(ValueError, match="attention_backend must be one of"):
        cls(p4(), 4, 4, 2, patch_size=3, attention_backend="Flex")
    with pytest.raises(ValueError, match="'flex' is for local attention"):
        cls(p4(), 4, 4, 2, patch_size=None, attention_backend="flex")
    layer = cls(p4(), 4, 4, 2, patch_size=3, attention_backend="flex")
    assert "attention_backend='flex'" in repr(layer)


@pytest.mark.parametrize("group", [p4(), p4m()], ids=lambda g: g.name)
def test_layers_flex_equal_fused_float64(group) -> None:
    torch.manual_seed(0)
    kw = {"patch_size": 3, "dtype": torch.float64}
    lift = LiftingSelfAttention(group, 2, 6, 2, **kw)
    gsa = GroupSelfAttention(group, 6, 6, 3, **kw)
    x = torch.randn(2, 2, 7, 6, dtype=torch.float64)
    ref = gsa(lift(x))  # auto on CPU with grad: the fused path
    for layer in (lift, gsa):
        layer.attention_backend = "flex"
    with torch.no_grad():
        out = gsa(lift(x))
    torch.testing.assert_close(out, ref.detach(), rtol=0, atol=1e-10)


def test_layer_flex_in_training_on_cpu_is_a_clear_error() -> None:
    layer = GroupSelfAttention(p4(), 4, 4, 2, patch_size=3, attention_backend="flex")
    with pytest.raises(NotImplementedError, match="no backward pass on cpu"):
        layer(torch.randn(1, 4, 4, 5, 5))


@pytest.mark.slow
def test_compiled_flex_cpu_forward_float32() -> None:
    """The compiled CPU flex kernel (C++ template; tens of seconds to compile)."""
    case = ((9, 8), 4, 4, 4, 3)
    q, k, v, rho = _inputs(*case, dtype=torch.float32)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = flex_local_attention(q, k, v, rho, 3, compile=True)
    torch.testing.assert_close(out, local_attention(q, k, v, rho, 3), rtol=1e-5, atol=1e-5)

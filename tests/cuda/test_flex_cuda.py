"""GSA on CUDA: flex_attention (compiled, with its own backward pass) against the fused path in
float32, equivariance of both backends, CPU/CUDA agreement, and the bf16 / fp16 autocast errors
measured against float32 (skipped without a CUDA device; run by benchmarks/device/).

``GATTN_CUDA_TOLERANCES=<path>``: the measured autocast errors are also written there as JSON
(benchmarks/device/run_gpu_checks.sh collects them).
"""

from __future__ import annotations

import json
import math
import os

import pytest
import torch

from gattn.groups import p4, p4m
from gattn.nn import GroupSelfAttention, LiftingSelfAttention
from gattn.ops.flex import flex_available, flex_local_attention, select_backend
from gattn.ops.local_attention import local_attention
from gattn.testing import assert_equivariant

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not flex_available(), reason="this torch has no flex_attention"),
]

#: float32 agreement of the two backends on CUDA (Triton's flex kernel vs cuBLAS batched
#: matmuls; a wrong index or bias gives errors of order one)
F32_TOL = 1e-3
#: bounds on the autocast errors, relative to the largest float32 value (docs/self_attention.md)
AUTOCAST_BOUNDS = {"bfloat16": 5e-2, "float16": 1e-2}
_MEASURED: dict[str, dict] = {}

CASES = [  # spatial, Hq, H', G, patch
    ((12, 11), 4, 4, 4, 5),  # group, odd x even
    ((14, 14), 1, 8, 1, 5),  # lifting, p4m-sized H'
    ((9,), 2, 2, 2, 3),  # 1-D
    ((5, 6, 7), 2, 2, 2, 3),  # 3-D
    ((7, 8), 4, 4, 4, 1),  # patch 1
]


@pytest.fixture(scope="module", autouse=True)
def _write_measurements():
    """Allow one compile per shape of this module (past dynamo's recompile limit flex would
    silently run its eager reference) and write the measured autocast errors at the end."""
    cfg = torch._dynamo.config
    name = "recompile_limit" if hasattr(cfg, "recompile_limit") else "cache_size_limit"
    old = getattr(cfg, name)
    setattr(cfg, name, max(old, 64))
    yield
    setattr(cfg, name, old)
    path = os.environ.get("GATTN_CUDA_TOLERANCES")
    if path and _MEASURED:
        meta = {"device": torch.cuda.get_device_name(), "torch": torch.__version__}
        with open(path, "w") as fh:
            record = {"meta": meta, "bounds": AUTOCAST_BOUNDS, "measured": _MEASURED}
            json.dump(record, fh, indent=2)


def _inputs(spatial, hq, hout, g, patch, seed=0):
    gen = torch.Generator(device="cuda").manual_seed(seed)
    b, m, d = 2, 2, 8
    n = math.prod(spatial)
    kw = {"generator": gen, "device": "cuda"}
    q = torch.randn(b, m, n, hq, d, **kw) / math.sqrt(d)
    k = torch.randn(b, m, d, g, *spatial, **kw)
    v = torch.randn(b, m, d, g, *spatial, **kw)
    rho = torch.randn(m, hout, d, g * patch ** len(spatial), **kw)
    return [t.requires_grad_() for t in (q, k, v, rho)]


def test_auto_picks_flex_on_cuda_for_float32_training() -> None:
    x = torch.zeros(2, device="cuda", requires_grad=True)
    assert select_backend("auto", x) == "flex"
    assert select_backend("auto", x.double()) == "fused"  # float64: the fused path


@pytest.mark.parametrize("case", CASES, ids=str)
def test_flex_equals_fused_on_cuda_float32(case) -> None:
    """Outputs and the gradients of q, k, v and rho (flex's compiled backward pass)."""
    patch = case[-1]
    a, b = _inputs(*case), _inputs(*case)
    ref = local_attention(*a, patch)
    out = flex_local_attention(*b, patch)
    torch.testing.assert_close(out, ref, rtol=F32_TOL, atol=F32_TOL)
    grad = torch.randn_like(ref)
    ref.backward(grad)
    out.backward(grad)
    for name, x, y in zip("qkvr", a, b):
        torch.testing.assert_close(y.grad, x.grad, rtol=F32_TOL, atol=F32_TOL, msg=name)


def _stack(group, backend, dtype=torch.float32):
    torch.manual_seed(0)
    kw = {"patch_size": 5, "attention_backend": backend, "device": "cuda", "dtype": dtype}
    lift = LiftingSelfAttention(group, 3, 16, 2, **kw)
    gsa = GroupSelfAttention(group, 16, 16, 2, **kw)
    return lift, gsa


@pytest.mark.parametrize("backend", ["fused", "flex"])
@pytest.mark.parametrize("group", [p4(), p4m()], ids=lambda g: g.name)
def test_gsa_equivariant_on_cuda(group, backend) -> None:
    lift, gsa = _stack(group, backend)
    x = torch.randn(2, 3, 15, 14, device="cuda")
    assert_equivariant(lambda t: gsa(lift(t)), group, x)


@pytest.mark.parametrize("group", [p4(), p4m()], ids=lambda g: g.name)
def test_gsa_cpu_and_cuda_agree(group) -> None:
    """CPU (auto: fused) against CUDA (auto: flex), outputs and parameter gradients."""
    lift, gsa = _stack(group, "auto")
    x = torch.randn(2, 3, 15, 14, device="cuda")  # the shapes of the test above: no recompile
    out = gsa(lift(x))
    out.square().mean().backward()
    grads = [p.grad.cpu() for p in (*lift.parameters(), *gsa.parameters())]
    lift_c, gsa_c = lift.cpu(), gsa.cpu()
    for p in (*lift_c.parameters(), *gsa_c.parameters()):
        p.grad = None
    ref = gsa_c(lift_c(x.cpu()))
    ref.square().mean().backward()
    torch.testing.assert_close(out.detach().cpu(), ref.detach(), rtol=F32_TOL, atol=F32_TOL)
    for g_cuda, p in zip(grads, (*lift_c.parameters(), *gsa_c.parameters())):
        torch.testing.assert_close(g_cuda, p.grad, rtol=F32_TOL, atol=F32_TOL)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max() / b.float().abs().max().clamp_min(1e-30))


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("backend", ["fused", "flex"])
def test_autocast_errors_measured_and_bounded(backend, dtype) -> None:
    """Forward + backward under ``torch.autocast`` against float32: the largest error of the
    output and of every parameter gradient, relative to the float32 value's largest entry."""
    lift, gsa = _stack(p4m(), backend)
    params = [*lift.parameters(), *gsa.parameters()]
    x = torch.randn(2, 3, 15, 14, device="cuda")
    ref = gsa(lift(x))
    ref.float().square().mean().backward()
    ref_grads = [p.grad.clone() for p in params]
    for p in params:
        p.grad = None
    with torch.autocast("cuda", dtype=getattr(torch, dtype)):
        out = gsa(lift(x))
    out.float().square().mean().backward()
    errors = {"output": _rel(out, ref)}
    errors["gradients"] = max(_rel(p.grad, g) for p, g in zip(params, ref_grads))
    _MEASURED[f"{backend}/{dtype}"] = errors
    assert out.dtype == getattr(torch, dtype)
    assert errors["output"] > 0  # autocast really ran in low precision
    bound = AUTOCAST_BOUNDS[dtype]
    assert errors["output"] <= bound and errors["gradients"] <= bound, errors

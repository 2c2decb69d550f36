"""The fused (torch.compile) backend of the lean full attention against the eager reference.

The eager lean path is the reference: the compiled chunk kernels must give the same outputs and
gradients to 1e-10 in float64 (ragged chunks, ties in the maxima, odd and even sizes, stride
2). Compiling is slow on the CPU, so only one kernel-level equality test runs by default; the
layer-level ones are marked slow.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from gattn.attention import AttentiveGroupConv, AttentiveLiftingConv
from gattn.groups import p4
from gattn.ops import lean_attention as lean
from gattn.ops.fused import (
    AUTO_RULE,
    BACKENDS,
    check_backend,
    current_backend,
    resolve_backend,
    use_backend,
)
from gattn.ops.fused import compiled as fc

TOL = 1e-10


def _tied_input(shape, seed=0):
    """Random input with a zero block and a constant block: exact ties of the partial responses
    over input channels (all zero) and of the spatial maxima (constant patches)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g, dtype=torch.float64)
    h = shape[-2]
    x[..., : h // 3, :] = 0.0
    x[..., h // 3 : 2 * h // 3, : shape[-1] // 2] = 0.7
    return x


def _run(layer, x, backend):
    layer.backend = backend
    layer.zero_grad(set_to_none=True)
    xi = x.clone().requires_grad_()
    out = layer(xi)
    g = torch.Generator().manual_seed(1)
    weight = torch.randn(out.shape, generator=g, dtype=out.dtype)
    (out * weight).sum().backward()
    grads = {n: p.grad.clone() for n, p in layer.named_parameters() if p.grad is not None}
    return out.detach(), xi.grad, grads


def _assert_same(layer, x):
    ref = _run(layer, x, "eager")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a fallback would hide the compiled path
        got = _run(layer, x, "compiled")
    torch.testing.assert_close(got[0], ref[0], atol=TOL, rtol=0)
    torch.testing.assert_close(got[1], ref[1], atol=TOL, rtol=0)
    assert got[2].keys() == ref[2].keys() and len(ref[2]) >= 3
    for name in ref[2]:
        torch.testing.assert_close(got[2][name], ref[2][name], atol=TOL, rtol=0, msg=name)


# --- the backend names and the rule (fast) -----------------------------------------------------


def test_backend_names_are_checked():
    assert BACKENDS == ("auto", "eager", "compiled")
    with pytest.raises(ValueError, match="backend must be one of"):
        check_backend("triton")
    with pytest.raises(TypeError, match="backend must be a string"):
        check_backend(None)
    with pytest.raises(ValueError, match="backend must be one of"):
        AttentiveGroupConv(p4(), 2, 2, 3, backend="fast")
    with pytest.raises(ValueError, match="backend must be one of"):
        with use_backend("fused"):
            pass


def test_auto_rule_and_context():
    assert resolve_backend("auto", "cpu") == AUTO_RULE["cpu"]
    assert resolve_backend("compiled", "cpu") == "compiled"
    assert resolve_backend("auto", "meta") == "eager"  # unlisted device types: eager
    assert current_backend() == "auto"
    with use_backend("compiled"):
        assert current_backend() == "compiled"
        with use_backend("eager"):
            assert current_backend() == "eager"
        assert current_backend() == "compiled"
    assert current_backend() == "auto"
    layer = AttentiveGroupConv(p4(), 2, 2, 3, backend="compiled")
    assert "backend='compiled'" in repr(layer)


def test_failed_compile_falls_back_to_eager_with_a_warning(monkeypatch):
    """torch.compile raising (no compiler, unsupported build): one warning, then the eager
    kernels — the same numbers as the eager backend, never a crash."""

    def broken(fn, *args, **kwargs):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(torch, "compile", broken)
    for name, kernel in fc.COMPILED.items():
        monkeypatch.setitem(fc.COMPILED, name, fc.CompiledFunction(kernel.fn, name))
    torch.manual_seed(0)
    layer = AttentiveGroupConv(p4(), 2, 3, 3).double()
    x = _tied_input((2, 2, 4, 7, 7))
    ref = _run(layer, x, "eager")
    with pytest.warns(RuntimeWarning, match="torch.compile failed.*no C\\+\\+ compiler"):
        got = _run(layer, x, "compiled")
    assert all(k.failed for k in fc.COMPILED.values())
    torch.testing.assert_close(got[0], ref[0], atol=TOL, rtol=0)
    torch.testing.assert_close(got[1], ref[1], atol=TOL, rtol=0)
    for name in ref[2]:
        torch.testing.assert_close(got[2][name], ref[2][name], atol=TOL, rtol=0)


def test_eager_backend_is_the_unchanged_reference():
    """``backend="eager"`` and ``"auto"`` on the CPU are the same computation, bit for bit."""
    torch.manual_seed(0)
    layer = AttentiveGroupConv(p4(), 3, 2, 3, stride=2).double()
    x = _tied_input((3, 3, 4, 9, 9))
    a, b = _run(layer, x, "eager"), _run(layer, x, "auto")
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert all(torch.equal(a[2][n], b[2][n]) for n in a[2])


# --- compiled equality ------------------------------------------------------------------------


def test_compiled_sum_max_kernel_equals_eager():
    """The fused product + sum / max reduction (one compile, ~10 s on the CPU) against the
    eager chunk: S, M and the first arg-max, with exact ties over input channels."""
    g = torch.Generator().manual_seed(0)
    xp = torch.randn(3, 2, 4, 9, 8, generator=g, dtype=torch.float64)
    xp[..., :4, :] = 0.0  # zero patches: every input channel ties (first maximiser wins)
    w = torch.randn(3, 2, 4, 5, 9, generator=g, dtype=torch.float64)
    oy, ox = lean.output_size(9, 3, 2), lean.output_size(8, 3, 2)
    kernel = fc.CompiledFunction(fc.sum_max_chunk, "sum_max_chunk")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        s, m, arg = kernel(xp, w, 3, oy, ox, 2)
    u = lean.im2col(xp, 3, (oy, ox), 2)
    s_ref = lean._summed(u, w)
    m_ref, arg_ref = lean._max_first(torch.matmul(w, u), dim=2)
    torch.testing.assert_close(s, s_ref, atol=TOL, rtol=0)
    torch.testing.assert_close(m, m_ref, atol=TOL, rtol=0)
    assert arg.dtype == torch.uint8 and torch.equal(arg, arg_ref)
    assert (arg_ref == 0).sum() > arg_ref.numel() // 4  # the ties were exercised


CASES = {
    # name: (lifting, C_in, C_out, size, stride, padding, batch)
    "odd-stride1": (False, 3, 2, 9, 1, 0, 5),
    "even-stride2": (False, 2, 3, 8, 2, 1, 4),
    "lifting-odd": (True, 3, 2, 7, 1, 1, 3),
}


@pytest.mark.slow
@pytest.mark.parametrize("checkpoint", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_compiled_layer_equals_eager(case, checkpoint, monkeypatch):
    """Outputs and every gradient (input, filter bank, channel- and spatial-attention
    parameters) of the full attentive layer, compiled against eager, in float64, with ragged
    batch chunks of partial responses and of attention maps."""
    lifting, ci, co, size, stride, padding, batch = CASES[case]
    monkeypatch.setattr(lean, "RESPONSE_BUDGET", 2 * ci * co * 4 * size * size)  # ragged
    monkeypatch.setattr(lean, "MAP_BUDGET", 3 * co * 4 * size * size)
    torch.manual_seed(0)
    cls = AttentiveLiftingConv if lifting else AttentiveGroupConv
    layer = cls(p4(), ci, co, 3, stride=stride, padding=padding).double()
    layer.attention.checkpoint = checkpoint
    shape = (batch, ci, size, size) if lifting else (batch, ci, 4, size, size)
    _assert_same(layer, _tied_input(shape))

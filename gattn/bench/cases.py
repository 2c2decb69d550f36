"""Benchmark cases: each builds a step closure (forward + backward, or a training step).

A case is a function ``(device, **params) -> (step, extra)``; ``extra`` holds numbers reported
next to the measurement (parameter counts, images per step).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["CASES", "build_case"]

Step = Callable[[], object]


def _group(name: str):
    from ..groups import SE2, p4, p4m

    if name == "p4":
        return p4()
    if name == "p4m":
        return p4m()
    if name.startswith("C"):
        return SE2(int(name[1:]))
    raise ValueError(f"unknown benchmark group {name!r}: use p4, p4m or C<n>")


def _fwd_bwd(module: torch.nn.Module, x: torch.Tensor) -> Step:
    params = [p for p in module.parameters() if p.requires_grad]

    def step() -> None:
        for p in params:
            p.grad = None
        out = module(x)
        out.float().square().mean().backward()

    return step


def conv2d(device, batch=128, cin=10, cout=10, order=4, size=28, kernel=3):
    """The floor: ``torch.nn.Conv2d`` with the expanded channel counts ``C |H|``."""
    m = torch.nn.Conv2d(cin * order, cout * order, kernel, bias=False).to(device)
    x = torch.randn(batch, cin * order, size, size, device=device)
    return _fwd_bwd(m, x), {"params": sum(p.numel() for p in m.parameters())}


def group_conv(device, group="p4", batch=128, cin=10, cout=10, size=28, kernel=3):
    """gattn's plain ``GroupConv``."""
    from ..nn import GroupConv

    g = _group(group)
    m = GroupConv(g, cin, cout, kernel, bias=False).to(device)
    x = torch.randn(batch, cin, g.stabiliser.order, size, size, device=device)
    return _fwd_bwd(m, x), {"params": sum(p.numel() for p in m.parameters())}


def field_group_conv(device, samples=8, batch=128, cin=10, cout=10, size=28, kernel=3):
    """``GroupConv`` on the continuous ``SE2()`` with a neural-field kernel (the default
    :class:`~gattn.nn.FieldConfig`) on ``samples`` grid samples of :math:`SO(2)`; the field is
    evaluated once per step (docs/continuous.md)."""
    from ..groups import SE2
    from ..nn import GroupConv

    m = GroupConv(SE2(), cin, cout, kernel, bias=False, samples=samples).to(device)
    x = torch.randn(batch, cin, m.order, size, size, device=device)
    return _fwd_bwd(m, x), {"params": sum(p.numel() for p in m.parameters())}


def attentive_group_conv(
    device,
    attention="full",
    group="p4",
    batch=128,
    cin=10,
    cout=10,
    size=28,
    kernel=3,
    checkpoint=False,
    backend="auto",
):
    """``AttentiveGroupConv`` with the given attention (``checkpoint``: the full attention
    recomputes its maxima in the backward pass instead of saving them; ``backend``: of the lean
    kernels, docs/attention.md — compiling happens in the untimed first step, whose memory
    probe then includes the compiler's own memory: an upper bound)."""
    from ..attention import AttentiveGroupConv, FactorisedAttention

    g = _group(group)
    m = AttentiveGroupConv(
        g, cin, cout, kernel, bias=False, attention=attention, backend=backend
    ).to(device)
    if checkpoint:
        if not isinstance(m.attention, FactorisedAttention):
            raise ValueError(f"checkpoint applies to the full attention only, got {attention!r}")
        m.attention.checkpoint = True
    x = torch.randn(batch, cin, g.stabiliser.order, size, size, device=device)
    return _fwd_bwd(m, x), {"params": sum(p.numel() for p in m.parameters())}


def spatial_attention_floor(
    device, order=4, batch=128, cout=10, size=28, kernel=3, attention_kernel=7
):
    """The depthwise correlations alone that full spatial attention cannot avoid, run the way
    the lean path runs them: per input element, ``2 C_out |H|`` statistic maps (output size
    ``size - kernel + 1``) with one ``attention_kernel`` square kernel each, channels-last, in
    batch chunks of :data:`gattn.ops.lean_attention.MAP_BUDGET` numbers; the forward correlation
    and its input and weight gradients (no autograd bookkeeping, no other work)."""
    from ..ops import lean_attention as lean
    from ..ops.depthwise import depthwise_same, depthwise_same_backward

    maps = 2 * cout * order
    n = size - kernel + 1
    chunk = lean.batch_chunk(cout * order * n * n, lean.MAP_BUDGET)
    cl = torch.channels_last
    stats = torch.randn(batch, maps, n, n, device=device).contiguous(memory_format=cl)
    grad = torch.randn(batch, maps, n, n, device=device).contiguous(memory_format=cl)
    weight = torch.randn(maps, 1, attention_kernel, attention_kernel, device=device)

    def step() -> None:
        for _ in range(order):  # one slice per input element
            for b0 in range(0, batch, chunk):
                depthwise_same(stats[b0 : b0 + chunk], weight)
                depthwise_same_backward(grad[b0 : b0 + chunk], stats[b0 : b0 + chunk], weight)

    return step, {"params": order * weight.numel()}


def attentive_reference(device, group="p4", batch=128, cin=10, cout=10, size=28, kernel=3):
    """Full attention computed the reference way: all partial responses materialised."""
    from ..attention import AttentiveGroupConv
    from ..attention.base import PairAttention

    g = _group(group)
    m = AttentiveGroupConv(g, cin, cout, kernel, bias=False, attention="full").to(device)
    op = m.attention
    x = torch.randn(batch, cin, g.stabiliser.order, size, size, device=device)
    n = g.stabiliser.order
    params = list(m.parameters())

    def step() -> None:
        for p in params:
            p.grad = None
        bank = m.filter_bank().reshape(cout, n, cin, n, kernel, kernel)
        out = PairAttention.attentive_conv(op, x, bank)
        out.square().mean().backward()

    return step, {"params": sum(p.numel() for p in params)}


def e2cnn_r2conv(device, order=4, batch=128, cin=10, cout=10, size=28, kernel=3):
    """e2cnn's ``R2Conv`` between regular fields of :math:`C_n` (training mode: the filter is
    expanded at every forward, as in gattn)."""
    from e2cnn import gspaces
    from e2cnn import nn as enn

    space = gspaces.Rot2dOnR2(N=order)
    fin = enn.FieldType(space, cin * [space.regular_repr])
    fout = enn.FieldType(space, cout * [space.regular_repr])
    m = enn.R2Conv(fin, fout, kernel_size=kernel, bias=False).to(device)
    m.train()
    x = enn.GeometricTensor(torch.randn(batch, cin * order, size, size, device=device), fin)
    params = list(m.parameters())

    def step() -> None:
        for p in params:
            p.grad = None
        m(x).tensor.square().mean().backward()

    return step, {"params": sum(p.numel() for p in params)}


def _materialised_gsa_reference():
    """The straightforward materialising GSA implementation kept in the test suite (available
    when running from a source checkout)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "tests" / "nn" / "test_self_attention.py"
    if not path.is_file():
        raise FileNotFoundError(f"the materialising reference lives in {path} (source checkout)")
    spec = importlib.util.spec_from_file_location("_gsa_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.materialised_reference


def gsa_training(device, group="p4", batch=8, implementation="lean"):
    """One training step of the rot-MNIST GSA model (``gsa_rotmnist``), with the lean layers or
    with every self-attention layer swapped for the materialising reference."""
    from ..models.transformer import gsa_rotmnist
    from ..nn.self_attention import GroupSelfAttention, LiftingSelfAttention

    model = gsa_rotmnist(group).to(device).train()
    if implementation == "materialising":
        ref = _materialised_gsa_reference()
        for mod in model.modules():
            if isinstance(mod, (GroupSelfAttention, LiftingSelfAttention)):
                mod.forward = (lambda m: lambda x: ref(m, x))(mod)
    elif implementation != "lean":
        raise ValueError(
            f"implementation must be 'lean' or 'materialising', got {implementation!r}"
        )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 1, 28, 28, device=device)
    y = torch.randint(10, (batch,), device=device)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return step, {"params": sum(p.numel() for p in model.parameters()), "images": batch}


def model_training(device, model="p4cnn", batch=128, size=28, channels=1, backend="auto"):
    """One optimiser step of a zoo model; ``extra['images']`` = batch for throughput
    (``backend``: set on every attentive layer, as :func:`attentive_group_conv`)."""
    from ..attention.layers import AttentiveGroupConv, AttentiveLiftingConv
    from ..models import get_model
    from ..ops.fused import check_backend

    m = get_model(model).to(device).train()
    for mod in m.modules():
        if isinstance(mod, (AttentiveGroupConv, AttentiveLiftingConv)):
            mod.backend = check_backend(backend)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3, weight_decay=1e-4)
    x = torch.randn(batch, channels, size, size, device=device)
    y = torch.randint(10, (batch,), device=device)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(m(x), y)
        loss.backward()
        opt.step()

    return step, {"params": sum(p.numel() for p in m.parameters()), "images": batch}


CASES: dict[str, Callable] = {
    "conv2d": conv2d,
    "group_conv": group_conv,
    "field_group_conv": field_group_conv,
    "attentive_group_conv": attentive_group_conv,
    "attentive_reference": attentive_reference,
    "spatial_attention_floor": spatial_attention_floor,
    "e2cnn_r2conv": e2cnn_r2conv,
    "gsa_training": gsa_training,
    "model_training": model_training,
}


def build_case(name: str, device: torch.device | str, params: dict):
    """Build the named case; ``ValueError`` listing the cases for an unknown name."""
    if name not in CASES:
        raise ValueError(f"unknown benchmark case {name!r}; valid: {', '.join(sorted(CASES))}")
    return CASES[name](torch.device(device), **params)

"""The lean attentive layers equal a straightforward materialising reference (SPEC §3 formula).

The reference below builds every partial response with ``unfold`` and applies the attention
formulas literally: relative indices from ``finite_tables(H).relative``, spatial-attention
kernels rotated with ``transform_signal``/``transform_image`` — independent of the lean code.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gattn.attention import AttentiveGroupConv, AttentiveLiftingConv
from gattn.groups import finite_tables, p4, p4m, transform_image, transform_signal


def _first_max(t, dims):
    """max over ``dims`` whose gradient goes to the first maximiser (row-major), the
    sub-gradient the lean path picks; ``amax`` would split it among exact ties."""
    moved = t.movedim(dims, tuple(range(t.dim() - len(dims), t.dim())))
    return moved.flatten(-len(dims)).max(dim=-1).values


def reference_full(layer, x, channel=True, spatial=True):
    """out(x,h) = sum_{c~,h~} aX(x,h,h~) aC_{c~}(h,h~) f~_{c~}(x,h,h~) + bias."""
    group, lifting = layer.group, isinstance(layer, AttentiveLiftingConv)
    stab = group.stabiliser
    n = stab.order
    x5 = x.unsqueeze(2) if lifting else x
    b, ci, hi, yy, xx = x5.shape
    co, k, p, s = layer.out_channels, layer.kernel_size, layer.padding, layer.stride
    bank = layer.filter_bank().reshape(co, n, ci, hi, k * k)
    patches = F.unfold(x5.reshape(b, ci * hi, yy, xx), k, padding=p, stride=s)
    oy = (yy + 2 * p - k) // s + 1
    ox = (xx + 2 * p - k) // s + 1
    patches = patches.reshape(b, ci, hi, k * k, oy, ox)
    resp = torch.einsum("ohctq,bctqyx->bohctyx", bank, patches)  # partial responses
    if lifting:
        rel = torch.zeros(n, 1, dtype=torch.long)
    else:
        rel = finite_tables(stab).relative  # index of h_i^{-1} h_j
    alpha = torch.ones_like(resp)
    att = layer.attention
    if channel:
        ca = att.channel
        logits = 0
        for stat in (resp.mean(dim=(-2, -1)), _first_max(resp, (-2, -1))):
            hidden = torch.zeros(b, co, n, hi, ca.hidden, dtype=x.dtype)
            out = torch.zeros(b, co, n, ci, hi, dtype=x.dtype)
            for h in range(n):
                for t in range(hi):
                    r = int(rel[h, t])
                    hidden[:, :, h, t] = torch.einsum(
                        "ojc,boc->boj", ca.w1[:, r], stat[:, :, h, :, t]
                    )
            hidden = torch.relu(hidden)
            for h in range(n):
                for t in range(hi):
                    r = int(rel[h, t])
                    out[:, :, h, :, t] = torch.einsum(
                        "ocj,boj->boc", ca.w2[:, r], hidden[:, :, h, t]
                    )
            logits = logits + out
        alpha = alpha * torch.sigmoid(logits)[..., None, None]
    if spatial:
        sa = att.spatial
        attended = alpha * resp
        stats = torch.stack([attended.mean(dim=3), _first_max(attended, (3,))], dim=3)
        ks = sa.kernel_size
        ax = torch.zeros(b, co, n, hi, oy, ox, dtype=x.dtype)
        for h in range(n):
            g = group.embed(stab.grid()[h], dtype=torch.float64)
            if lifting:
                rotated = transform_image(group, g, sa.weight, "exact").unsqueeze(2)
            else:
                rotated = transform_signal(group, g, sa.weight, "exact")  # psi(A^-1 y, h^-1 t)
            for c in range(co):
                for t in range(hi):
                    kern = rotated[c, :, t].unsqueeze(0)  # (1, 2, ks, ks)
                    ax[:, c, h, t] = torch.sigmoid(
                        F.conv2d(stats[:, c, h, :, t], kern, padding=ks // 2)
                    )[:, 0]
        alpha = alpha * ax.unsqueeze(3)
    out = (alpha * resp).sum(dim=(3, 4))
    if layer.residual:
        out = resp.sum(dim=(3, 4)) - out
    if layer.conv.bias is not None:
        out = out + layer.conv.bias[:, None, None, None]
    return out


MODES = {"full": (True, True), "channel": (True, False), "spatial": (False, True)}


def _make(cls, group, mode, residual, stride, padding, seed):
    torch.manual_seed(seed)
    layer = cls(group, 3, 2, 3, stride=stride, padding=padding, attention=mode, residual=residual)
    layer = layer.double()
    with torch.no_grad():
        layer.conv.bias.normal_()
    return layer


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("cls", [AttentiveLiftingConv, AttentiveGroupConv])
@pytest.mark.parametrize(
    "group,residual,stride,padding,size",
    [
        (p4(), False, 1, 1, 7),
        (p4(), True, 1, 1, 7),
        (p4m(), True, 1, 0, 8),
        (p4m(), False, 1, 0, 8),
        (p4(), False, 2, 1, 9),
        (p4(), True, 2, 1, 9),
    ],
    ids=[
        "p4-odd",
        "p4-odd-residual",
        "p4m-even-residual",
        "p4m-even",
        "p4-stride2",
        "p4-stride2-residual",
    ],
)
def test_lean_equals_reference(mode, cls, group, residual, stride, padding, size):
    layer = _make(cls, group, mode, residual, stride, padding, seed=size)
    n = group.stabiliser.order
    shape = (2, 3, size, size) if cls is AttentiveLiftingConv else (2, 3, n, size, size)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    lean = layer(x)
    ref = reference_full(layer, x, *MODES[mode])
    assert lean.shape == ref.shape
    assert (lean - ref).abs().max() <= 1e-10
    # gradients agree too (the lean path has custom backward passes)
    gy = torch.randn_like(lean)
    params = [p for p in layer.parameters()]
    g_lean = torch.autograd.grad(lean, [x, *params], gy)
    g_ref = torch.autograd.grad(ref, [x, *params], gy)
    for a, r in zip(g_lean, g_ref):
        assert (a - r).abs().max() <= 1e-10


@pytest.mark.parametrize("cls", [AttentiveLiftingConv, AttentiveGroupConv])
def test_lean_equals_reference_with_exact_ties(cls):
    """Rectified input with an all-zero block: partial responses tie exactly (0 for every input
    channel over the block, and the spatial maximum is attained many times). The max statistics
    must hand their gradient to one maximiser, the first, as the reference does."""
    group = p4()
    layer = _make(cls, group, "full", False, 1, 1, seed=7)
    shape = (2, 3, 9, 9) if cls is AttentiveLiftingConv else (2, 3, 4, 9, 9)
    x = torch.relu(torch.randn(shape, dtype=torch.float64) - 0.5)
    x[..., 2:7, 2:7] = 0.0
    x.requires_grad_(True)
    lean = layer(x)
    ref = reference_full(layer, x)
    assert (lean - ref).abs().max() <= 1e-10
    gy = torch.randn_like(lean)
    params = list(layer.parameters())
    g_lean = torch.autograd.grad(lean, [x, *params], gy)
    g_ref = torch.autograd.grad(ref, [x, *params], gy)
    for a, r in zip(g_lean, g_ref):
        assert (a - r).abs().max() <= 1e-10


def test_reference_detects_a_wrong_lean_path():
    """Sanity: the comparison can fail (perturbing one attention weight changes the output)."""
    layer = _make(AttentiveGroupConv, p4(), "full", False, 1, 1, seed=0)
    x = torch.randn(2, 3, 4, 6, 6, dtype=torch.float64)
    ref = reference_full(layer, x)
    with torch.no_grad():
        layer.attention.channel.w1[0, 1, 0, 0] += 0.5
    assert (layer(x) - ref).abs().max() > 1e-6


@pytest.mark.parametrize("checkpoint", [False, True])
@pytest.mark.parametrize("cls", [AttentiveLiftingConv, AttentiveGroupConv])
def test_lean_equals_reference_over_many_batch_chunks(monkeypatch, cls, checkpoint):
    """Batch chunks of 1-2 samples (partial responses) and 2 samples (attention maps), a ragged
    last chunk: the streamed forward and backward passes stitch chunks correctly."""
    from gattn.ops import lean_attention as lean

    group = p4m()
    layer = _make(cls, group, "full", False, 1, 1, seed=11)
    layer.attention.checkpoint = checkpoint
    n, size = group.stabiliser.order, 6
    per_sample = 3 * 2 * n * size * size  # C_in * C_out |H| * L for one input element
    monkeypatch.setattr(lean, "RESPONSE_BUDGET", per_sample + 1)  # one sample per chunk
    monkeypatch.setattr(lean, "MAP_BUDGET", 2 * 2 * n * size * size)  # two samples per chunk
    shape = (5, 3, size, size) if cls is AttentiveLiftingConv else (5, 3, n, size, size)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    lean_y = layer(x)
    ref = reference_full(layer, x)
    assert (lean_y - ref).abs().max() <= 1e-10
    gy = torch.randn_like(lean_y)
    params = list(layer.parameters())
    for a, r in zip(
        torch.autograd.grad(lean_y, [x, *params], gy), torch.autograd.grad(ref, [x, *params], gy)
    ):
        assert (a - r).abs().max() <= 1e-10


@pytest.mark.parametrize("chunks,checkpoint", [(1, False), (2, True), (4, True)])
def test_chunked_checkpointed_path_is_the_same_function(chunks, checkpoint):
    """``FactorisedAttention(chunks=..., checkpoint=...)`` (h~ slices, optionally recomputed in
    the backward pass) against the default (one slice per input element)."""
    layer = _make(AttentiveGroupConv, p4(), "full", False, 1, 1, seed=3)
    x = torch.randn(3, 3, 4, 7, 7, dtype=torch.float64, requires_grad=True)
    y = layer(x)
    g = torch.autograd.grad(y.sum(), [x, *layer.parameters()])
    layer.attention.chunks, layer.attention.checkpoint = chunks, checkpoint
    y2 = layer(x)
    g2 = torch.autograd.grad(y2.sum(), [x, *layer.parameters()])
    assert (y - y2).abs().max() <= 1e-12
    for a, b in zip(g, g2):
        assert (a - b).abs().max() <= 1e-10

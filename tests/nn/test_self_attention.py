"""Tests for group self-attention (GSA): lean layers vs straightforward references written
from the maths, exact equivariance on random group signals, a deliberately broken variant,
memory-control options and input validation."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gattn.groups import (
    E2,
    SE2,
    FiniteGroup,
    GroupSignal,
    Image,
    Rn,
    SemidirectProduct,
    finite_tables,
    p4,
    p4m,
    pixel_coordinates,
)
from gattn.nn import self_attention as sa_module
from gattn.nn.self_attention import GroupSelfAttention, LiftingSelfAttention
from gattn.ops.local_attention import LocalAttention
from gattn.testing import EquivarianceError, assert_equivariant

F64 = torch.float64


# --------------------------------------------------------------------------- references
def _qkv(layer, x: torch.Tensor):
    """Pointwise projections of ``x (B, C, G, N)`` -> three ``(B, C_out, G, N)``."""
    w = layer.qkv.weight
    c = layer.out_channels
    return [torch.einsum("oc,bcgn->bogn", w[i * c : (i + 1) * c], x) for i in range(3)]


def _scale(layer, shape: tuple[int, ...]) -> float:
    if layer.patch_size is not None:
        return float(max((layer.patch_size - 1) // 2, 1))
    return max((max(shape) - 1) / 2, 1.0)


def dense_reference(layer, x: torch.Tensor) -> torch.Tensor:
    r"""Fully materialised GSA written from the maths, in d = 1, 2 or 3: every (query position,
    key position) pair, the offset from :func:`pixel_coordinates`, the relative element
    :math:`h^{-1}\hat h` from ``product``/``inverse`` of the elements of ``H.grid()`` (not the
    relative table), the MLP evaluated per pair."""
    stab = layer.stabiliser
    dims = layer.dims
    lifting = x.dim() == dims + 2
    xs = x.unsqueeze(2) if lifting else x
    b, _, g = xs.shape[:3]
    shape = tuple(xs.shape[3:])
    hs = stab.grid()
    n, order, m, d = math.prod(shape), hs.shape[0], layer.heads, layer.head_dim
    dtype = x.dtype
    coords = pixel_coordinates(*shape, dtype=dtype).reshape(n, dims)
    delta = coords[None, :, :] - coords[:, None, :]  # [i, j] = x_j - x_i
    a_inv = stab.matrix(stab.inverse(hs), dtype=dtype)
    rot = torch.einsum("hab,ijb->hija", a_inv, delta) / _scale(layer, shape)
    if lifting:
        feats = rot[:, None]  # (H, 1, N, N, d)
    else:
        rel = stab.product(stab.inverse(hs)[:, None], hs[None, :])  # (H, H): h^{-1} h^
        hf = stab.features(rel).to(dtype)
        feats = torch.cat(
            [
                rot[:, None].expand(order, order, n, n, dims),
                hf[:, :, None, None].expand(order, order, n, n, hf.shape[-1]),
            ],
            -1,
        )
    rho = layer.pos(feats).reshape(order, g, n, n, m, d)
    q, k, v = _qkv(layer, xs.reshape(b, -1, g, n))
    q = q.expand(b, -1, order, n).reshape(b, m, d, order, n)
    k = k.reshape(b, m, d, g, n)
    v = v.reshape(b, m, d, g, n)
    keys = k[:, :, :, None, :, None, :] + rho.permute(4, 5, 0, 1, 2, 3)[None]  # b m d h g i j
    logits = torch.einsum("bmdhi,bmdhgij->bmhigj", q, keys) / math.sqrt(d)
    if layer.patch_size is not None:
        r = layer.patch_size // 2
        outside = (delta.abs() > r + 1e-9).any(-1)  # (N_i, N_j)
        logits = logits.masked_fill(outside[:, None, :], float("-inf"))
    attn = torch.softmax(logits.reshape(b, m, order, n, g * n), -1).reshape(logits.shape)
    out = torch.einsum("bmhigj,bmdgj->bmdhi", attn, v).reshape(b, m * d, order, n)
    out = torch.einsum("oc,bchn->bohn", layer.out.weight, out) + layer.out.bias[:, None, None]
    return out.reshape(b, -1, order, *shape)


def materialised_reference(layer, x: torch.Tensor) -> torch.Tensor:
    r"""Straightforward local GSA that materialises per pixel: neighbour indices gathered from
    the image, the positional MLP evaluated for every (h, \hat h, pixel, neighbour), the keys
    plus encodings summed explicitly. Memory :math:`O(B C |H|^2 N p^2)` (used by the
    benchmark as the materialising baseline)."""
    stab = layer.stabiliser
    p = layer.patch_size
    assert p is not None
    lifting = x.dim() == 4
    xs = x.unsqueeze(2) if lifting else x
    b, _, g, y, w = xs.shape
    n, order, m, d, r = y * w, stab.order, layer.heads, layer.head_dim, p // 2
    dtype, dev = x.dtype, x.device
    rows = torch.arange(y, device=dev).repeat_interleave(w)
    cols = torch.arange(w, device=dev).repeat(y)
    off = torch.arange(-r, r + 1, device=dev)
    nr = rows[:, None, None] + off[None, :, None]  # (N, p, 1)
    nc = cols[:, None, None] + off[None, None, :]  # (N, 1, p)
    valid = ((nr >= 0) & (nr < y) & (nc >= 0) & (nc < w)).reshape(n, p * p)
    j = (nr.clamp(0, y - 1) * w + nc.clamp(0, w - 1)).reshape(n, p * p)
    coords = pixel_coordinates(y, w, dtype=dtype, device=dev).reshape(n, 2)
    delta = coords[j] - coords[:, None, :]  # (N, P, 2)
    hs = stab.grid()
    a_inv = stab.matrix(stab.inverse(hs), dtype=dtype).to(dev)
    rot = torch.einsum("hab,npb->hnpa", a_inv, delta) / _scale(layer, (y, w))
    if lifting:
        feats = rot[:, None]
    else:
        rel = stab.product(stab.inverse(hs)[:, None], hs[None, :])
        hf = stab.features(rel).to(dtype=dtype, device=dev)
        feats = torch.cat(
            [
                rot[:, None].expand(order, order, n, p * p, 2),
                hf[:, :, None, None].expand(order, order, n, p * p, hf.shape[-1]),
            ],
            -1,
        )
    rho = layer.pos(feats).reshape(order, g, n, p * p, m, d).permute(4, 5, 0, 1, 2, 3)
    q, k, v = _qkv(layer, xs.reshape(b, -1, g, n))
    q = q.expand(b, -1, order, n).reshape(b, m, d, order, n)
    kg = k.reshape(b, m, d, g, n)[..., j]  # (B, M, d, G, N, P)
    vg = v.reshape(b, m, d, g, n)[..., j]
    keys = kg[:, :, :, None] + rho[None]  # (B, M, d, H, G, N, P)
    logits = torch.einsum("bmdhn,bmdhgnp->bmhngp", q, keys) / math.sqrt(d)
    logits = logits.masked_fill(~valid[:, None, :], float("-inf"))
    attn = torch.softmax(logits.reshape(b, m, order, n, -1), -1).reshape(logits.shape)
    out = torch.einsum("bmhngp,bmdgnp->bmdhn", attn, vg).reshape(b, m * d, order, n)
    out = torch.einsum("oc,bchn->bohn", layer.out.weight, out) + layer.out.bias[:, None, None]
    return out.reshape(b, -1, order, y, w)


# --------------------------------------------------------------------------- groups
def _user_d4() -> SemidirectProduct:
    """D_4 from generators (mirror first), so the element order differs from dihedral(4)."""
    h = FiniteGroup.from_generators("D4-user", [[[-1, 0], [0, 1]], [[0, -1], [1, 0]]])
    return SemidirectProduct(h)


GROUPS = {
    "p4": p4(),
    "p4m": p4m(),
    "C1": SE2(1),
    "C2": SE2(2),
    "C8": SE2(8),
    "D1": E2(1),
    "D8": E2(8),
    "R2": Rn(2),
    "user-D4": _user_d4(),
}
EXACT = ["p4", "p4m", "C2", "D1", "user-D4", "R2"]


def _exact_elements(group) -> list[torch.Tensor]:
    exact = finite_tables(group.stabiliser).lattice_preserving
    return [group.embed(torch.tensor(i), dtype=F64) for i in range(len(exact)) if exact[i]]


def _signal(group, b, c, size, seed=0, dtype=F64):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(b, c, group.stabiliser.order, size, size, generator=gen, dtype=F64).to(dtype)


# --------------------------------------------------------------------------- reference equality
@pytest.mark.parametrize("name", list(GROUPS))
@pytest.mark.parametrize("patch", [3, None])
@pytest.mark.parametrize("kind", ["lifting", "group"])
def test_lean_equals_dense_reference(name, patch, kind):
    group = GROUPS[name]
    torch.manual_seed(1)
    size = 5 if patch is None else 6
    if kind == "lifting":
        layer = LiftingSelfAttention(group, 2, 6, 3, patch_size=patch, dtype=F64)
        x = torch.randn(2, 2, size, size, dtype=F64)
    else:
        layer = GroupSelfAttention(group, 2, 6, 2, patch_size=patch, dtype=F64)
        x = _signal(group, 2, 2, size, seed=3)
    with torch.no_grad():
        lean, ref = layer(x), dense_reference(layer, x)
    assert lean.shape == ref.shape
    assert (lean - ref).abs().max() <= 1e-10 * max(1.0, float(ref.abs().max()))


@pytest.mark.parametrize("name", ["p4m", "C8"])
@pytest.mark.parametrize("kind", ["lifting", "group"])
def test_lean_equals_materialised_reference(name, kind):
    group = GROUPS[name]
    torch.manual_seed(2)
    if kind == "lifting":
        layer = LiftingSelfAttention(group, 3, 4, 2, patch_size=5, dtype=F64)
        x = torch.randn(2, 3, 7, 6, dtype=F64)
    else:
        layer = GroupSelfAttention(group, 3, 4, 2, patch_size=5, dtype=F64)
        x = torch.randn(2, 3, group.stabiliser.order, 7, 6, dtype=F64)
    with torch.no_grad():
        ref = materialised_reference(layer, x)
        lean = layer(x)
    assert (lean - ref).abs().max() <= 1e-10 * max(1.0, float(ref.abs().max()))


def test_gradients_equal_reference():
    torch.manual_seed(4)
    layer = GroupSelfAttention(p4m(), 2, 4, 2, patch_size=3, dtype=F64)
    x = _signal(p4m(), 1, 2, 5, seed=5)
    g_lean = torch.autograd.grad(layer(x).square().sum(), list(layer.parameters()))
    g_ref = torch.autograd.grad(dense_reference(layer, x).square().sum(), list(layer.parameters()))
    for a, b in zip(g_lean, g_ref):
        assert torch.allclose(a, b, atol=1e-10, rtol=1e-9)


# --------------------------------------------------------------------------- equivariance
@given(
    name=st.sampled_from(EXACT),
    size=st.integers(3, 8),
    patch=st.sampled_from([1, 3, 5, None]),
    heads=st.sampled_from([1, 2, 3]),
    seed=st.integers(0, 2**16),
)
def test_group_self_attention_equivariant_float64(name, size, patch, heads, seed):
    group = GROUPS[name]
    if patch is not None and patch > size:
        patch = None
    torch.manual_seed(seed)
    layer = GroupSelfAttention(group, 3, 2 * heads, heads, patch_size=patch, dtype=F64)
    x = _signal(group, 2, 3, size, seed=seed)
    rep = assert_equivariant(layer, group, x, g=_exact_elements(group), atol=1e-10)
    assert rep.relative <= 1e-10


@given(
    name=st.sampled_from(EXACT),
    size=st.integers(3, 8),
    patch=st.sampled_from([1, 3, 5, None]),
    seed=st.integers(0, 2**16),
)
def test_lifting_self_attention_equivariant_float64(name, size, patch, seed):
    group = GROUPS[name]
    if patch is not None and patch > size:
        patch = 3 if size >= 3 else None
    torch.manual_seed(seed)
    layer = LiftingSelfAttention(group, 2, 6, 3, patch_size=patch, dtype=F64)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 2, size, size, generator=gen, dtype=F64)
    assert (
        assert_equivariant(layer, group, x, g=_exact_elements(group), atol=1e-10).relative <= 1e-10
    )


@given(name=st.sampled_from(["p4", "p4m"]), size=st.integers(4, 7), seed=st.integers(0, 999))
def test_equivariant_float32(name, size, seed):
    group = GROUPS[name]
    torch.manual_seed(seed)
    layer = GroupSelfAttention(group, 4, 6, 3, patch_size=3)
    x = _signal(group, 2, 4, size, seed=seed, dtype=torch.float32)
    assert assert_equivariant(layer, group, x, atol=1e-5).relative <= 1e-5


@pytest.mark.parametrize("name", ["C8", "D8"])
def test_non_grid_exact_groups_equivariant_for_grid_exact_subgroup(name):
    group = GROUPS[name]
    torch.manual_seed(0)
    layer = GroupSelfAttention(group, 2, 4, 2, patch_size=3, dtype=F64)
    x = _signal(group, 1, 2, 6, seed=1)
    elements = _exact_elements(group)
    assert len(elements) == (4 if name == "C8" else 8)
    assert assert_equivariant(layer, group, x, g=elements).relative <= 1e-10
    lift = LiftingSelfAttention(group, 2, 4, 2, patch_size=None, dtype=F64)
    img = torch.randn(1, 2, 5, 5, dtype=F64)
    assert assert_equivariant(lift, group, img, g=elements).relative <= 1e-10


# --------------------------------------------------------------------------- broken variants
def _with_relative_index(layer, index: torch.Tensor):
    """Rebuild the group part of a layer's encoding buffers from a (wrong) index table in place
    of ``finite_tables(H).relative``: the broken variants below."""
    stab = layer.stabiliser
    feats = stab.features(finite_tables(stab).elements[index]).to(layer.group_features)
    layer.group_features.copy_(feats)
    if layer.pos_features is not None:  # (|H|, |H|, P, d + d_H)
        layer.pos_features[..., layer.dims :] = feats[:, :, None]
    return layer


def _hat_only(group, *args, **kwargs) -> GroupSelfAttention:
    """BROKEN on purpose: the group part of the encoding indexed by \\hat h alone."""
    layer = GroupSelfAttention(group, *args, **kwargs)
    n = layer.stabiliser.order
    return _with_relative_index(layer, torch.arange(n).expand(n, n).clone())


def _hand_roll(group, *args, **kwargs) -> GroupSelfAttention:
    """BROKEN on purpose: h^{-1}\\hat h as a hand-coded roll (\\hat h - h) mod |H| — right for
    C_n, wrong for the mirrors of D_n (the g_selfatt bug class)."""
    layer = GroupSelfAttention(group, *args, **kwargs)
    i = torch.arange(layer.stabiliser.order)
    return _with_relative_index(layer, (i[None, :] - i[:, None]) % len(i))


def test_relative_index_is_the_tables_one():
    """The buffers are built from ``finite_tables(H).relative``: rebuilding them from that table
    changes nothing (so the broken variants differ only by their index table)."""
    layer = GroupSelfAttention(p4m(), 2, 4, 2, patch_size=3, dtype=F64)
    before = layer.pos_features.clone(), layer.group_features.clone()
    _with_relative_index(layer, finite_tables(layer.stabiliser).relative)
    assert torch.equal(before[0], layer.pos_features)
    assert torch.equal(before[1], layer.group_features)


@pytest.mark.parametrize("patch", [3, None])
def test_broken_variant_hat_only_is_rejected(patch):
    torch.manual_seed(0)
    layer = _hat_only(p4(), 2, 4, 2, patch_size=patch, dtype=F64)
    x = _signal(p4(), 2, 2, 5)
    with pytest.raises(EquivarianceError):
        assert_equivariant(layer, p4(), x)


def test_broken_variant_hand_roll_passes_c4_fails_mirrors():
    torch.manual_seed(0)
    ok = _hand_roll(p4(), 2, 4, 2, patch_size=3, dtype=F64)
    assert assert_equivariant(ok, p4(), _signal(p4(), 2, 2, 5)).relative <= 1e-10
    bad = _hand_roll(p4m(), 2, 4, 2, patch_size=3, dtype=F64)
    with pytest.raises(EquivarianceError):
        assert_equivariant(bad, p4m(), _signal(p4m(), 2, 2, 5))


# --------------------------------------------------------------------------- memory options
@pytest.mark.parametrize("patch", [3, None])
def test_chunking_and_checkpoint_match(patch):
    torch.manual_seed(0)
    layer = GroupSelfAttention(p4(), 3, 6, 3, patch_size=patch, dtype=F64)
    x = _signal(p4(), 5, 3, 5).requires_grad_(True)
    y0 = layer(x)
    g0 = torch.autograd.grad(y0.sum(), [x, *layer.parameters()])
    layer.chunk_size, layer.checkpoint = 2, True
    y1 = layer(x)
    g1 = torch.autograd.grad(y1.sum(), [x, *layer.parameters()])
    assert torch.allclose(y0, y1, atol=1e-12, rtol=0)
    for a, b in zip(g0, g1):
        assert torch.allclose(a, b, atol=1e-11, rtol=0)


@pytest.mark.parametrize(("chunk", "recompute"), [(2, False), (1, True)])
def test_fused_local_attention_gradcheck(chunk, recompute):
    """The hand-written backward of the fused local attention against finite differences
    (float64, tiny shapes, several chunks, odd and non-square image with masked borders)."""
    gen = torch.Generator().manual_seed(7)
    b, m, d, h, g, y, x, p = 2, 1, 2, 2, 2, 4, 3, 3

    def rand(*shape):
        return torch.randn(*shape, generator=gen, dtype=F64, requires_grad=True)

    q, k, v = rand(b, m, y * x, h, d), rand(b, m, d, g, y, x), rand(b, m, d, g, y, x)
    rho = rand(m, h, d, g * p * p)

    def fn(q, k, v, rho):
        return LocalAttention.apply(q, k, v, rho, p, chunk, recompute)

    # fast mode: finite differences against the backward along random directions
    assert torch.autograd.gradcheck(fn, (q, k, v, rho), eps=1e-6, atol=1e-8, fast_mode=True)


def test_recompute_and_saved_probabilities_agree():
    """``checkpoint=True`` (probabilities recomputed in backward, one sample per chunk) and
    the default (probabilities kept) give the same outputs and gradients."""
    torch.manual_seed(3)
    layer = GroupSelfAttention(p4m(), 3, 6, 3, patch_size=5, dtype=F64)
    x = _signal(p4m(), 3, 3, 7).requires_grad_(True)
    y0 = layer(x)
    g0 = torch.autograd.grad(y0.square().sum(), [x, *layer.parameters()])
    layer.chunk_size, layer.checkpoint = 1, True
    y1 = layer(x)
    g1 = torch.autograd.grad(y1.square().sum(), [x, *layer.parameters()])
    assert torch.allclose(y0, y1, atol=1e-12, rtol=0)
    for a, b in zip(g0, g1):
        assert torch.allclose(a, b, atol=1e-11, rtol=0)


def test_buffers_dtype_and_state_dict():
    layer = GroupSelfAttention(p4m(), 2, 4, 2, patch_size=3)
    names = dict(layer.named_buffers())
    assert {"pos_features", "inverse_matrices", "group_features"} <= set(names)
    assert names["pos_features"].shape == (8, 8, 9, 6)
    layer = layer.double()
    assert layer(_signal(p4m(), 1, 2, 4)).dtype == F64
    lift = LiftingSelfAttention(p4(), 2, 4, 2, patch_size=None)
    assert lift.pos_features is None and lift.group_features is None
    assert lift(torch.randn(1, 2, 4, 4)).shape == (1, 4, 4, 4, 4)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"patch_size": 4}, "patch_size=4"),
        ({"patch_size": 0}, "patch_size=0"),
        ({"out_channels": 5, "heads": 2}, "out_channels=5 is not divisible by heads=2"),
        ({"heads": 0}, "heads=0"),
        ({"in_channels": 0}, "in_channels=0"),
        ({"chunk_size": 0}, "chunk_size"),
    ],
)
@pytest.mark.parametrize("cls", [LiftingSelfAttention, GroupSelfAttention])
def test_bad_arguments(cls, kwargs, match):
    args = {"in_channels": 2, "out_channels": 4, "heads": 2, "patch_size": 3}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        cls(p4(), **args)


def test_bad_group():
    with pytest.raises(ValueError, match="infinite stabiliser"):
        GroupSelfAttention(SE2(), 2, 4, 2)
    flip4 = FiniteGroup.from_generators(
        "flip4", [[[-1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]]
    )
    with pytest.raises(ValueError, match="acts on R\\^4"):
        LiftingSelfAttention(flip4, 2, 4, 2)
    with pytest.raises(TypeError, match="affine group"):
        GroupSelfAttention("p4", 2, 4, 2)
    with pytest.raises(ValueError, match="pos_hidden"):
        GroupSelfAttention(p4(), 2, 4, 2, pos_hidden=0)


def test_layers_declare_layouts():
    lift = LiftingSelfAttention(p4m(), 3, 4, 2, patch_size=3)
    gsa = GroupSelfAttention(p4m(), 4, 6, 3)
    h = p4m().stabiliser
    assert lift.in_layout == Image(2, 3) and lift.out_layout == GroupSignal(h, 2, 4)
    assert gsa.in_layout == GroupSignal(h, 2, 4) and gsa.out_layout == GroupSignal(h, 2, 6)
    assert not hasattr(sa_module, "attention_stabiliser")
    assert not hasattr(GroupSelfAttention, "_relative_index")


def test_bad_inputs():
    gsa = GroupSelfAttention(p4(), 2, 4, 2, patch_size=5)
    lsa = LiftingSelfAttention(p4(), 2, 4, 2, patch_size=5)
    with pytest.raises(ValueError, match="group axis length 8"):
        gsa(torch.randn(1, 2, 8, 6, 6))
    with pytest.raises(ValueError, match="group signal"):
        gsa(torch.randn(1, 2, 6, 6))
    with pytest.raises(ValueError, match="3 channels"):
        gsa(torch.randn(1, 3, 4, 6, 6))
    with pytest.raises(ValueError, match="patch_size=5 is larger than the input 4x6"):
        gsa(torch.randn(1, 2, 4, 4, 6))
    with pytest.raises(ValueError, match="image batch"):
        lsa(torch.randn(1, 2, 4, 6, 6))
    with pytest.raises(ValueError, match="patch_size=5 is larger than the input 3x3"):
        lsa(torch.randn(1, 2, 3, 3))

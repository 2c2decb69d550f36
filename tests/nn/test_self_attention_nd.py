"""Lifting and group self-attention in d = 1 and d = 3 and on a group written against the
interface alone: the lean layers equal the dense reference written from the maths (d-dim
offsets, relative elements from ``product``/``inverse``), and they are exactly equivariant
(float64, relative error <= 1e-10) under every element of p1m on 1-D signals and of the cube
groups on volumes, local and global, with Hypothesis drawing odd and even sizes, channels and
heads; the equivariance checks read the layers' declared layouts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from interface_groups import ShuffledC4, ShuffledReflection

from gattn.groups import (
    GroupSignal,
    Image,
    Invariant,
    SemidirectProduct,
    cube,
    cubem,
    finite_tables,
    p1m,
    p4,
)
from gattn.models.transformer import GroupTransformer
from gattn.nn.self_attention import GroupSelfAttention, LiftingSelfAttention
from gattn.ops.local_attention import LocalAttention
from gattn.testing import EquivarianceError, assert_equivariant

F64 = torch.float64
TOL = 1e-10
TESTS = Path(__file__).resolve().parents[1]


def _load(relative: str, name: str):
    spec = importlib.util.spec_from_file_location(name, TESTS / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


dense_reference = _load("nn/test_self_attention.py", "_gsa_dense").dense_reference
INTERFACE_1D = [SemidirectProduct(ShuffledReflection())]


def _layer(kind, group, c_in, c_out, heads, patch):
    cls = LiftingSelfAttention if kind == "lifting" else GroupSelfAttention
    return cls(group, c_in, c_out, heads, patch_size=patch, pos_hidden=8, dtype=F64)


def _input(kind, group, batch, channels, shape, seed):
    gen = torch.Generator().manual_seed(seed)
    order = finite_tables(group.stabiliser).order
    axes = (batch, channels) if kind == "lifting" else (batch, channels, order)
    return torch.randn(*axes, *shape, generator=gen, dtype=F64)


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    a, b = a.detach(), b.detach()
    return a.shape == b.shape and float((a - b).abs().max()) <= TOL * max(1.0, float(b.abs().max()))


# --------------------------------------------------------------------------- layouts
@pytest.mark.parametrize(("group", "dims"), [(p1m(), 1), (p4(), 2), (cube(), 3)])
def test_layouts_follow_the_dimension(group, dims):
    h = group.stabiliser
    lift = LiftingSelfAttention(group, 2, 4, 2, patch_size=3)
    gsa = GroupSelfAttention(group, 4, 4, 2)
    assert lift.dims == gsa.dims == dims
    assert lift.in_layout == Image(dims, 2) and lift.out_layout == GroupSignal(h, dims, 4)
    assert gsa.in_layout == GroupSignal(h, dims, 4) and gsa.out_layout == GroupSignal(h, dims, 4)
    assert lift.pos.fc1.in_features == dims  # the rotated offset has d coordinates
    assert gsa.pos.fc1.in_features == dims + dims * dims  # and vec A(h^-1 h^) d^2 entries


# --------------------------------------------------------------------------- reference equality
REFERENCE_CASES = [
    ("p1m", p1m(), (7,)),
    ("p1m-even", p1m(), (6,)),
    ("cube", cube(), (4, 3, 4)),
    ("shuffled-C4", SemidirectProduct(ShuffledC4()), (5, 4)),
    *[("shuffled-reflection", group, (6,)) for group in INTERFACE_1D],
]


@pytest.mark.parametrize(("name", "group", "shape"), REFERENCE_CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("patch", [3, None])
@pytest.mark.parametrize("kind", ["lifting", "group"])
def test_lean_equals_dense_reference(name, group, shape, patch, kind):
    """Outputs and gradients of the lean layers (fused local / global attention, tables from
    ``finite_tables``) equal the dense reference (every pair, ``pixel_coordinates`` offsets,
    ``product``/``inverse`` of ``H.grid()``)."""
    torch.manual_seed(1)
    layer = _layer(kind, group, 2, 4, 2, patch)
    x = _input(kind, group, 2, 2, shape, seed=3)
    lean, ref = layer(x), dense_reference(layer, x)
    assert _close(lean, ref)
    params = list(layer.parameters())
    g_lean = torch.autograd.grad(lean.square().sum(), params)
    g_ref = torch.autograd.grad(ref.square().sum(), params)
    for a, b in zip(g_lean, g_ref):
        assert torch.allclose(a, b, atol=1e-10, rtol=1e-9)


# --------------------------------------------------------------------------- equivariance, d = 1
@given(
    kind=st.sampled_from(["lifting", "group"]),
    size=st.integers(3, 10),
    patch=st.sampled_from([1, 3, 5, None]),
    channels=st.integers(1, 4),
    heads=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
@pytest.mark.parametrize("group", [p1m(), *INTERFACE_1D], ids=lambda g: g.name)
def test_reflections_equivariant_on_1d_signals(group, kind, size, patch, channels, heads, seed):
    if patch is not None and patch > size:
        patch = None
    torch.manual_seed(seed)
    layer = _layer(kind, group, channels, 2 * heads, heads, patch)
    x = _input(kind, group, 2, channels, (size,), seed)
    report = assert_equivariant(layer, group, x, atol=TOL)  # both elements of {±1}
    assert len(report.per_element) == 2 and report.relative <= TOL


def test_p1m_reflection_acts_on_the_group_axis():
    """The output of the lifting layer under the reflection: mirrored along x *and* with the two
    group channels swapped (identity <-> reflection), as GroupSignal(p1m) declares."""
    group = p1m()
    torch.manual_seed(0)
    lift = _layer("lifting", group, 2, 4, 2, 3)
    x = _input("lifting", group, 1, 2, (6,), 0)
    y, y_flip = lift(x), lift(x.flip(-1))
    tables = finite_tables(group.stabiliser)
    swap = tables.cayley[1 - tables.identity_index]  # left multiplication by the reflection
    assert _close(y_flip, y.flip(-1)[:, :, swap])
    assert not _close(y_flip, y.flip(-1))  # the group axis really moves


# --------------------------------------------------------------------------- equivariance, d = 3
def _indices_of(group, matrices) -> list[int]:
    """Grid indices of the stabiliser elements with the given matrices (coordinates x, y, z)."""
    mats = finite_tables(group.stabiliser).matrices
    return [
        int((mats - torch.tensor(m, dtype=F64)).abs().flatten(1).sum(-1).argmin()) for m in matrices
    ]


RZ = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]  # quarter turn about z
RX = [[1, 0, 0], [0, 0, -1], [0, 1, 0]]  # quarter turn about x
INV = [[-1, 0, 0], [0, -1, 0], [0, 0, -1]]  # the point reflection (O_h = O x {±I})


def _elements(group, indices):
    tables = finite_tables(group.stabiliser)
    return [group.embed(tables.elements[i], dtype=F64) for i in indices]


def _generators(group) -> list[torch.Tensor]:
    """A generating set: equivariance under it implies equivariance under the whole group
    (L_{ab} = L_a L_b exactly for lattice-preserving elements), at a fraction of the cost."""
    mats = [RZ, RX] if finite_tables(group.stabiliser).order == 24 else [RZ, RX, INV]
    return _elements(group, _indices_of(group, mats))


def test_generators_generate():
    for group, order in ((cube(), 24), (cubem(), 48)):
        tables = finite_tables(group.stabiliser)
        gens = _indices_of(group, [RZ, RX] if order == 24 else [RZ, RX, INV])
        closure = {tables.identity_index}
        while True:
            more = closure | {int(tables.cayley[a, g]) for a in closure for g in gens}
            if more == closure:
                break
            closure = more
        assert len(closure) == order


CUBE_CASES = [
    ("lifting", 3, 5),
    ("lifting", None, 4),
    ("group", 3, 4),
    ("group", 3, 5),
    ("group", None, 4),
]


@pytest.mark.parametrize(("kind", "patch", "size"), CUBE_CASES)
def test_cube_equivariant_on_volumes(kind, patch, size):
    """The cube's rotations (through its generators), odd and even volumes, local and global."""
    group = cube()
    torch.manual_seed(size)
    layer = _layer(kind, group, 2, 4, 2, patch)
    x = _input(kind, group, 1, 2, (size,) * 3, seed=size)
    report = assert_equivariant(layer, group, x, g=_generators(group), atol=TOL)
    assert report.relative <= TOL


@pytest.mark.parametrize("kind", ["lifting", "group"])
def test_cube_every_rotation(kind):
    """All 24 rotations one by one (no appeal to generators), on a small volume."""
    group = cube()
    torch.manual_seed(0)
    layer = _layer(kind, group, 2, 2, 1, 3)
    x = _input(kind, group, 1, 2, (3, 3, 3) if kind == "group" else (4, 4, 4), seed=0)
    report = assert_equivariant(layer, group, x, atol=TOL)
    assert len(report.per_element) == 24 and report.relative <= TOL


@settings(max_examples=6, deadline=None)
@given(
    kind=st.sampled_from(["lifting", "group"]),
    shape=st.tuples(st.integers(3, 5), st.integers(3, 5), st.integers(3, 5)),
    channels=st.integers(2, 4),
    heads=st.sampled_from([1, 2]),
    seed=st.integers(0, 2**16),
)
def test_cube_equivariant_hypothesis(kind, shape, channels, heads, seed):
    """Hypothesis over box shapes (odd and even sides), channels and heads: up to three random
    rotations among those that map the box onto itself (``|A| s = s`` for the sides ``s``)."""
    group = cube()
    tables = finite_tables(group.stabiliser)
    sides = torch.tensor(shape[::-1], dtype=F64)  # (x, y, z) extents
    keep = [i for i in range(tables.order) if torch.equal(tables.matrices[i].abs() @ sides, sides)]
    pick = torch.randperm(len(keep), generator=torch.Generator().manual_seed(seed))[:3]
    torch.manual_seed(seed)
    layer = _layer(kind, group, channels, 2 * heads, heads, 3)
    x = _input(kind, group, 1, channels, shape, seed)
    elements = _elements(group, [keep[int(i)] for i in pick])
    assert assert_equivariant(layer, group, x, g=elements, atol=TOL).relative <= TOL


@pytest.mark.parametrize("patch", [3, None])
def test_cubem_equivariant(patch):
    """The 48 symmetries of the cube (rotations and reflections), through their generators."""
    group = cubem()
    torch.manual_seed(0)
    for kind in ("lifting", "group"):
        layer = _layer(kind, group, 2, 2, 1, patch)
        x = _input(kind, group, 1, 2, (3, 3, 3), seed=0)
        report = assert_equivariant(layer, group, x, g=_generators(group), atol=TOL)
        assert report.relative <= TOL


# --------------------------------------------------------------------------- interface group
@given(
    kind=st.sampled_from(["lifting", "group"]),
    size=st.integers(3, 7),
    patch=st.sampled_from([3, None]),
    heads=st.integers(1, 2),
    seed=st.integers(0, 2**16),
)
def test_interface_group_equivariant(kind, size, patch, heads, seed):
    """A MatrixGroup subclass with int64 elements listed by grid() as 0, 2, 1, 3."""
    group = SemidirectProduct(ShuffledC4())
    torch.manual_seed(seed)
    layer = _layer(kind, group, 2, 2 * heads, heads, patch)
    x = _input(kind, group, 2, 2, (size, size), seed)
    report = assert_equivariant(layer, group, x, atol=TOL)
    assert len(report.per_element) == 4 and report.relative <= TOL


def test_interface_group_is_p4_with_the_axis_permuted():
    """Same weights: the layers on the shuffled C4 equal those on the catalogue's p4 with the
    group axis read in grid order (element ``grid()[i]`` = ``grid()[i]`` quarter turns)."""
    order = ShuffledC4().grid()
    for kind in ("lifting", "group"):
        torch.manual_seed(0)
        mine = _layer(kind, SemidirectProduct(ShuffledC4()), 2, 4, 2, 3)
        torch.manual_seed(0)
        ref = _layer(kind, p4(), 2, 4, 2, 3)
        x = _input(kind, p4(), 2, 2, (5, 6), seed=1)
        x_mine = x if kind == "lifting" else x[:, :, order]
        assert _close(mine(x_mine), ref(x)[:, :, order])


def test_wrong_relative_table_is_rejected_on_the_cube():
    """The check can fail: the group part of the encoding indexed by \\hat h alone (not
    h^{-1}\\hat h) breaks equivariance under the cube's rotations."""
    group = cube()
    torch.manual_seed(0)
    layer = _layer("group", group, 2, 2, 1, 3)
    n = finite_tables(group.stabiliser).order
    wrong = group.stabiliser.features(torch.arange(n)).to(F64).expand(n, n, -1)
    layer.group_features.copy_(wrong)
    layer.pos_features[..., 3:] = wrong[:, :, None]
    x = _input("group", group, 1, 2, (3, 3, 3), seed=0)
    with pytest.raises(EquivarianceError):
        assert_equivariant(layer, group, x, g=_generators(group), atol=TOL)


# --------------------------------------------------------------------------- fused kernel
@pytest.mark.parametrize("spatial", [(5,), (3, 4, 3)])
@pytest.mark.parametrize(("chunk", "recompute"), [(1, False), (2, True)])
def test_fused_local_attention_gradcheck_nd(spatial, chunk, recompute):
    """The hand-written backward in 1-D and 3-D against finite differences (masked borders)."""
    gen = torch.Generator().manual_seed(7)
    b, m, d, h, g, p = 2, 1, 2, 2, 2, 3
    n = torch.Size(spatial).numel()

    def rand(*shape):
        return torch.randn(*shape, generator=gen, dtype=F64, requires_grad=True)

    q, k, v = rand(b, m, n, h, d), rand(b, m, d, g, *spatial), rand(b, m, d, g, *spatial)
    rho = rand(m, h, d, g * p ** len(spatial))

    def fn(q, k, v, rho):
        return LocalAttention.apply(q, k, v, rho, p, chunk, recompute)

    assert torch.autograd.gradcheck(fn, (q, k, v, rho), eps=1e-6, atol=1e-8, fast_mode=True)


# --------------------------------------------------------------------------- bad input
def test_bad_inputs_nd():
    lift1 = LiftingSelfAttention(p1m(), 2, 4, 2, patch_size=5)
    gsa3 = GroupSelfAttention(cube(), 2, 4, 2, patch_size=3)
    with pytest.raises(ValueError, match="1-D signal batch"):
        lift1(torch.randn(1, 2, 6, 6))
    with pytest.raises(ValueError, match="patch_size=5 is larger than the input 4; "):
        lift1(torch.randn(1, 2, 4))
    with pytest.raises(ValueError, match="Z, Y, X"):
        gsa3(torch.randn(1, 2, 24, 4, 4))
    with pytest.raises(ValueError, match="group axis length 8"):
        gsa3(torch.randn(1, 2, 8, 4, 4, 4))
    with pytest.raises(ValueError, match=r"larger than the input 4x2x4; .*min\(Z, Y, X\) = 2"):
        gsa3(torch.randn(1, 2, 24, 4, 2, 4))


def test_group_transformer_stays_2d_and_declares_layouts():
    """The zoo's GSA model pools images: it declares Image(2) -> Invariant and refuses groups
    acting on R^1 / R^3 with the stabiliser's message (its layers would accept them)."""
    model = GroupTransformer(p4(), 2, 5, channels=4, heads=2, patch_size=3, stages=(1,))
    assert model.in_layout == Image(2, 2) and model.out_layout == Invariant()
    for group, d in ((cube(), 3), (p1m(), 1)):
        with pytest.raises(ValueError, match=f"acts on R\\^{d}; this needs d in \\(2,\\)"):
            GroupTransformer(group, 2, 5, channels=4, heads=2, patch_size=3, stages=(1,))

"""Convolutions, kernels, pooling and batch norm on R^d x| H for d = 1, 2, 3: exact equivariance
of cube-group networks on volumes and reflection networks on 1-D signals (float64, relative error
<= 1e-10), the filter-bank transform against the group action on signals, interpolated banks,
per-axis strides, and clear errors."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gattn.groups import (
    SE2,
    FiniteGroup,
    GroupSignal,
    Image,
    Invariant,
    Rn,
    SemidirectProduct,
    cube,
    cubem,
    finite_tables,
    p1m,
    p4m,
    sampling_positions,
    transform_image,
)
from gattn.nn import (
    GlobalPool,
    GroupBatchNorm,
    GroupConv,
    GroupPool,
    KernelTransform,
    LiftingConv,
    SpatialPool,
)
from gattn.nn.checks import ImageOrSignal
from gattn.nn.kernels import kernel_sampling
from gattn.testing import EquivarianceError, assert_equivariant, group_signals, images

TOL = 1e-10  # float64, relative


def exact_sizes(kernel: int, stride: int, padding: int, low: int, high: int) -> list[int]:
    """Input sizes n in [low, high] for which a strided layer keeps exact equivariance:
    (n + 2 padding - kernel) % stride == 0, i.e. the last window ends on the last pixel, so
    the sampled lattice is centred like the input (docs/analysis.md)."""
    return [
        n
        for n in range(low, high + 1)
        if n + 2 * padding >= kernel and (n + 2 * padding - kernel) % stride == 0
    ]


def group_net(group, c_in: int, c: int, k: int, stride: int, padding: int, pool: str):
    """GroupConv (strided) -> GroupBatchNorm -> ReLU -> GroupConv -> GroupPool / GlobalPool."""
    if pool == "group":
        tail: torch.nn.Module = GroupPool("max", group=group)
    else:
        tail = GlobalPool("max", "mean", group=group)
    return torch.nn.Sequential(
        GroupConv(group, c_in, c, k, stride=stride, padding=padding),
        GroupBatchNorm(c, group=group),
        torch.nn.ReLU(),
        GroupConv(group, c, c, 1),
        tail,
    ).double()


def lifting_net(group, c_in: int, c: int, k: int, stride: int, padding: int):
    """LiftingConv -> ReLU -> GroupConv (strided) -> GroupBatchNorm -> GroupPool -> GlobalPool."""
    return torch.nn.Sequential(
        LiftingConv(group, c_in, c, k),
        torch.nn.ReLU(),
        GroupConv(group, c, c, k, stride=stride, padding=padding),
        GroupBatchNorm(c, group=group),
        GroupPool("mean", group=group),
        GlobalPool(dims=group.translation_dim),
    ).double()


# ------------------------------------------------------------------ volumes: the cube groups
@given(data=st.data())
def test_cube_network_on_random_group_signals_hypothesis(data) -> None:
    """Z^3 x| O, all 24 rotations; Hypothesis draws kernel, stride, padding, channels and an
    exact size (odd and even: an even kernel with stride 2 needs even sizes)."""
    g = cube()
    k = data.draw(st.sampled_from([2, 3]), label="kernel")
    s = data.draw(st.sampled_from([1, 2]), label="stride")
    p = data.draw(st.integers(0, 1), label="padding")
    size = data.draw(st.sampled_from(exact_sizes(k, s, p, 3, 7)), label="size")
    c_in, c = data.draw(st.integers(1, 2), label="c_in"), data.draw(st.integers(1, 2), label="c")
    pool = data.draw(st.sampled_from(["group", "global"]), label="pool")
    torch.manual_seed(data.draw(st.integers(0, 1000), label="seed"))
    net = group_net(g, c_in, c, k, s, p, pool).train()
    x = data.draw(group_signals(g, batch=1, channels=c_in, size=size))
    assert net[0].transform.exact and net[3].transform.exact
    assert assert_equivariant(net, g, x).relative <= TOL


@pytest.mark.parametrize("group", [cube(), cubem()], ids=["O", "Oh"])
def test_cube_lifting_network_on_random_volumes(group) -> None:
    """Lifting -> stride-2 group conv -> batch norm -> pools, every one of the 24 / 48 elements;
    7 -> 5 (lifting 3) -> 2 (stride 2, 5 + 0 - 3 even)."""
    torch.manual_seed(0)
    net = lifting_net(group, 1, 2, 3, 2, 0).train()
    x = torch.randn(2, 1, 7, 7, 7, dtype=torch.float64)
    report = assert_equivariant(net, group, x)
    assert len(report.per_element) == finite_tables(group.stabiliser).order
    assert report.relative <= TOL


def test_cubem_network_on_random_group_signals() -> None:
    torch.manual_seed(1)
    g = cubem()
    net = group_net(g, 2, 2, 3, 2, 1, "group").train()
    x = torch.randn(1, 2, 48, 5, 5, 5, dtype=torch.float64)
    assert assert_equivariant(net, g, x).relative <= TOL


def test_strided_cube_conv_breaks_at_a_wrong_size() -> None:
    """The size rule matters: stride 2, kernel 3, size 6 (6 - 3 odd) is not exact — so the
    sizes drawn above are not a test that cannot fail."""
    torch.manual_seed(0)
    g = cube()
    conv = GroupConv(g, 1, 1, 3, stride=2).double()
    x = torch.randn(1, 1, 24, 6, 6, 6, dtype=torch.float64)
    with pytest.raises(EquivarianceError):
        assert_equivariant(conv, g, x)


# ------------------------------------------------------------------ 1-D signals: p1m
@given(data=st.data())
def test_p1m_networks_on_1d_signals_hypothesis(data) -> None:
    g = p1m()
    k = data.draw(st.sampled_from([1, 2, 3, 4]), label="kernel")
    s = data.draw(st.sampled_from([1, 2, 3]), label="stride")
    p = data.draw(st.integers(0, 2), label="padding")
    size = data.draw(st.sampled_from(exact_sizes(k, s, p, k + 1, 16)), label="size")
    c_in, c = data.draw(st.integers(1, 3), label="c_in"), data.draw(st.integers(1, 3), label="c")
    torch.manual_seed(data.draw(st.integers(0, 1000), label="seed"))
    f = data.draw(group_signals(g, batch=3, channels=c_in, size=size))
    for pool in ("group", "global"):
        net = group_net(g, c_in, c, k, s, p, pool).train()
        assert assert_equivariant(net, g, f).relative <= TOL
    lift_in = data.draw(images(batch=3, channels=c_in, size=size + k - 1, dims=1))
    net = lifting_net(g, c_in, c, k, s, p).train()
    assert assert_equivariant(net, g, lift_in).relative <= TOL
    spatial = torch.nn.Sequential(
        LiftingConv(g, c_in, c, k), SpatialPool(2, stride=1, group=g), GroupPool(group=g)
    ).double()
    assert assert_equivariant(spatial, g, lift_in).relative <= TOL


def test_p1m_reflection_acts_as_a_flip() -> None:
    """The reflection of p1m reverses 1-D signals and swaps the two group channels."""
    torch.manual_seed(0)
    g = p1m()
    conv = LiftingConv(g, 1, 1, 3, bias=False).double()
    x = torch.randn(1, 1, 9, dtype=torch.float64)
    y, y_flip = conv(x), conv(x.flip(-1))
    mirror = int((finite_tables(g.stabiliser).matrices[:, 0, 0] < 0).nonzero()[0, 0])
    other = 1 - mirror
    assert torch.allclose(y_flip[:, :, mirror], y[:, :, other].flip(-1), atol=1e-12)


# ------------------------------------------------------------------ the filter-bank transform
@pytest.mark.parametrize(
    "stab",
    [p1m().stabiliser, p4m().stabiliser, cube().stabiliser, cubem().stabiliser, SE2(8).stabiliser],
    ids=lambda s: s.name,
)
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_lifting_bank_is_the_group_action_on_the_kernel(stab, k) -> None:
    """bank[c |H| + h] = L_h psi, with L_h the action on signals of gattn.groups (a gather for
    lattice groups, bilinear interpolation with zero padding otherwise)."""
    d = stab.action_dim
    t = KernelTransform(stab, k, group_input=False)
    psi = torch.randn(2, 3, *([k] * d), dtype=torch.float64)
    bank = t(psi).reshape(2, t.order, 3, *([k] * d))
    tables = finite_tables(stab)
    mode = "exact" if t.exact else "interpolate"
    for i, h in enumerate(tables.elements):
        ref = transform_image(stab, h, psi, mode)
        assert torch.allclose(bank[:, i], ref, atol=1e-12), (stab.name, k, i)
    assert t.exact == (bool(tables.all_lattice_preserving) or k == 1)


@pytest.mark.parametrize(
    "stab", [p1m().stabiliser, cube().stabiliser, cubem().stabiliser], ids=lambda s: s.name
)
def test_group_bank_gather_equals_sampling_matrices(stab) -> None:
    """The exact gather path and the interpolation-matrix path agree (bit for bit) in 1-D and
    3-D, and the kernel positions agree with gattn.groups.sampling_positions."""
    d = stab.action_dim
    t = KernelTransform(stab, 3, group_input=True)
    assert t.exact
    psi = torch.randn(2, 3, t.order, *([3] * d), dtype=torch.float64)
    bank = t(psi)
    assert bank.shape == (2 * t.order, 3 * t.order, *([3] * d))
    t.exact = False  # force the einsum path with the (permutation) sampling matrices
    t.index = finite_tables(stab).relative.reshape(-1)
    assert torch.equal(t(psi), bank)
    mats, index = kernel_sampling(stab, 3)
    pos = sampling_positions(finite_tables(stab).matrices, (3,) * d)
    strides = torch.tensor([3 ** (d - 1 - a) for a in range(d)], dtype=torch.float64)
    assert torch.equal((pos.round() * strides).sum(-1).long(), index)


def rotation_45_z() -> FiniteGroup:
    c = math.sqrt(0.5)
    return FiniteGroup.from_generators("C8z", [[[c, -c, 0], [c, c, 0], [0, 0, 1]]])


def test_interpolated_banks_report_exact_transform_false() -> None:
    g2 = SE2(8)
    assert not LiftingConv(g2, 1, 2, 3).transform.exact
    assert not GroupConv(g2, 2, 2, 3).transform.exact
    assert "exact_transform=False" in repr(GroupConv(g2, 2, 2, 3))
    g3 = SemidirectProduct(rotation_45_z())
    lift, conv = LiftingConv(g3, 1, 2, 3), GroupConv(g3, 2, 2, 3)
    assert not lift.transform.exact and not conv.transform.exact
    assert conv.filter_bank().shape == (16, 16, 3, 3, 3)
    for lattice in (cube(), cubem(), p1m()):
        assert "exact_transform=True" in repr(GroupConv(lattice, 1, 1, 3))


def test_45_degree_group_is_exact_on_its_lattice_subgroup() -> None:
    """Rotations by multiples of 90 degrees about z map voxels onto voxels: for them the
    interpolated 3-D layers are still exactly equivariant (and they are not for 45 degrees)."""
    torch.manual_seed(0)
    g = SemidirectProduct(rotation_45_z())
    tables = finite_tables(g.stabiliser)
    conv = GroupConv(g, 1, 2, 3, padding=1).double()
    x = torch.randn(1, 1, 8, 5, 5, 5, dtype=torch.float64)
    lattice = [
        g.embed(h, torch.float64) for h, ok in zip(tables.elements, tables.lattice_preserving) if ok
    ]
    assert len(lattice) == 4
    assert assert_equivariant(conv, g, x, g=lattice).relative <= TOL


# ------------------------------------------------------------------ layouts, strides, errors
def test_declared_layouts() -> None:
    g = cube()
    stab = g.stabiliser
    lift, conv = LiftingConv(g, 2, 3, 3), GroupConv(g, 3, 4, 3)
    assert lift.in_layout == Image(3, 2) and lift.out_layout == GroupSignal(stab, 3, 3)
    assert conv.in_layout == GroupSignal(stab, 3, 3) and conv.out_layout == GroupSignal(stab, 3, 4)
    gp = GroupPool(group=g)
    assert gp.in_layout == GroupSignal(stab, 3) and gp.out_layout == Image(3)
    assert GlobalPool(group=g).out_layout == Invariant()
    bn, sp = GroupBatchNorm(4, group=g), SpatialPool(2, group=g)
    assert bn.in_layout is bn.out_layout and sp.in_layout is sp.out_layout
    assert isinstance(bn.in_layout, ImageOrSignal) and bn.in_layout.dims == 3
    assert GroupPool().in_layout.dims == 2 and SpatialPool(dims=1).in_layout.dims == 1


def test_layers_check_inputs_against_their_layouts() -> None:
    g = cube()
    with pytest.raises(ValueError, match=r"volume batch \(B, C, Z, Y, X\)"):
        LiftingConv(g, 1, 1, 3)(torch.randn(1, 1, 5, 5))
    with pytest.raises(ValueError, match=r"group axis length 4 .*\|H\| = 24"):
        GroupConv(g, 1, 1, 3)(torch.randn(1, 1, 4, 5, 5, 5))
    with pytest.raises(ValueError, match=r"1-D signal batch \(B, C, X\)"):
        LiftingConv(p1m(), 1, 1, 3)(torch.randn(1, 1, 5, 5))
    with pytest.raises(ValueError, match="kernel_size 3 is larger than the input 5x5x2"):
        LiftingConv(g, 1, 1, 3)(torch.randn(1, 1, 5, 5, 2))
    with pytest.raises(ValueError, match=r"group axis length 4 .*\|H\| = 24"):
        GroupBatchNorm(1, group=g)(torch.randn(2, 1, 4, 3, 3, 3))
    with pytest.raises(ValueError, match="pass group= or dims="):
        SpatialPool(2)(torch.randn(2, 1, 24, 4, 4, 4))  # a 3-D signal, dims defaults to 2
    with pytest.raises(ValueError, match="pass group= or dims="):
        GroupPool()(torch.randn(2, 1, 3, 3))  # an image is not a group signal
    with pytest.raises(ValueError, match="channels"):
        GroupBatchNorm(2)(torch.randn(2, 1, 24, 3, 3, 3))
    with pytest.raises(ValueError, match=r"must be an image .* or a group signal"):
        GroupBatchNorm(1)(torch.randn(2, 1))


def test_batch_norm_and_global_pool_without_group_take_any_dimension() -> None:
    """Their result is the same for every reading of the input, so no group= is needed."""
    torch.manual_seed(0)
    g = cube()
    x = torch.randn(3, 2, 24, 3, 3, 3, dtype=torch.float64)
    plain, bound = GroupBatchNorm(2).double(), GroupBatchNorm(2, group=g).double()
    assert torch.equal(plain(x), bound(x))
    assert assert_equivariant(plain, g, x).relative <= TOL
    for modes in (("max", "max"), ("mean", "mean"), ("max", "mean")):
        assert torch.allclose(GlobalPool(*modes)(x), GlobalPool(*modes, group=g)(x), atol=1e-14)
        assert assert_equivariant(GlobalPool(*modes), g, x).relative <= TOL
    v = x[:, :, 0]  # a volume (B, C, Z, Y, X): rank 5 like a 2-D group signal
    assert torch.equal(GlobalPool()(v), GlobalPool(dims=3)(v))
    assert torch.allclose(GlobalPool("mean", "mean")(v), v.mean((2, 3, 4)), atol=1e-14)


def test_per_axis_stride_padding_dilation() -> None:
    conv = LiftingConv(p4m(), 1, 2, 3, stride=(1, 2), padding=(0, 1), dilation=(2, 1))
    y = conv(torch.randn(1, 1, 9, 9))
    assert y.shape == (1, 2, 8, 5, 5)
    conv3 = GroupConv(cube(), 1, 1, 2, stride=(1, 2, 1))
    assert conv3(torch.randn(1, 1, 24, 4, 4, 4)).shape == (1, 1, 24, 3, 2, 3)
    with pytest.raises(ValueError, match=r"stride must be an integer or 3 integers"):
        GroupConv(cube(), 1, 1, 3, stride=(1, 2))
    with pytest.raises(ValueError, match=r"padding\[1\] must be an integer >= 0"):
        GroupConv(p4m(), 1, 1, 3, padding=(0, -1))


def test_spatial_pool_in_three_dimensions() -> None:
    g = cubem()
    x = torch.randn(2, 3, 48, 4, 4, 4, dtype=torch.float64)
    y = SpatialPool(2, group=g)(x)
    assert torch.equal(y, x.reshape(2, 3, 48, 2, 2, 2, 2, 2, 2).amax((4, 6, 8)))
    z = SpatialPool(2, mode="mean", dims=3)(x[:, :, 0])
    assert torch.allclose(z, x[:, :, 0].reshape(2, 3, 2, 2, 2, 2, 2, 2).mean((3, 5, 7)))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="use 'mean'"):
        SpatialPool(2, mode="avg")
    with pytest.raises(ValueError, match="use 'mean'"):
        GlobalPool(spatial_mode="avg")
    with pytest.raises(ValueError, match="dims=2 contradicts"):
        GroupBatchNorm(2, group=cube(), dims=2)
    with pytest.raises(ValueError, match="dims must be 1, 2 or 3"):
        SpatialPool(2, dims=4)
    with pytest.raises(ValueError, match=r"acts on R\^4"):
        LiftingConv(Rn(4), 1, 1, 3)
    with pytest.raises(ValueError, match="finite one"):
        KernelTransform(SE2().stabiliser, 3, group_input=False)
    with pytest.raises(ValueError, match="kernel_size must be an integer"):
        KernelTransform(cube().stabiliser, 0, group_input=False)
    with pytest.raises(ValueError, match="num_features must be an integer"):
        GroupBatchNorm(0)

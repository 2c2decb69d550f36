"""The continuous stabilisers R+, SO(2) x R+, SO(3) and their affine groups."""

from __future__ import annotations

import math

import pytest
import torch

from gattn.groups import (
    SE3,
    SO3,
    RotationScaling,
    ScalingGroup,
    Sim2,
    finite_tables,
    octahedral,
    scaling,
)
from gattn.testing import check_group_axioms

GROUPS = [
    ScalingGroup(2),
    ScalingGroup(3, (0.5, 4.0)),
    RotationScaling(),
    SO3(),
    scaling(),
    scaling(1, (1.0, 3.0)),
    Sim2(),
    SE3(),
]


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.name)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_axioms(group, dtype) -> None:
    check_group_axioms(group, dtype=dtype, raise_on_failure=True)


def test_catalogue_factories_are_cached_and_named() -> None:
    assert scaling() is scaling(2, [1, 2]) and Sim2() is Sim2((1.0, 2.0), 3) and SE3() is SE3()
    assert scaling().name == "R^2 x| R+" and scaling(3).name == "R^3 x| R+"
    assert Sim2().name == "Sim(2)" and SE3().name == "SE(3)"
    assert isinstance(Sim2().stabiliser, RotationScaling) and isinstance(SE3().stabiliser, SO3)
    assert not scaling().is_compact and not RotationScaling().is_compact and SO3().is_compact
    assert (ScalingGroup().parameter_dim, RotationScaling().parameter_dim) == (1, 2)
    assert SO3().parameter_dim == 4


@pytest.mark.parametrize(
    "bad", [(2.0, 1.0), (0.0, 1.0), (-1.0, 2.0), (1.0, math.inf), (1.0,), "ab", (1.0, 1.0)]
)
def test_bad_scale_range(bad) -> None:
    with pytest.raises(ValueError, match="scale_range"):
        ScalingGroup(2, bad)
    with pytest.raises(ValueError, match="scale_range"):
        RotationScaling(bad)
    with pytest.raises(ValueError, match="scale_range"):
        scaling(2, bad)
    with pytest.raises(ValueError, match="scale_range"):
        Sim2(bad)


def test_bad_grid_sizes() -> None:
    for n in (0, -3, None, 2.0):
        with pytest.raises(ValueError, match="n"):
            ScalingGroup().grid(n)
    for n in (0, 4, 7, None):
        with pytest.raises(ValueError, match="multiple of scales=3"):
            RotationScaling().grid(n)
    for n in (0, 12, 25, 47, None):
        with pytest.raises(ValueError, match="multiple of 24"):
            SO3().grid(n)
    with pytest.raises(ValueError, match="scales"):
        RotationScaling(scales=0)


def test_grids(float64_default) -> None:
    t = ScalingGroup(2, (1.0, 4.0)).grid(4)
    step = math.log(4.0) / 4
    assert torch.allclose(t, (torch.arange(4) + 0.5) * step)
    w = ScalingGroup(2, (1.0, 4.0)).haar_weights(t)
    assert torch.allclose(w, torch.full((4,), math.log(4.0) / 4, dtype=torch.float64))
    g = RotationScaling((1.0, 2.0), scales=3).grid(12)
    assert g.shape == (12, 2)
    # scale-major: 4 rotations of scale 0, then of scale 1, ...
    assert torch.allclose(g[:4, 1], g[0, 1].expand(4)) and bool((g[4:8, 1] > g[0, 1]).all())
    assert torch.allclose(g[:4, 0], torch.tensor([0.0, math.pi / 2, -math.pi, -math.pi / 2]))
    assert torch.allclose(g[::4, 1], (torch.arange(3) + 0.5) * math.log(2.0) / 3)
    assert RotationScaling().haar_weights(g).sum().item() == pytest.approx(math.log(2.0))
    assert SO3().grid(72).shape == (72, 4)
    assert SO3().haar_weights(SO3().grid(48)).sum().item() == pytest.approx(1.0)


def test_so3_grid24_is_the_cube_rotations(float64_default) -> None:
    mats = SO3().matrix(SO3().grid(24))
    cube = finite_tables(octahedral()).matrices.to(torch.float64)
    assert (mats - cube).abs().max() < 1e-12


@pytest.mark.parametrize("n", [24, 72])
def test_so3_grid_closed_under_cube_rotations(n, float64_default) -> None:
    mats = SO3().matrix(SO3().grid(n))
    cube = finite_tables(octahedral()).matrices.to(torch.float64)
    for o in cube:
        moved = o @ mats
        dist = (moved[:, None] - mats[None]).flatten(-2).abs().amax(-1)
        match = dist.argmin(1)
        assert bool((dist.min(1).values < 1e-9).all())
        assert torch.equal(match.sort().values, torch.arange(n))  # a permutation


@pytest.mark.parametrize("group", [ScalingGroup(2), RotationScaling(), SO3()], ids=str)
def test_features_injective_on_the_grid(group, float64_default) -> None:
    n = 72 if isinstance(group, SO3) else 24
    f = group.features(group.grid(n))
    dist = torch.cdist(f, f)
    dist.fill_diagonal_(math.inf)
    assert dist.min() > 1e-3


def test_matrices(float64_default) -> None:
    gen = torch.Generator().manual_seed(1)
    r = SO3().matrix(SO3().sample(50, generator=gen))
    eye = torch.eye(3).expand(50, 3, 3)
    assert (r @ r.transpose(-1, -2) - eye).abs().max() < 1e-12
    assert (torch.linalg.det(r) - 1).abs().max() < 1e-12
    assert (SO3().det(SO3().sample(5, generator=gen)) == 1).all()
    t = ScalingGroup(3).sample(20, generator=gen)
    a = ScalingGroup(3).matrix(t)
    assert torch.allclose(torch.linalg.det(a), torch.exp(3 * t))
    assert torch.allclose(ScalingGroup(3).det(t), torch.exp(3 * t))
    g = RotationScaling().sample(20, generator=gen)
    a = RotationScaling().matrix(g)
    assert torch.allclose(torch.linalg.det(a), torch.exp(2 * g[:, 1]))
    assert torch.allclose(RotationScaling().det(g), torch.exp(2 * g[:, 1]))
    rot = a / torch.exp(g[:, 1])[:, None, None]
    assert torch.allclose(rot[:, 0, 0], torch.cos(g[:, 0]))


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.name)
def test_act_matches_matrix(group, float64_default) -> None:
    gen = torch.Generator().manual_seed(2)
    g = group.sample(7, generator=gen)
    x = torch.randn(7, group.action_dim, generator=gen)
    m = group.matrix(g)
    d = group.action_dim
    if m.shape[-1] == d + 1:  # homogeneous matrices of affine groups
        expect = (m[..., :d, :d] @ x[..., None]).squeeze(-1) + m[..., :d, d]
    else:
        expect = (m @ x[..., None]).squeeze(-1)
    assert torch.allclose(group.act(g, x), expect, atol=1e-12)


@pytest.mark.parametrize("group", [scaling(), Sim2(), SE3()], ids=lambda g: g.name)
def test_parameters_round_trip_in_the_affine_group(group, float64_default) -> None:
    gen = torch.Generator().manual_seed(3)
    g = group.sample(9, generator=gen)
    x, h = group.split(g)
    stab = group.stabiliser
    assert torch.equal(stab.from_parameters(stab.to_parameters(h)), h)
    assert torch.equal(group.join(x, h), g)
    assert bool(group.equal(group.product(g, group.inverse(g)), group.identity((9,))).all())


def test_so3_canonical_sign_and_equal(float64_default) -> None:
    gen = torch.Generator().manual_seed(4)
    q = SO3().sample(30, generator=gen)
    assert bool((q[:, 0] > 0).all())
    p = SO3().product(q, SO3().inverse(q[:1]).expand(30, 4))
    assert bool((p[:, 0] >= 0).all())
    assert bool(SO3().equal(q, -q).all())
    v = SO3().log(q)
    assert v.shape == (30, 3) and bool((v.norm(dim=-1) <= math.pi + 1e-12).all())
    assert bool(SO3().equal(SO3().exp(v), q, atol=1e-12).all())


def test_non_finite_or_non_unit_elements_are_refused() -> None:
    with pytest.raises(ValueError, match="g holds non-finite"):
        ScalingGroup().validate(torch.tensor([0.0, math.nan]))
    with pytest.raises(ValueError, match="h holds non-finite"):
        RotationScaling().validate(torch.tensor([[0.0, math.inf]]), name="h")
    with pytest.raises(ValueError, match="non-finite"):
        SO3().validate(torch.tensor([[math.nan, 0.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="unit quaternions"):
        SO3().validate(torch.tensor([[1.1, 0.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="shape"):
        SO3().validate(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="non-finite"):
        Sim2().validate(torch.tensor([[0.0, 0.0, 0.0, math.nan]]))
    SO3().validate(SO3().identity((3,)))
    ScalingGroup().validate(torch.zeros(4))


def test_device_and_dtype_follow() -> None:
    q = SO3().sample(3, dtype=torch.float64)
    assert q.dtype == torch.float64 and SO3().matrix(q).dtype == torch.float64
    assert SO3().matrix(q, dtype=torch.float32).dtype == torch.float32
    t = ScalingGroup().sample(3, dtype=torch.float32)
    assert ScalingGroup().matrix(t).dtype == torch.float32
    assert RotationScaling().identity((2,), dtype=torch.float64).shape == (2, 2)

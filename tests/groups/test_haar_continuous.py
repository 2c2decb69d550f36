"""The quadrature check of Haar left-invariance for continuous groups: correct measures pass,
wrong ones (missing 1/|det A(h)|, non-uniform, non-finite) fail."""

from __future__ import annotations

import math
import time

import pytest
import torch

from gattn.groups import SO2, SO3, RotationScaling, ScalingGroup, SemidirectProduct, catalogue
from gattn.testing import GroupAxiomError, check_group_axioms
from gattn.testing.axioms import HAAR_RTOL

CONTINUOUS = {
    name: g
    for name, g in catalogue().items()
    if not g.is_finite and not (isinstance(g, SemidirectProduct) and g.stabiliser.is_finite)
}


def test_every_continuous_catalogue_group_is_covered() -> None:
    assert {"SO2", "O2", "SE2", "E2", "R+", "SO2xR+", "SO3", "Sim2", "SE3", "scaling"} <= set(
        CONTINUOUS
    )


@pytest.mark.parametrize("name", sorted(CONTINUOUS))
def test_continuous_groups_pass_the_haar_check(name: str) -> None:
    start = time.perf_counter()
    rep = check_group_axioms(CONTINUOUS[name], dtype=torch.float64)
    elapsed = time.perf_counter() - start
    err = rep.errors["haar_left_invariance"]
    # far below the tolerance: the quadrature itself is accurate
    assert err < HAAR_RTOL / 10, err
    assert not any("haar" in s for s in rep.skipped)
    assert elapsed < 10  # about a second on a loaded 2-core machine


class NoDetScaling(SemidirectProduct):
    """R^2 x| R+ with the Haar weights of the stabiliser alone (no 1/|det A(h)|)."""

    def haar_weights(self, grid):
        return self.stabiliser.haar_weights(self.split(grid)[1])


class NonUniformSO2(SO2):
    name = "SO(2) non-uniform"

    def haar_weights(self, grid):
        w = 1 + 0.5 * torch.cos(grid.to(torch.float64))
        return w / w.sum()


class NonUniformScaling(ScalingGroup):
    """dt weighted by e^t: the measure ds, not ds/s."""

    def haar_weights(self, grid):
        return super().haar_weights(grid) * torch.exp(grid.to(torch.float64))


class NanWeightsSO3(SO3):
    name = "SO(3) nan"

    def haar_weights(self, grid):
        w = super().haar_weights(grid)
        w[3] = math.nan
        return w


class InfWeightsScaling(SemidirectProduct):
    def haar_weights(self, grid):
        w = super().haar_weights(grid)
        w[0] = math.inf
        return w


@pytest.mark.parametrize(
    "group",
    [
        NoDetScaling(ScalingGroup(2), name="no-det R^2 x| R+"),
        NoDetScaling(RotationScaling(), name="no-det Sim(2)"),
        NonUniformSO2(),
        NonUniformScaling(2),
        SemidirectProduct(NonUniformScaling(2), name="R^2 x| ds"),
    ],
    ids=lambda g: g.name,
)
def test_wrong_measures_fail_by_far(group) -> None:
    rep = check_group_axioms(group, raise_on_failure=False)
    assert rep.errors["haar_left_invariance"] > 100 * HAAR_RTOL
    with pytest.raises(GroupAxiomError, match="haar_left_invariance"):
        check_group_axioms(group)


@pytest.mark.parametrize(
    "group",
    [NanWeightsSO3(), InfWeightsScaling(RotationScaling(), name="inf Sim(2)")],
    ids=lambda g: g.name,
)
def test_non_finite_weights_fail_clearly(group) -> None:
    rep = check_group_axioms(group, raise_on_failure=False)
    assert rep.errors["haar_left_invariance"] == math.inf
    with pytest.raises(GroupAxiomError, match="non-finite Haar weights"):
        check_group_axioms(group)


def test_non_finite_weights_fail_for_finite_groups_too() -> None:
    from gattn.groups import CyclicGroup

    class NanC4(CyclicGroup):
        def haar_weights(self, grid):
            w = super().haar_weights(grid).to(torch.float64)
            w[1] = math.nan
            return w

    with pytest.raises(GroupAxiomError, match="non-finite Haar weights"):
        check_group_axioms(NanC4(4))


def test_unrefinable_grid_is_skipped_not_judged() -> None:
    """A non-compact H whose grid(n) has a fixed handful of scales gives no fine quadrature:
    the check says so (skipped) instead of a verdict it cannot measure."""

    class CoarseScaling(ScalingGroup):
        def grid(self, n=None):
            return super().grid(3)

    rep = check_group_axioms(SemidirectProduct(CoarseScaling(2)))
    assert "haar_left_invariance" not in rep.errors
    assert any("too coarse" in s for s in rep.skipped)


def test_unknown_non_compact_stabiliser_is_skipped() -> None:
    class MyScaling(SO2):  # a non-compact user group gattn knows nothing about
        name = "user-noncompact"

        @property
        def is_compact(self) -> bool:
            return False

    rep = check_group_axioms(SemidirectProduct(MyScaling()))
    assert "haar_left_invariance" not in rep.errors
    assert any("no quadrature known" in s for s in rep.skipped)


def test_affine_weights_are_unit_cells_times_the_stabiliser_weights():
    """On the product grid box x H.grid(n) each point weighs (unit cell) x (the stabiliser's
    own weight of one of its n samples): 1/8 for SO(2) with 8 samples, not 1/(9 * 8)."""
    from gattn.groups import SE2, Sim2

    grid = SE2().grid(8, radius=1)  # 9 translations x 8 rotations
    w = SE2().haar_weights(grid)
    assert torch.allclose(w, torch.full((72,), 1 / 8, dtype=w.dtype))
    sim = Sim2()
    grid = sim.grid(6, radius=1)  # 9 translations x (2 rotations x 3 scales)
    h = sim.split(grid)[1][:6]
    expected = sim.stabiliser.haar_weights(h) / sim.stabiliser.det(h).abs()
    assert torch.allclose(sim.haar_weights(grid), expected.repeat(9).to(torch.float64))

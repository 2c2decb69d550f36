"""The whole catalogue satisfies the group axioms; broken groups are caught."""

from __future__ import annotations

import pytest
import torch

from gattn.groups import CyclicGroup, FiniteGroup, SemidirectProduct, catalogue, cyclic
from gattn.groups.continuous import SO2
from gattn.testing import GroupAxiomError, check_group_axioms

CATALOGUE = catalogue()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_catalogue_satisfies_axioms(name: str, dtype: torch.dtype) -> None:
    report = check_group_axioms(CATALOGUE[name], dtype=dtype)
    assert "associativity" in report.errors and "inverse" in report.errors


class NonAssociativeSO2(SO2):
    """g * h = g + 2h is not associative."""

    name = "broken-assoc"

    def product(self, g, h):
        return super().product(g, 2 * h)


class WrongInverseSO2(SO2):
    name = "broken-inverse"

    def inverse(self, g):
        return g


class WrongActionSO2(SO2):
    """Acts by the transpose: a right action, not a left one... for SO(2) that is still a
    homomorphism, so rotate by 2 theta, which breaks act(gh) = act(g) act(h) only with e
    fixed... instead act by theta + 0.1 (breaks the identity axiom)."""

    name = "broken-action"

    def act(self, g, x):
        return super().act(g + 0.1, x)


class BrokenCayley(FiniteGroup):
    """C4 with one entry of the Cayley table swapped: not associative / not closed."""

    def __init__(self) -> None:
        base = CyclicGroup(4)
        super().__init__("broken-cayley", base.exact_matrices)
        table = self._cayley.clone()
        table[1, 1] = 3
        self._cayley = table


class BrokenHaar(SemidirectProduct):
    def haar_weights(self, grid):
        w = super().haar_weights(grid)
        return w * torch.linspace(1, 2, w.shape[0], dtype=w.dtype)


@pytest.mark.parametrize(
    "group",
    [
        NonAssociativeSO2(),
        WrongInverseSO2(),
        WrongActionSO2(),
        BrokenCayley(),
        BrokenHaar(cyclic(4)),
    ],
    ids=lambda g: g.name,
)
def test_broken_groups_are_caught(group) -> None:
    with pytest.raises(GroupAxiomError):
        check_group_axioms(group, dtype=torch.float64)


def test_report_without_raising_lists_the_failure() -> None:
    rep = check_group_axioms(WrongInverseSO2(), raise_on_failure=False)
    assert rep.errors["inverse"] > 1e-3

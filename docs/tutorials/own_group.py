"""Tutorial: define your own group — exact finite groups from generators, and a Lie group.

Run: ``python docs/tutorials/own_group.py``. Every claim printed is also asserted, so this
script fails loudly if gattn stops behaving as described.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import sympy
import torch

from gattn.groups import (
    FiniteGroup,
    SemidirectProduct,
    finite_tables,
    is_grid_exact,
    transform_image,
)
from gattn.nn import GroupConv, LiftingConv
from gattn.testing import assert_equivariant, check_group_axioms


def cyclic8() -> FiniteGroup:
    """C_8 from one generator, the rotation by 45 degrees — its entries are sqrt(2)/2, closed
    exactly with sympy (a float closure would have to guess a tolerance)."""
    r = sympy.sqrt(2) / 2
    return FiniteGroup.from_generators("C8", [[[r, -r], [r, r]]])


def dihedral3() -> FiniteGroup:
    """D_3, the symmetries of a triangle: the rotation by 120 degrees and a mirror x -> -x."""
    c, s = sympy.Rational(-1, 2), sympy.sqrt(3) / 2
    return FiniteGroup.from_generators("D3", [[[c, -s], [s, c]], [[-1, 0], [0, 1]]])


def main() -> None:
    c8, d3 = cyclic8(), dihedral3()
    assert (c8.order, d3.order) == (8, 6)
    print(f"{c8.name}: {c8.order} elements, {d3.name}: {d3.order} elements")

    # the Cayley table (derived from the interface) drives every permutation of a group axis
    for h in (c8, d3):
        t, n = finite_tables(h), h.order
        assert all(sorted(row.tolist()) == list(range(n)) for row in t.cayley)
        assert bool((t.cayley[torch.arange(n), t.inverses] == t.identity_index).all())
    print("Cayley tables are Latin squares; inverses read off the table")

    # the affine groups R^2 x| H pass every axiom check
    for h in (c8, d3):
        g = SemidirectProduct(h)
        report = check_group_axioms(g)
        print(f"{g.name}: axioms hold (largest error {max(report.errors.values()):.1e})")

    # exactness on the pixel grid: rotations by 90 degrees permute pixels, 45 degrees does not
    g8 = SemidirectProduct(c8)
    quarter = g8.embed(torch.tensor(2), dtype=torch.float64)  # element 2: 2 x 45 = 90 degrees
    eighth = g8.embed(torch.tensor(1), dtype=torch.float64)
    assert is_grid_exact(g8, quarter, 9) and not is_grid_exact(g8, eighth, 9)
    x = torch.arange(9.0).reshape(1, 1, 3, 3)
    assert torch.equal(transform_image(g8, quarter, x), torch.rot90(x, 1, dims=(-2, -1)))
    print("90 degrees acts as torch.rot90 (y up, counterclockwise); 45 degrees interpolates")

    # layers work on the new group unchanged: exact for the grid-exact elements
    torch.manual_seed(0)
    net = torch.nn.Sequential(LiftingConv(g8, 1, 4, 3), GroupConv(g8, 4, 2, 3)).double()
    img = torch.randn(2, 1, 11, 11, dtype=torch.float64)
    rep = assert_equivariant(net, g8, img, g=[quarter])
    print(f"lifting + group conv on R^2 x| C8: equivariance error {rep.relative:.1e} at 90 deg")

    # a Lie group: rotations and scalings (see docs/examples/rotation_scaling_group.py)
    example = Path(__file__).resolve().parents[1] / "examples" / "rotation_scaling_group.py"
    ns = runpy.run_path(str(example))
    sim2 = SemidirectProduct(ns["RotationScaling"](), name="Sim(2)")
    check_group_axioms(sim2)
    err = ns["haar_density_invariance"](sim2)
    assert err < 1e-9
    print(f"{sim2.name}: axioms hold; dx dh / |det A(h)| is left-invariant (error {err:.1e})")


if __name__ == "__main__":
    main()

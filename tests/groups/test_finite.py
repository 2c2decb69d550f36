"""Exact closure of finite groups from generators, and their tables."""

from __future__ import annotations

import pytest
import sympy
import torch

from gattn.groups import CyclicGroup, DihedralGroup, FiniteGroup, finite_tables, rotation_matrix


def test_c8_closes_exactly_with_algebraic_entries() -> None:
    half = sympy.sqrt(2) / 2
    g = FiniteGroup.from_generators("C8", [[[half, -half], [half, half]]])
    assert g.order == 8
    # the closure is exact: r^8 is the identity, found by exact arithmetic
    r = g.index_of([[half, -half], [half, half]])
    x = g.identity()
    for _ in range(8):
        x = g.product(x, torch.tensor(r))
    assert int(x) == int(g.identity())


def test_c16_nested_radicals_close() -> None:
    g = FiniteGroup.from_generators("C16", [rotation_matrix(1, 16)])
    assert g.order == 16


def test_float_generators_are_made_exact() -> None:
    g = FiniteGroup.from_generators("C4f", [[[0.0, -1.0], [1.0, 0.0]]])
    assert g.order == 4


@pytest.mark.parametrize("n", [1, 2, 3, 4, 6, 8])
def test_dihedral_order_and_convention(n: int) -> None:
    d = DihedralGroup(n)
    assert d.order == 2 * n
    mats = finite_tables(d).matrices
    mirror = torch.tensor([[-1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    for k in range(n):
        rot = finite_tables(CyclicGroup(n)).matrices[k]
        assert torch.allclose(mats[k], rot)
        assert torch.allclose(mats[n + k], rot @ mirror)  # mirror first, then rotate


def test_cayley_matches_matrix_products() -> None:
    d = DihedralGroup(4)
    m = finite_tables(d).matrices
    for i in range(8):
        for j in range(8):
            assert torch.allclose(m[i] @ m[j], m[finite_tables(d).cayley[i, j]])
    rel = finite_tables(d).relative
    for i in range(8):
        for j in range(8):
            assert torch.allclose(torch.linalg.inv(m[i]) @ m[j], m[rel[i, j]])


def test_lattice_preserving_flags() -> None:
    assert finite_tables(CyclicGroup(4)).all_lattice_preserving
    flags = finite_tables(CyclicGroup(8)).lattice_preserving
    assert flags.tolist() == [k % 2 == 0 for k in range(8)]


def test_non_closing_generator_is_rejected() -> None:
    with pytest.raises(ValueError, match="do not generate a finite group.*determinant"):
        FiniteGroup.from_generators("scale", [[[2, 0], [0, 2]]], max_order=50)


def test_irrational_rotation_rejected_before_closure() -> None:
    with pytest.raises(ValueError, match="not a real algebraic number"):
        FiniteGroup.from_generators(
            "bad", [[[sympy.cos(1), -sympy.sin(1)], [sympy.sin(1), sympy.cos(1)]]]
        )


def test_singular_generator_rejected() -> None:
    with pytest.raises(ValueError, match="singular"):
        FiniteGroup.from_generators("sing", [[[1, 0], [0, 0]]])


def test_mismatched_generator_shapes_rejected() -> None:
    with pytest.raises(ValueError, match="expected"):
        FiniteGroup.from_generators("mix", [[[0, -1], [1, 0]], [[1, 0, 0], [0, 1, 0], [0, 0, 1]]])


def test_not_closed_element_list_rejected() -> None:
    with pytest.raises(ValueError, match="not closed"):
        FiniteGroup.from_elements("half", [[[1, 0], [0, 1]], [[0, -1], [1, 0]]])


def test_index_out_of_range_rejected() -> None:
    c4 = CyclicGroup(4)
    with pytest.raises(ValueError, match="outside 0..3"):
        c4.validate(torch.tensor([0, 4]))
    with pytest.raises(TypeError, match="int64"):
        c4.validate(torch.tensor([0.0]))

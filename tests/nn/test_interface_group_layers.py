"""A finite group written against the interface alone (a ``MatrixGroup`` subclass with int64
elements, listed by ``grid()`` in a non-trivial order) runs through the lifting and group
convolutions, pooling and batch norm, exactly equivariant, and gives the same layers as the
catalogue's p4 with the group axis permuted accordingly."""

from __future__ import annotations

import pytest
import torch
from interface_groups import ShuffledC4

from gattn.groups import SemidirectProduct, finite_tables, p4
from gattn.nn import GlobalPool, GroupBatchNorm, GroupConv, GroupPool, LiftingConv, SpatialPool
from gattn.testing import assert_equivariant

TOL = 1e-10


G = SemidirectProduct(ShuffledC4())
ORDER = [0, 2, 1, 3]  # the custom group's axis i holds ORDER[i] quarter turns


def network(group) -> torch.nn.Sequential:
    return torch.nn.Sequential(
        LiftingConv(group, 2, 3, 3),
        torch.nn.ReLU(),
        GroupConv(group, 3, 3, 3, stride=2),
        GroupBatchNorm(3, group=group),
        torch.nn.ReLU(),
        SpatialPool(2, stride=1, group=group),
        GroupConv(group, 3, 2, 2, padding=1),
        GroupPool("max", group=group),
    ).double()


def test_tables_follow_the_grid_order() -> None:
    t = finite_tables(G.stabiliser)
    assert torch.equal(t.elements, torch.tensor(ORDER)) and t.all_lattice_preserving
    assert torch.equal(t.relative[1], torch.tensor([1, 0, 3, 2]))  # 2^-1 * [0, 2, 1, 3]


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_every_layer_is_exactly_equivariant(train: bool) -> None:
    torch.manual_seed(0)
    net = network(G).train(train)
    x = torch.randn(2, 2, 11, 11, dtype=torch.float64)  # 11 -> 9 -> 4 (9 - 3 even) -> 3 -> 4
    report = assert_equivariant(net, G, x)
    assert len(report.per_element) == 4 and report.relative <= TOL
    f = torch.randn(2, 3, 4, 9, 9, dtype=torch.float64)
    for layer in (net[2], net[3], net[5], net[7], GlobalPool(group=G)):
        assert assert_equivariant(layer, G, f).relative <= TOL


def test_same_layers_as_the_catalogue_p4_with_the_axis_permuted() -> None:
    """With the same weights (their group axis permuted from grid order to rotation order) the
    custom group's network computes p4's: nothing assumed element i sits at index i."""
    torch.manual_seed(1)
    ours, ref = network(G), network(p4())
    ours_m, p4_m = finite_tables(G.stabiliser).matrices, finite_tables(p4().stabiliser).matrices
    same = (ours_m[:, None] == p4_m[None]).flatten(2).all(-1)  # (4, 4) same matrix
    to_p4 = same.long().argmax(1)  # our axis i is p4's axis to_p4[i]
    assert torch.equal(same.sum(1), torch.ones(4, dtype=torch.long))
    with torch.no_grad():
        for a, b in zip(ours.modules(), ref.modules()):
            if isinstance(a, GroupConv):
                b.weight.zero_()
                b.weight.index_copy_(2, to_p4, a.weight)
                b.bias.copy_(a.bias)
            elif isinstance(a, LiftingConv):
                b.weight.copy_(a.weight)
                b.bias.copy_(a.bias)
    x = torch.randn(2, 2, 11, 11, dtype=torch.float64)
    assert torch.allclose(ours(x), ref(x), atol=1e-12)
    y_ours, y_ref = ours[:3](x), ref[:3](x)
    assert torch.allclose(y_ours, y_ref.index_select(2, to_p4), atol=1e-12)

"""A group from the interface alone, and a 3-D network on volumes, end to end.

1. A finite group written against the `MatrixGroup` interface (16 lines, int64 elements) runs
   through the layers unchanged: every table a layer needs is derived from product / inverse /
   matrix (`gattn.groups.finite_tables`).
2. A network on voxels equivariant to the 24 rotations of the cube (`gattn.groups.cube()`), and
   one on 1-D signals equivariant to the reflection x -> -x (`gattn.groups.p1m()`).

Run: python docs/tutorials/interface_and_volumes.py
"""

from __future__ import annotations

import torch
from torch import nn

from gattn.groups import MatrixGroup, SemidirectProduct, cube, finite_tables, p1m
from gattn.nn import GlobalPool, GroupBatchNorm, GroupConv, GroupPool, LiftingConv
from gattn.testing import assert_equivariant, check_group_axioms

F64 = torch.float64


class QuarterTurns(MatrixGroup):
    """C4 as integers mod 4 (element k: rotation by k * 90 degrees), listed as 0, 2, 1, 3."""

    name, element_dtype, action_dim = "QuarterTurns", "long", 2

    def identity(self, batch_shape=(), device=None, dtype=None):
        return torch.zeros(tuple(batch_shape), dtype=torch.long, device=device)

    def product(self, g, h):
        return (g + h) % 4

    def inverse(self, g):
        return (-g) % 4

    def matrix(self, g, dtype=None):
        c = torch.tensor([1.0, 0.0, -1.0, 0.0], dtype=F64)[g]
        s = torch.tensor([0.0, 1.0, 0.0, -1.0], dtype=F64)[g]
        return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2).to(dtype or F64)

    def grid(self, n=None):
        return torch.tensor([0, 2, 1, 3])

    def sample(self, *batch, generator=None, device=None, dtype=None):
        return torch.randint(4, tuple(batch), generator=generator).to(device)

    def haar_weights(self, grid):
        return torch.ones(grid.shape[:1], dtype=F64)


def interface_group() -> None:
    h = QuarterTurns()
    check_group_axioms(h)
    tables = finite_tables(h)  # derived from product / inverse / matrix, cached
    print("relative table h_i^-1 h_j of", h.name, ":", tables.relative.tolist())
    group = SemidirectProduct(h, lattice=True)  # Z^2 x| C4, like gattn.groups.p4()
    net = nn.Sequential(
        LiftingConv(group, 1, 4, 3),
        nn.ReLU(),
        GroupConv(group, 4, 4, 3),
        GroupPool("max"),
    ).double()
    report = assert_equivariant(net, group, torch.randn(2, 1, 11, 11, dtype=F64))
    print(f"{h.name}: lifting + group conv + pool, equivariance error {report.relative:.1e}")


def volumes() -> None:
    group = cube()  # Z^3 x| O, the 24 rotations of the cube
    torch.manual_seed(0)
    net = nn.Sequential(
        LiftingConv(group, 1, 3, 3),
        GroupBatchNorm(3),
        nn.ReLU(),
        GroupConv(group, 3, 3, 3, stride=2),
        GlobalPool(),
    ).double()
    net.eval()
    x = torch.randn(2, 1, 9, 9, 9, dtype=F64)  # (B, C, Z, Y, X): 9 -> 7 -> 3, stride 2 exact
    report = assert_equivariant(net, group, x)
    print(f"cube: invariant logits under all 24 rotations, error {report.relative:.1e}")


def signals() -> None:
    group = p1m()  # Z x| {+1, -1}
    net = nn.Sequential(LiftingConv(group, 2, 4, 5), nn.ReLU(), GroupConv(group, 4, 4, 3)).double()
    report = assert_equivariant(net, group, torch.randn(3, 2, 16, dtype=F64))
    print(f"p1m: 1-D lifting + group conv, equivariance error {report.relative:.1e}")


if __name__ == "__main__":
    interface_group()
    volumes()
    signals()

"""Finite groups written against the :class:`~gattn.groups.MatrixGroup` interface alone, shared
by the test suites (no ``FiniteGroup``, int64 elements, ``grid()`` order not ``0..N-1``, so
nothing may assume that element ``i`` sits at index ``i``).

``tests/`` is on ``sys.path`` while pytest runs (it holds the root ``conftest.py``; pytest's
default "prepend" import mode), so ``from interface_groups import ShuffledC4`` works from any test.
"""

from __future__ import annotations

import torch

from gattn.groups import MatrixGroup

F64 = torch.float64

__all__ = ["ShuffledC4", "ShuffledReflection"]


class ShuffledC4(MatrixGroup):
    """C4 on the plane: elements k (rotation by k·90°), listed by grid() as 0, 2, 1, 3."""

    name, element_dtype, action_dim = "C4-shuffled", "long", 2

    def identity(self, batch_shape=(), device=None, dtype=None):
        return torch.zeros(tuple(batch_shape), dtype=torch.long, device=device)

    def product(self, g, h):
        return (g + h) % 4

    def inverse(self, g):
        return (-g) % 4

    def matrix(self, g, dtype=None):
        c = torch.tensor([1.0, 0.0, -1.0, 0.0], dtype=F64, device=g.device)[g]
        s = torch.tensor([0.0, 1.0, 0.0, -1.0], dtype=F64, device=g.device)[g]
        return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2).to(dtype or F64)

    def grid(self, n=None):
        return torch.tensor([0, 2, 1, 3])

    def sample(self, *batch, generator=None, device=None, dtype=None):
        return torch.randint(4, tuple(batch), generator=generator).to(device)

    def haar_weights(self, grid):
        return torch.ones(grid.shape[:1], dtype=F64)


class ShuffledReflection(MatrixGroup):
    """{1, -1} acting on the line: elements 0 (identity), 1 (x -> -x), listed by grid() as 1, 0."""

    name, element_dtype, action_dim = "Z2-reflection-shuffled", "long", 1

    def identity(self, batch_shape=(), device=None, dtype=None):
        return torch.zeros(tuple(batch_shape), dtype=torch.long, device=device)

    def product(self, g, h):
        return (g + h) % 2

    def inverse(self, g):
        return g % 2

    def matrix(self, g, dtype=None):
        return (1.0 - 2.0 * g.to(F64))[..., None, None].to(dtype or F64)

    def grid(self, n=None):
        return torch.tensor([1, 0])

    def sample(self, *batch, generator=None, device=None, dtype=None):
        return torch.randint(2, tuple(batch), generator=generator).to(device)

    def haar_weights(self, grid):
        return torch.ones(grid.shape[:1], dtype=F64)

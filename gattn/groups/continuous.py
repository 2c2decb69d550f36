r"""Compact Lie stabilisers of the plane: :math:`SO(2)` and :math:`O(2)`.

Elements are angles: ``SO2`` elements are tensors ``(*batch,)`` holding
:math:`\theta \in [-\pi, \pi)`; ``O2`` elements are ``(*batch, 2)`` holding
:math:`(\theta, s)` with :math:`s \in \{0, 1\}`, meaning :math:`R(\theta) M^s` with the mirror
:math:`M = \mathrm{diag}(-1, 1)` applied first.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .base import MatrixGroup

__all__ = ["SO2", "O2", "wrap_angle"]


def wrap_angle(theta: Tensor) -> Tensor:
    r"""Map angles to :math:`[-\pi, \pi)`."""
    return torch.remainder(theta + math.pi, 2 * math.pi) - math.pi


def _default_dtype(dtype: torch.dtype | None) -> torch.dtype:
    return dtype or torch.get_default_dtype()


def _rotation(theta: Tensor) -> Tensor:
    c, s = torch.cos(theta), torch.sin(theta)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


class SO2(MatrixGroup):
    r"""The rotation group :math:`SO(2)`, elements are angles ``(*batch,)``.

    :math:`\exp: \mathfrak{so}(2) \cong \mathbb{R} \to SO(2)` is :math:`\omega \mapsto \omega`
    (wrapped), :math:`\log` its inverse on :math:`[-\pi, \pi)`. ``features`` are
    :math:`(\cos\theta, \sin\theta)`.
    """

    name = "SO(2)"
    element_shape = ()
    element_dtype = "float"
    action_dim = 2

    @property
    def is_compact(self) -> bool:
        return True

    def identity(self, batch_shape=(), device=None, dtype=None) -> Tensor:
        return torch.zeros(tuple(batch_shape), device=device, dtype=_default_dtype(dtype))

    def product(self, g: Tensor, h: Tensor) -> Tensor:
        return wrap_angle(g + h)

    def inverse(self, g: Tensor) -> Tensor:
        return wrap_angle(-g)

    def matrix(self, g: Tensor, dtype: torch.dtype | None = None) -> Tensor:
        return _rotation(g.to(dtype or g.dtype))

    def grid(self, n: int | None = None) -> Tensor:
        if n is None or n < 1:
            raise ValueError(f"{self.name}.grid needs a number of points n >= 1, got n={n!r}")
        return wrap_angle(torch.arange(n, dtype=torch.float64) * (2 * math.pi / n)).to(
            torch.get_default_dtype()
        )

    def sample(self, *batch: int, generator=None, device=None, dtype=None) -> Tensor:
        u = torch.rand(tuple(batch), generator=generator, dtype=torch.float64)
        return wrap_angle(2 * math.pi * u).to(device=device, dtype=_default_dtype(dtype))

    def haar_weights(self, grid: Tensor) -> Tensor:
        """Uniform weights summing to 1 (normalised Haar measure, equispaced grid)."""
        return torch.full(grid.shape[:1], 1.0 / grid.shape[0], dtype=torch.float64)

    def log(self, g: Tensor) -> Tensor:
        """The Lie-algebra coordinate ``(*batch, 1)``."""
        return wrap_angle(g).unsqueeze(-1)

    def exp(self, v: Tensor) -> Tensor:
        """Inverse of :meth:`log`: ``(*batch, 1) -> (*batch,)``."""
        return wrap_angle(v[..., 0])

    def algebra_matrix(self, v: Tensor) -> Tensor:
        r"""The Lie-algebra element :math:`\omega J` as a matrix ``(*batch, 2, 2)``."""
        w = v[..., 0]
        z = torch.zeros_like(w)
        return torch.stack([torch.stack([z, -w], -1), torch.stack([w, z], -1)], -2)

    def features(self, g: Tensor) -> Tensor:
        return torch.stack([torch.cos(g), torch.sin(g)], -1)


class O2(MatrixGroup):
    r"""The orthogonal group :math:`O(2)`; elements ``(*batch, 2)`` = :math:`(\theta, s)`.

    Product: :math:`(\theta_1, s_1)(\theta_2, s_2) = (\theta_1 + (-1)^{s_1}\theta_2,
    s_1 \oplus s_2)` because :math:`M R(\theta) = R(-\theta) M`.
    """

    name = "O(2)"
    element_shape = (2,)
    element_dtype = "float"
    action_dim = 2

    @property
    def is_compact(self) -> bool:
        return True

    def validate(self, g: Tensor, name: str = "g") -> Tensor:
        super().validate(g, name)
        s = g[..., 1]
        if g.numel() and not bool(((s == 0) | (s == 1)).all()):
            raise ValueError(f"{name}[..., 1] (the mirror flag) must be 0 or 1 for {self.name}")
        return g

    def identity(self, batch_shape=(), device=None, dtype=None) -> Tensor:
        return torch.zeros(*batch_shape, 2, device=device, dtype=_default_dtype(dtype))

    def product(self, g: Tensor, h: Tensor) -> Tensor:
        sign = 1 - 2 * g[..., 1]
        theta = wrap_angle(g[..., 0] + sign * h[..., 0])
        s = torch.remainder(g[..., 1] + h[..., 1], 2)
        return torch.stack([theta, s], -1)

    def inverse(self, g: Tensor) -> Tensor:
        sign = 1 - 2 * g[..., 1]
        return torch.stack([wrap_angle(-sign * g[..., 0]), g[..., 1]], -1)

    def matrix(self, g: Tensor, dtype: torch.dtype | None = None) -> Tensor:
        g = g.to(dtype or g.dtype)
        rot = _rotation(g[..., 0])
        flip = 1 - 2 * g[..., 1]
        ones = torch.ones_like(flip)
        mirror = torch.diag_embed(torch.stack([flip, ones], -1))
        return rot @ mirror

    def grid(self, n: int | None = None) -> Tensor:
        """``n`` rotations, then the same ``n`` rotations composed with the mirror (``2n``)."""
        rot = SO2().grid(n)
        theta = torch.cat([rot, rot])
        s = torch.cat([torch.zeros_like(rot), torch.ones_like(rot)])
        return torch.stack([theta, s], -1)

    def sample(self, *batch: int, generator=None, device=None, dtype=None) -> Tensor:
        theta = SO2().sample(*batch, generator=generator, dtype=torch.float64)
        s = torch.randint(2, tuple(batch), generator=generator).double()
        return torch.stack([theta, s], -1).to(device=device, dtype=_default_dtype(dtype))

    def haar_weights(self, grid: Tensor) -> Tensor:
        return torch.full(grid.shape[:1], 1.0 / grid.shape[0], dtype=torch.float64)

    def features(self, g: Tensor) -> Tensor:
        return torch.stack([torch.cos(g[..., 0]), torch.sin(g[..., 0]), 2 * g[..., 1] - 1], -1)

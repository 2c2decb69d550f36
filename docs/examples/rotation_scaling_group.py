r"""Defining a group gattn does not ship: rotations and scalings of the plane.

:math:`H = SO(2) \times \mathbb{R}_{>0}` acts on :math:`\mathbb{R}^2` by
:math:`A(\theta, s) = s R(\theta)`, so :math:`|\det A| = s^2 \neq 1` and the Haar measure of
:math:`G = \mathbb{R}^2 \rtimes H` is :math:`dx\, d\theta\, ds / (s \cdot s^2)` — the
non-trivial factor :math:`1/|\det A(h)|` that kernels and integrals must carry.

Elements of :math:`H` are stored as :math:`(\theta, \log s)`, so the Haar measure of :math:`H`
itself is uniform in these coordinates. Run this file to check the new group with gattn's
own tools (it is also executed by the test suite).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gattn.groups import MatrixGroup, SemidirectProduct, wrap_angle
from gattn.testing import check_group_axioms


class RotationScaling(MatrixGroup):
    r""":math:`SO(2) \times \mathbb{R}_{>0}`; elements ``(*batch, 2)``: :math:`(\theta, \log s)`."""

    name = "SO(2)xR+"
    element_shape = (2,)
    element_dtype = "float"
    action_dim = 2

    def identity(self, batch_shape=(), device=None, dtype=None) -> Tensor:
        return torch.zeros(*batch_shape, 2, device=device, dtype=dtype or torch.float32)

    def product(self, g: Tensor, h: Tensor) -> Tensor:
        return torch.stack([wrap_angle(g[..., 0] + h[..., 0]), g[..., 1] + h[..., 1]], -1)

    def inverse(self, g: Tensor) -> Tensor:
        return torch.stack([wrap_angle(-g[..., 0]), -g[..., 1]], -1)

    def matrix(self, g: Tensor, dtype=None) -> Tensor:
        g = g.to(dtype or g.dtype)
        c, s = torch.cos(g[..., 0]), torch.sin(g[..., 0])
        rot = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)
        return torch.exp(g[..., 1])[..., None, None] * rot

    def grid(self, n: int | None = None) -> Tensor:
        n = n or 8
        theta = torch.arange(n) * (2 * math.pi / n)
        log_s = torch.linspace(-math.log(2), math.log(2), 3)
        tt, ss = torch.meshgrid(wrap_angle(theta), log_s, indexing="ij")
        return torch.stack([tt.flatten(), ss.flatten()], -1)

    def sample(self, *batch, generator=None, device=None, dtype=None) -> Tensor:
        u = torch.rand(*batch, 2, generator=generator, dtype=torch.float64)
        g = torch.stack([wrap_angle(2 * math.pi * u[..., 0]), 2 * u[..., 1] - 1], -1)
        return g.to(device=device, dtype=dtype or torch.get_default_dtype())

    def haar_weights(self, grid: Tensor) -> Tensor:
        # d(theta) d(log s) is the Haar measure of H in these coordinates: uniform weights
        return torch.full(grid.shape[:1], 1.0 / grid.shape[0], dtype=torch.float64)

    def algebra_matrix(self, v: Tensor) -> Tensor:
        w, sigma = v[..., 0], v[..., 1]
        return torch.stack([torch.stack([sigma, -w], -1), torch.stack([w, sigma], -1)], -2)

    def log(self, g: Tensor) -> Tensor:
        return g.clone()

    def exp(self, v: Tensor) -> Tensor:
        return torch.stack([wrap_angle(v[..., 0]), v[..., 1]], -1)


def haar_density_invariance(
    group: SemidirectProduct, n: int = 8, seed: int = 0, density=None
) -> float:
    r"""Largest violation of left-invariance of :math:`\rho(g)\,dg` with
    :math:`\rho(x, h) = 1/|\det A(h)|` in the coordinates :math:`(x, \theta, \log s)`:
    :math:`\rho(kg)\,|\det J_{L_k}(g)| = \rho(g)`."""
    if density is None:

        def density(el: Tensor) -> Tensor:
            return 1 / group.det(el).abs()

    gen = torch.Generator().manual_seed(seed)
    worst = 0.0
    for _ in range(n):
        k = group.sample(generator=gen, dtype=torch.float64)
        g = group.sample(generator=gen, dtype=torch.float64)
        jac = torch.autograd.functional.jacobian(lambda z, k=k: group.product(k, z), g)
        lhs = density(group.product(k, g)) * torch.linalg.det(jac).abs()
        rhs = density(g)
        worst = max(worst, float((lhs - rhs).abs() / rhs))
    return worst


def main() -> None:
    h = RotationScaling()
    g = SemidirectProduct(h, name="Sim(2)")
    for dtype in (torch.float32, torch.float64):
        report = check_group_axioms(g, dtype=dtype)
        print(f"{g.name} {dtype}: axioms hold, largest error {max(report.errors.values()):.1e}")
    err = haar_density_invariance(g)
    print(f"Haar measure dx dh/|det A(h)| left-invariant: relative error {err:.1e}")
    # without the 1/|det A(h)| factor left-invariance fails: det A(h) = s^2
    k = g.join(torch.zeros(2, dtype=torch.float64), torch.tensor([0.3, 0.5], dtype=torch.float64))
    print(f"|det A(k)| for s = e^0.5: {float(g.det(k).abs()):.4f} (the factor the measure carries)")


if __name__ == "__main__":
    main()

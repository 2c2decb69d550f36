r"""The rotation group :math:`SO(3)` of :math:`\mathbb{R}^3`, elements are unit quaternions.

An element is a tensor ``(*batch, 4)`` holding :math:`q = (w, x, y, z)`, :math:`|q| = 1`,
meaning the rotation :math:`v \mapsto q v \bar q`. :math:`q` and :math:`-q` are the same
rotation; products and inverses return the canonical sign (the first non-zero component
positive, so :math:`w > 0` off the half-turns), and :meth:`SO3.equal` compares rotation
matrices, so either sign compares equal.

``grid(n)`` (``n`` a multiple of 24) is the orbit of ``n / 24`` base rotations under the 24
rotations of the cube: it is mapped onto itself by every quarter turn about a coordinate axis
(docs/groups.md, "Continuous stabilisers").
"""

from __future__ import annotations

import math
from functools import cache

import torch
from torch import Tensor

from .base import MatrixGroup

__all__ = ["SO3", "quaternion_product", "quaternion_to_matrix", "matrix_to_quaternion"]

# psi^4 = psi + 4: the second irrational of the super-Fibonacci spiral (Alexa, CVPR 2022)
_PSI = 1.533751168755204288118041
_PHI = math.sqrt(2.0)


def _default_dtype(dtype: torch.dtype | None) -> torch.dtype:
    return dtype or torch.get_default_dtype()


def _canonical(q: Tensor) -> Tensor:
    """Flip the sign of ``q`` so that its first non-zero component is positive."""
    if q.numel() == 0:
        return q
    nonzero = q != 0
    first = torch.argmax(nonzero.to(torch.int8), dim=-1, keepdim=True)
    sign = torch.sign(torch.gather(q, -1, first))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    return q * sign


def quaternion_product(p: Tensor, q: Tensor) -> Tensor:
    """The Hamilton product ``p q`` of quaternions ``(*batch, 4)`` = (w, x, y, z), broadcast."""
    pw, px, py, pz = p.unbind(-1)
    qw, qx, qy, qz = q.unbind(-1)
    return torch.stack(
        [
            pw * qw - px * qx - py * qy - pz * qz,
            pw * qx + px * qw + py * qz - pz * qy,
            pw * qy - px * qz + py * qw + pz * qx,
            pw * qz + px * qy - py * qx + pz * qw,
        ],
        -1,
    )


def quaternion_to_matrix(q: Tensor) -> Tensor:
    """Rotation matrices ``(*batch, 3, 3)`` of quaternions ``(*batch, 4)``, normalised first
    (so a quaternion rounded to a lower precision still gives an orthogonal matrix)."""
    w, x, y, z = q.unbind(-1)
    s = 2 / (q * q).sum(-1)
    rows = [
        [1 - s * (y * y + z * z), s * (x * y - w * z), s * (x * z + w * y)],
        [s * (x * y + w * z), 1 - s * (x * x + z * z), s * (y * z - w * x)],
        [s * (x * z - w * y), s * (y * z + w * x), 1 - s * (x * x + y * y)],
    ]
    return torch.stack([torch.stack(r, -1) for r in rows], -2)


def matrix_to_quaternion(m: Tensor) -> Tensor:
    """Canonical unit quaternions ``(*batch, 4)`` of rotation matrices ``(*batch, 3, 3)``.

    Each candidate :math:`4 q_i q` is read off the row of the symmetric matrix
    :math:`K = 4 q q^T` (built from ``m``); the row with the largest diagonal entry is the
    best conditioned one (Shepperd's method), batched without branches.
    """
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    k = torch.stack(
        [
            torch.stack([1 + m00 + m11 + m22, m21 - m12, m02 - m20, m10 - m01], -1),
            torch.stack([m21 - m12, 1 + m00 - m11 - m22, m01 + m10, m02 + m20], -1),
            torch.stack([m02 - m20, m01 + m10, 1 - m00 + m11 - m22, m12 + m21], -1),
            torch.stack([m10 - m01, m02 + m20, m12 + m21, 1 - m00 - m11 + m22], -1),
        ],
        -2,
    )
    diag = torch.diagonal(k, dim1=-2, dim2=-1)
    best = torch.argmax(diag, -1)
    row = torch.gather(k, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    q = row / row.norm(dim=-1, keepdim=True)
    return _canonical(q)


@cache
def _cube_quaternions() -> Tensor:
    """The 24 rotations of the cube as quaternions, in ``octahedral()`` order (float64)."""
    from .catalogue import octahedral  # the catalogue imports this module
    from .tables import finite_tables

    mats = finite_tables(octahedral()).matrices.to(torch.float64)
    return matrix_to_quaternion(mats)


def _super_fibonacci(m: int) -> Tensor:
    """``m`` unit quaternions of the super-Fibonacci spiral (low-discrepancy on SO(3))."""
    s = torch.arange(m, dtype=torch.float64) + 0.5
    r = torch.sqrt(s / m)
    big_r = torch.sqrt(1 - s / m)
    alpha = 2 * math.pi * s / _PHI
    beta = 2 * math.pi * s / _PSI
    q = torch.stack(
        [
            r * torch.sin(alpha),
            r * torch.cos(alpha),
            big_r * torch.sin(beta),
            big_r * torch.cos(beta),
        ],
        -1,
    )
    return q / q.norm(dim=-1, keepdim=True)


class SO3(MatrixGroup):
    r"""The rotation group :math:`SO(3)`; elements are unit quaternions ``(*batch, 4)``
    :math:`(w, x, y, z)`, returned with the canonical sign by every product and inverse.

    ``matrix`` is the rotation matrix, ``features`` its flattened entries (smooth, injective
    on rotations, blind to the sign of :math:`q`); :math:`\log` / :math:`\exp` map to and from
    rotation vectors (axis times angle, ``(*batch, 3)``), ``algebra_matrix`` gives their
    skew-symmetric matrices. The Haar measure is normalised (total mass 1).
    """

    name = "SO(3)"
    element_shape = (4,)
    element_dtype = "float"
    action_dim = 3

    @property
    def is_compact(self) -> bool:
        return True

    def validate(self, g: Tensor, name: str = "g") -> Tensor:
        """Check shape, dtype, finiteness and unit norm (within 1e-6 relative).

        Raises:
            TypeError: not a floating tensor. ValueError: wrong shape, non-finite values or
                a norm other than 1.
        """
        super().validate(g, name)
        if g.numel():
            if not bool(torch.isfinite(g).all()):
                raise ValueError(f"{name} holds non-finite values; not unit quaternions of SO(3)")
            err = float((g.double().norm(dim=-1) - 1).abs().max())
            if err > 1e-6:
                raise ValueError(
                    f"{name} must hold unit quaternions (w, x, y, z) for SO(3); the norm is off "
                    f"by up to {err:.3e} (> 1e-6)"
                )
        return g

    def identity(self, batch_shape=(), device=None, dtype=None) -> Tensor:
        e = torch.zeros(*batch_shape, 4, device=device, dtype=_default_dtype(dtype))
        e[..., 0] = 1
        return e

    def product(self, g: Tensor, h: Tensor) -> Tensor:
        return _canonical(quaternion_product(g, h))

    def inverse(self, g: Tensor) -> Tensor:
        conj = torch.tensor([1.0, -1.0, -1.0, -1.0], dtype=g.dtype, device=g.device)
        return _canonical(g * conj)

    def matrix(self, g: Tensor, dtype: torch.dtype | None = None) -> Tensor:
        return quaternion_to_matrix(g.to(dtype or g.dtype))

    def det(self, g: Tensor) -> Tensor:
        """:math:`\\det A(g) = 1` exactly (rotations): ``(*batch,)``, float64."""
        return torch.ones(g.shape[:-1], dtype=torch.float64, device=g.device)

    def grid(self, n: int | None = None) -> Tensor:
        r"""A deterministic near-uniform grid of ``n`` rotations, ``n`` a positive multiple of 24:
        :math:`\{o\, b_j\}` for the 24 cube rotations :math:`o` (``octahedral()`` order) and
        ``n / 24`` base rotations :math:`b_j = s_0^{-1} s_j`, the super-Fibonacci spiral
        :math:`s_j` (low-discrepancy on :math:`SO(3)`) moved so that :math:`b_0 = e`.
        Base-major: rows ``24 j .. 24 j + 23`` are the cube rotations times :math:`b_j`.

        ``grid(24)`` is exactly the cube rotations, and every grid is mapped onto itself by
        left multiplication with each of them (:math:`o' o b_j = (o' o) b_j`). The quadrature
        :math:`\frac1n \sum f(o b_j)` is the spiral's quadrature of the cube-averaged
        :math:`f`, exact for the Wigner functions of degree 1 to 3 (the cube group has no
        invariant below degree 4).

        Returns:
            ``(n, 4)`` canonical unit quaternions.

        Raises:
            ValueError: ``n`` is not a positive multiple of 24.
        """
        if not isinstance(n, int) or isinstance(n, bool) or n < 1 or n % 24:
            raise ValueError(
                f"{self.name}.grid needs n a positive multiple of 24 (the cube rotations times "
                f"n / 24 base rotations), got n={n!r}"
            )
        cube = _cube_quaternions()
        spiral = _super_fibonacci(n // 24)
        s0_inv = spiral[0] * torch.tensor([1.0, -1.0, -1.0, -1.0], dtype=torch.float64)
        base = quaternion_product(s0_inv, spiral)
        base[0] = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64)
        q = quaternion_product(cube[None, :, :], base[:, None, :]).reshape(n, 4)
        q = q / q.norm(dim=-1, keepdim=True)
        return _canonical(q).to(torch.get_default_dtype())

    def sample(self, *batch: int, generator=None, device=None, dtype=None) -> Tensor:
        """Haar-uniform rotations (Shoemake's method)."""
        u = torch.rand(*batch, 3, generator=generator, dtype=torch.float64)
        u1, u2, u3 = u.unbind(-1)
        a, b = torch.sqrt(1 - u1), torch.sqrt(u1)
        q = torch.stack(
            [
                b * torch.cos(2 * math.pi * u3),
                a * torch.sin(2 * math.pi * u2),
                a * torch.cos(2 * math.pi * u2),
                b * torch.sin(2 * math.pi * u3),
            ],
            -1,
        )
        return _canonical(q).to(device=device, dtype=_default_dtype(dtype))

    def haar_weights(self, grid: Tensor) -> Tensor:
        """Uniform weights summing to 1 (normalised Haar measure, near-uniform grid)."""
        return torch.full(grid.shape[:1], 1.0 / grid.shape[0], dtype=torch.float64)

    def log(self, g: Tensor) -> Tensor:
        """Rotation vectors (axis times angle in ``[0, pi]``): ``(*batch, 3)``."""
        q = _canonical(g)
        w, v = q[..., 0], q[..., 1:]
        norm = v.norm(dim=-1)
        angle = 2 * torch.atan2(norm, w)
        safe = torch.where(norm > 1e-12, norm, torch.ones_like(norm))
        # 2 atan2(n, w) / n -> 2 / w (1 - n^2 / (3 w^2)) as n -> 0 (w -> 1)
        small = 2 / w.clamp_min(1e-300) * (1 - norm**2 / 3)
        coeff = torch.where(norm > 1e-12, angle / safe, small)
        return v * coeff[..., None]

    def exp(self, v: Tensor) -> Tensor:
        """Unit quaternions of rotation vectors ``(*batch, 3)``: ``(*batch, 4)``."""
        angle = v.norm(dim=-1)
        safe = torch.where(angle > 1e-8, angle, torch.ones_like(angle))
        coeff = torch.where(angle > 1e-8, torch.sin(angle / 2) / safe, 0.5 - angle**2 / 48)
        q = torch.cat([torch.cos(angle / 2)[..., None], v * coeff[..., None]], -1)
        return _canonical(q)

    def algebra_matrix(self, v: Tensor) -> Tensor:
        """The skew-symmetric matrices ``(*batch, 3, 3)`` of rotation vectors."""
        x, y, z = v.unbind(-1)
        o = torch.zeros_like(x)
        return torch.stack(
            [torch.stack([o, -z, y], -1), torch.stack([z, o, -x], -1), torch.stack([-y, x, o], -1)],
            -2,
        )

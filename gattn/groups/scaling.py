r"""Non-compact stabilisers with scalings: :math:`\mathbb{R}^+` and
:math:`SO(2) \times \mathbb{R}^+`.

``ScalingGroup`` elements are log-scales ``t`` (tensors ``(*batch,)``), acting on
:math:`\mathbb{R}^d` by :math:`A(t) = e^t I`. ``RotationScaling`` elements are ``(*batch, 2)``
tensors :math:`(\theta, t)`, acting on the plane by :math:`A = e^t R(\theta)`.

Both are non-compact and their affine groups are not unimodular: :math:`\det A = e^{d t}`, so
the Haar measure of :math:`\mathbb{R}^d \rtimes H` carries the factor :math:`1 / |\det A(h)|`
(applied by :class:`~gattn.groups.SemidirectProduct`). The Haar measure of :math:`\mathbb{R}^+`
is :math:`ds / s = dt`; it has infinite mass, so every grid, sample and quadrature covers only
the log-scale range ``[log s_min, log s_max]`` (``scale_range``). Integrals over :math:`H` are
truncated to that range: equivariance under scalings holds only for signals and elements that
stay away from its ends (the boundary effect, docs/groups.md, "Continuous stabilisers").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from .base import MatrixGroup
from .continuous import SO2, wrap_angle
from .validation import check_int

__all__ = ["ScalingGroup", "RotationScaling", "check_scale_range"]


def _default_dtype(dtype: torch.dtype | None) -> torch.dtype:
    return dtype or torch.get_default_dtype()


def check_scale_range(scale_range: object) -> tuple[float, float]:
    """Validate a range of scales and return it as a tuple of two floats.

    Args:
        scale_range: ``(s_min, s_max)``, two finite numbers with ``0 < s_min < s_max``.

    Returns:
        ``(float(s_min), float(s_max))``.

    Raises:
        ValueError: ``scale_range`` is not a pair of finite numbers with ``0 < s_min < s_max``.
    """
    msg = (
        f"scale_range must be a pair (s_min, s_max) of finite numbers with 0 < s_min < s_max, "
        f"got scale_range={scale_range!r}"
    )
    if isinstance(scale_range, (str, bytes)) or not isinstance(scale_range, Sequence):
        raise ValueError(msg)
    if len(scale_range) != 2:
        raise ValueError(msg)
    values = []
    for s in scale_range:
        if isinstance(s, bool) or not isinstance(s, (int, float)):
            raise ValueError(msg)
        values.append(float(s))
    lo, hi = values
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
        raise ValueError(msg)
    return lo, hi


def _check_finite(group: MatrixGroup, g: Tensor, name: str) -> None:
    if g.numel() and not bool(torch.isfinite(g).all()):
        raise ValueError(
            f"{name} holds non-finite values (nan or inf); not elements of {group.name}"
        )


def _midpoints(lo: float, hi: float, n: int) -> Tensor:
    """``n`` midpoint-rule nodes of ``[lo, hi]`` in float64."""
    step = (hi - lo) / n
    return lo + (torch.arange(n, dtype=torch.float64) + 0.5) * step


class _TruncatedScales(MatrixGroup):
    """What both scaling stabilisers share: a truncated range of log-scales (``scale_range``),
    non-compactness and finite float elements."""

    scale_range: tuple[float, float]

    @property
    def log_range(self) -> tuple[float, float]:
        """``(log s_min, log s_max)``: the range of log-scales covered by the quadrature."""
        return math.log(self.scale_range[0]), math.log(self.scale_range[1])

    @property
    def is_compact(self) -> bool:
        return False

    def validate(self, g: Tensor, name: str = "g") -> Tensor:
        """Check shape, float dtype and finiteness; raise ``TypeError`` / ``ValueError``."""
        super().validate(g, name)
        _check_finite(self, g, name)
        return g


class ScalingGroup(_TruncatedScales):
    r"""The scaling group :math:`\mathbb{R}^+` acting on :math:`\mathbb{R}^d` by
    :math:`A(t) = e^t I`; elements are log-scales ``t`` ``(*batch,)``.

    The product is the sum of log-scales, the inverse the negation. :math:`\exp` / :math:`\log`
    are the identity on the algebra coordinate :math:`t` (algebra matrix :math:`t I`);
    ``features`` are :math:`(t,)`.

    The Haar measure :math:`ds / s = dt` is not finite: ``grid``, ``sample`` and
    ``haar_weights`` cover only ``[log s_min, log s_max]``. A quadrature over that range is a
    truncation of the integral over :math:`\mathbb{R}^+`, so equivariance under scalings holds
    only away from the ends of the range (docs/groups.md, "Continuous stabilisers").

    Args:
        dims: the dimension :math:`d` of the space it scales.
        scale_range: ``(s_min, s_max)`` with ``0 < s_min < s_max``: the scales covered by
            ``grid``, ``sample`` and ``haar_weights``.

    Raises:
        ValueError: ``dims`` is not an integer >= 1, or ``scale_range`` is not a valid range.
    """

    element_shape = ()
    element_dtype = "float"

    def __init__(self, dims: int = 2, scale_range: tuple[float, float] = (1.0, 2.0)):
        self.dims = check_int("dims", dims)
        self.scale_range = check_scale_range(scale_range)
        self.action_dim = self.dims
        self.name = "R+"

    def identity(self, batch_shape=(), device=None, dtype=None) -> Tensor:
        return torch.zeros(tuple(batch_shape), device=device, dtype=_default_dtype(dtype))

    def product(self, g: Tensor, h: Tensor) -> Tensor:
        return g + h

    def inverse(self, g: Tensor) -> Tensor:
        return -g

    def matrix(self, g: Tensor, dtype: torch.dtype | None = None) -> Tensor:
        g = g.to(dtype or g.dtype)
        eye = torch.eye(self.dims, dtype=g.dtype, device=g.device)
        return torch.exp(g)[..., None, None] * eye

    def det(self, g: Tensor) -> Tensor:
        """:math:`\\det A(t) = e^{d t}` in float64: ``(*batch,)``."""
        return torch.exp(self.dims * g.to(torch.float64))

    def grid(self, n: int | None = None) -> Tensor:
        """``n`` log-scales by the midpoint rule over ``[log s_min, log s_max]``: ``(n,)``.

        Raises:
            ValueError: ``n`` is not an integer >= 1.
        """
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"{self.name}.grid needs a number of points n >= 1, got n={n!r}")
        return _midpoints(*self.log_range, n).to(torch.get_default_dtype())

    def sample(self, *batch: int, generator=None, device=None, dtype=None) -> Tensor:
        """Log-scales uniform in ``[log s_min, log s_max]`` (Haar-uniform on the truncation)."""
        lo, hi = self.log_range
        u = torch.rand(tuple(batch), generator=generator, dtype=torch.float64)
        return (lo + (hi - lo) * u).to(device=device, dtype=_default_dtype(dtype))

    def haar_weights(self, grid: Tensor) -> Tensor:
        r"""The Haar measure :math:`ds/s = dt` of the truncated range:
        ``(log s_max - log s_min) / N`` per point (not normalised: :math:`\mathbb{R}^+` is not
        compact). ``(N,)``, float64."""
        lo, hi = self.log_range
        n = grid.shape[0]
        return torch.full((n,), (hi - lo) / max(n, 1), dtype=torch.float64)

    def log(self, g: Tensor) -> Tensor:
        """The Lie-algebra coordinate ``(*batch, 1)`` (the log-scale itself)."""
        return g.unsqueeze(-1)

    def exp(self, v: Tensor) -> Tensor:
        """Inverse of :meth:`log`: ``(*batch, 1) -> (*batch,)``."""
        return v[..., 0]

    def algebra_matrix(self, v: Tensor) -> Tensor:
        r"""The Lie-algebra element :math:`t I` as a matrix ``(*batch, d, d)``."""
        eye = torch.eye(self.dims, dtype=v.dtype, device=v.device)
        return v[..., 0, None, None] * eye

    def features(self, g: Tensor) -> Tensor:
        """:math:`(t,)`: ``(*batch, 1)``."""
        return g.unsqueeze(-1)


class RotationScaling(_TruncatedScales):
    r""":math:`SO(2) \times \mathbb{R}^+` acting on the plane by :math:`A = e^t R(\theta)`;
    elements ``(*batch, 2)`` = :math:`(\theta, t)`, :math:`\theta \in [-\pi, \pi)` wrapped.

    A direct product: :math:`(\theta_1, t_1)(\theta_2, t_2) = (\theta_1 + \theta_2, t_1 + t_2)`.
    ``features`` are :math:`(\cos\theta, \sin\theta, t)`; :math:`\exp` / :math:`\log` map the
    algebra coordinates :math:`(\omega, t)` (algebra matrix :math:`\omega J + t I`).

    As for :class:`ScalingGroup`, the scale direction is truncated to ``scale_range``
    (equivariance under scalings only away from its ends, docs/groups.md).

    Args:
        scale_range: ``(s_min, s_max)`` with ``0 < s_min < s_max``.
        scales: the number of midpoint log-scales in :meth:`grid`.

    Raises:
        ValueError: ``scale_range`` is not a valid range, or ``scales`` is not an integer >= 1.
    """

    name = "SO(2)xR+"
    element_shape = (2,)
    element_dtype = "float"
    action_dim = 2

    def __init__(self, scale_range: tuple[float, float] = (1.0, 2.0), scales: int = 3):
        self.scale_range = check_scale_range(scale_range)
        self.scales = check_int("scales", scales)

    def identity(self, batch_shape=(), device=None, dtype=None) -> Tensor:
        return torch.zeros(*batch_shape, 2, device=device, dtype=_default_dtype(dtype))

    def product(self, g: Tensor, h: Tensor) -> Tensor:
        return torch.stack([wrap_angle(g[..., 0] + h[..., 0]), g[..., 1] + h[..., 1]], -1)

    def inverse(self, g: Tensor) -> Tensor:
        return torch.stack([wrap_angle(-g[..., 0]), -g[..., 1]], -1)

    def matrix(self, g: Tensor, dtype: torch.dtype | None = None) -> Tensor:
        g = g.to(dtype or g.dtype)
        rot = SO2().matrix(g[..., 0])
        return torch.exp(g[..., 1])[..., None, None] * rot

    def det(self, g: Tensor) -> Tensor:
        """:math:`\\det A = e^{2 t}` in float64: ``(*batch,)``."""
        return torch.exp(2 * g[..., 1].to(torch.float64))

    def grid(self, n: int | None = None, scales: int | None = None) -> Tensor:
        """``n // scales`` uniform rotations times ``scales`` midpoint log-scales, scale-major
        (all rotations of scale 0, then of scale 1, ...): ``(n, 2)``.

        Args:
            n: the number of points, a positive multiple of ``scales``.
            scales: the number of log-scales for this call (default: the group's ``scales``;
                a finer one gives a finer quadrature, e.g. for checks).

        Raises:
            ValueError: ``n`` is not a positive multiple of ``scales``.
        """
        scales = self.scales if scales is None else check_int("scales", scales)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1 or n % scales:
            raise ValueError(
                f"{self.name}.grid needs n a positive multiple of scales={scales} "
                f"(n // scales rotations x scales log-scales), got n={n!r}"
            )
        n_rot = n // scales
        theta = wrap_angle(torch.arange(n_rot, dtype=torch.float64) * (2 * math.pi / n_rot))
        t = _midpoints(*self.log_range, scales)
        grid = torch.stack([theta.repeat(scales), t.repeat_interleave(n_rot)], -1)
        return grid.to(torch.get_default_dtype())

    def sample(self, *batch: int, generator=None, device=None, dtype=None) -> Tensor:
        """Uniform angles and log-scales uniform in ``[log s_min, log s_max]``."""
        lo, hi = self.log_range
        u = torch.rand(*batch, 2, generator=generator, dtype=torch.float64)
        theta = wrap_angle(2 * math.pi * u[..., 0])
        t = lo + (hi - lo) * u[..., 1]
        return torch.stack([theta, t], -1).to(device=device, dtype=_default_dtype(dtype))

    def haar_weights(self, grid: Tensor) -> Tensor:
        r"""Normalised :math:`d\theta` times :math:`dt` over the truncated range:
        ``(log s_max - log s_min) / N`` per point, ``(N,)``, float64."""
        lo, hi = self.log_range
        n = grid.shape[0]
        return torch.full((n,), (hi - lo) / max(n, 1), dtype=torch.float64)

    def log(self, g: Tensor) -> Tensor:
        r"""Algebra coordinates :math:`(\omega, t)` ``(*batch, 2)``, :math:`\omega` wrapped."""
        return torch.stack([wrap_angle(g[..., 0]), g[..., 1]], -1)

    def exp(self, v: Tensor) -> Tensor:
        """Inverse of :meth:`log`."""
        return torch.stack([wrap_angle(v[..., 0]), v[..., 1]], -1)

    def algebra_matrix(self, v: Tensor) -> Tensor:
        r""":math:`\omega J + t I` as a matrix ``(*batch, 2, 2)``."""
        w, t = v[..., 0], v[..., 1]
        return torch.stack([torch.stack([t, -w], -1), torch.stack([w, t], -1)], -2)

    def features(self, g: Tensor) -> Tensor:
        r""":math:`(\cos\theta, \sin\theta, t)`: ``(*batch, 3)``."""
        return torch.stack([torch.cos(g[..., 0]), torch.sin(g[..., 0]), g[..., 1]], -1)

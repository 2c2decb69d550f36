r"""Affine groups :math:`G = \mathbb{R}^d \rtimes H` (and lattice groups :math:`\mathbb{Z}^d
\rtimes H`) derived from a matrix stabiliser :math:`H`.

An element :math:`g = (x, h)` is stored as one float tensor ``(*batch, d + k)``: the
translation :math:`x` in the first ``d`` entries, then the ``k = H.parameter_dim`` float
coordinates of :math:`h` (the index for finite :math:`H`, the angle for :math:`SO(2)`, ...).

.. math::

    (x_1, h_1)(x_2, h_2) = (x_1 + A(h_1) x_2,\; h_1 h_2), \qquad
    (x, h)^{-1} = (-A(h^{-1}) x,\; h^{-1}), \qquad
    (x, h)\cdot y = A(h) y + x,

and the left Haar measure is :math:`dg = dx\,dh / |\det A(h)|`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import Group, MatrixGroup, check_element_shape
from .tables import finite_tables

__all__ = ["SemidirectProduct", "stabiliser_of", "fibre_weights"]


class SemidirectProduct(MatrixGroup):
    r"""The affine group :math:`\mathbb{R}^d \rtimes H` (``lattice=True``: :math:`\mathbb{Z}^d
    \rtimes H`).

    Args:
        stabiliser: the matrix group :math:`H` acting linearly on :math:`\mathbb{R}^d`.
        lattice: restrict translations to integers; :math:`H` must then map the integer
            lattice onto itself (every element grid-exact).
        name: defaults to ``"R^d x| H"`` / ``"Z^d x| H"``.

    Attributes:
        stabiliser: :math:`H`.
        translation_dim: :math:`d`.
    """

    element_dtype = "float"

    def __init__(self, stabiliser: MatrixGroup, lattice: bool = False, name: str | None = None):
        if not isinstance(stabiliser, MatrixGroup):
            raise TypeError(
                f"stabiliser must be a MatrixGroup (it must act linearly), got {stabiliser!r}"
            )
        if lattice:
            if not stabiliser.is_finite or not finite_tables(stabiliser).all_lattice_preserving:
                raise ValueError(
                    f"lattice=True needs a finite stabiliser that maps Z^d onto itself; "
                    f"{stabiliser.name} does not"
                )
        self.stabiliser = stabiliser
        self.translation_dim = stabiliser.action_dim
        self.action_dim = stabiliser.action_dim
        self.lattice = lattice
        self.element_shape = (self.translation_dim + stabiliser.parameter_dim,)
        space = "Z" if lattice else "R"
        self.name = name or f"{space}^{self.translation_dim} x| {stabiliser.name}"

    # ---------------------------------------------------------------- helpers
    def split(self, g: Tensor) -> tuple[Tensor, Tensor]:
        """``g -> (x, h)``: translations ``(*batch, d)`` and stabiliser elements."""
        d = self.translation_dim
        return g[..., :d], self.stabiliser.from_parameters(g[..., d:])

    def join(self, x: Tensor, h: Tensor) -> Tensor:
        """Inverse of :meth:`split`: ``(x, h) -> g`` (dtype of ``x``)."""
        p = self.stabiliser.to_parameters(h, dtype=x.dtype).to(x.device)
        batch = torch.broadcast_shapes(x.shape[:-1], p.shape[:-1])
        return torch.cat([x.expand(*batch, -1), p.expand(*batch, -1)], -1)

    def embed(self, h: Tensor, dtype: torch.dtype | None = None) -> Tensor:
        """The element :math:`(0, h)` of :math:`G` for stabiliser elements ``h``."""
        dtype = dtype or torch.get_default_dtype()
        device = h.device
        batch = h.shape[: h.dim() - len(self.stabiliser.element_shape)]
        x = torch.zeros(*batch, self.translation_dim, dtype=dtype, device=device)
        return self.join(x, h)

    def stabiliser_weights(self, h: Tensor) -> Tensor:
        r"""Haar quadrature weights of the fibre :math:`\{0\} \times H` of
        :math:`dg = dx\,dh / |\det A(h)|`: ``H.haar_weights(h) / |det A(h)|``, ``(N,)``."""
        return _haar_over_det(self.stabiliser, h)

    # ---------------------------------------------------------------- Group API
    @property
    def is_compact(self) -> bool:
        return False

    def validate(self, g: Tensor, name: str = "g") -> Tensor:
        check_element_shape(self, g, name)
        x, h = self.split(g)
        if self.stabiliser.element_dtype == "long" and self.stabiliser.order != 1:
            raw = g[..., self.translation_dim]
            if g.numel() and not bool((raw == raw.round()).all()):
                raise ValueError(f"{name}[..., {self.translation_dim}] must hold integer indices")
        self.stabiliser.validate(h, f"{name} (stabiliser part)")
        if self.lattice and g.numel() and not bool((x == x.round()).all()):
            raise ValueError(f"{name} has non-integer translations, but {self.name} is a lattice")
        return g

    def identity(self, batch_shape=(), device=None, dtype=None) -> Tensor:
        dtype = dtype or torch.get_default_dtype()
        x = torch.zeros(*batch_shape, self.translation_dim, device=device, dtype=dtype)
        return self.join(x, self.stabiliser.identity(batch_shape, device=device))

    def product(self, g: Tensor, h: Tensor) -> Tensor:
        x1, h1 = self.split(g)
        x2, h2 = self.split(h)
        return self.join(x1 + self.stabiliser.act(h1, x2), self.stabiliser.product(h1, h2))

    def inverse(self, g: Tensor) -> Tensor:
        x, h = self.split(g)
        h_inv = self.stabiliser.inverse(h)
        return self.join(-self.stabiliser.act(h_inv, x), h_inv)

    def act(self, g: Tensor, y: Tensor) -> Tensor:
        if y.shape[-1] != self.translation_dim:
            raise ValueError(
                f"y has last dimension {y.shape[-1]}, expected {self.translation_dim} "
                f"for {self.name}"
            )
        x, h = self.split(g)
        return self.stabiliser.act(h, y) + x

    def matrix(self, g: Tensor, dtype: torch.dtype | None = None) -> Tensor:
        """Homogeneous matrices ``(*batch, d+1, d+1)`` = [[A(h), x], [0, 1]]."""
        dtype = dtype or g.dtype
        x, h = self.split(g)
        a = self.stabiliser.matrix(h, dtype=dtype).to(g.device)
        batch = torch.broadcast_shapes(a.shape[:-2], x.shape[:-1])
        d = self.translation_dim
        out = torch.zeros(*batch, d + 1, d + 1, dtype=dtype, device=g.device)
        out[..., :d, :d] = a
        out[..., :d, d] = x.to(dtype)
        out[..., d, d] = 1
        return out

    def det(self, g: Tensor) -> Tensor:
        return self.stabiliser.det(self.split(g)[1])

    def grid(self, n: int | None = None, radius: int = 1) -> Tensor:
        r"""The finite grid :math:`\{-r..r\}^d \times H_\text{grid}`: integer translations in a box
        of ``radius`` times all of a finite :math:`H` (or ``H.grid(n)``).

        Returns:
            ``(( 2r+1)^d \cdot |H_\text{grid}|, d + k)``.
        """
        h = self.stabiliser.grid(n if not self.stabiliser.is_finite else None)
        axis = torch.arange(-radius, radius + 1, dtype=torch.get_default_dtype())
        xs = torch.cartesian_prod(*([axis] * self.translation_dim))
        xs = xs.reshape(-1, self.translation_dim)
        nh = h.shape[0]
        hx = h.repeat(xs.shape[0], *([1] * (h.dim() - 1)))
        xx = xs.repeat_interleave(nh, dim=0)
        return self.join(xx, hx)

    def sample(self, *batch: int, generator=None, device=None, dtype=None, scale: float = 3.0):
        """Translations uniform in ``[-scale, scale]^d`` (integers for lattices) and Haar-random
        stabiliser elements. (Affine groups are not compact: there is no uniform Haar law.)"""
        dtype = dtype or torch.get_default_dtype()
        u = torch.rand(*batch, self.translation_dim, generator=generator, dtype=torch.float64)
        x = (2 * u - 1) * scale
        if self.lattice:
            x = x.round()
        h = self.stabiliser.sample(*batch, generator=generator)
        return self.join(x.to(dtype), h).to(device)

    def haar_weights(self, grid: Tensor) -> Tensor:
        r"""Lebesgue measure on the (unit-spaced) translations times the stabiliser's Haar
        weights, divided by :math:`|\det A(h)|`, for a product grid such as :meth:`grid`'s
        (every translation with the same stabiliser samples).

        A continuous stabiliser's weights are those of its ``N_H`` samples (e.g. :math:`1/N_H`
        on SO(2)); they are computed on the whole grid, whose ``N_t N_H`` points would make
        them :math:`1/(N_t N_H)`, so they are multiplied by the number :math:`N_t` of distinct
        translations."""
        x, h = self.split(grid)
        w = self.stabiliser_weights(h)
        if not self.stabiliser.is_finite and x.shape[0]:
            w = w * torch.unique(x.reshape(x.shape[0], -1), dim=0).shape[0]
        return w

    def features(self, g: Tensor) -> Tensor:
        x, h = self.split(g)
        fh = self.stabiliser.features(h).to(x.dtype)
        return torch.cat([x, fh], -1)

    # ---------------------------------------------------------------- Lie maps
    def exp(self, v: Tensor) -> Tensor:
        r"""Exponential map from coordinates ``(*batch, d + m)`` (translation velocity, then the
        stabiliser's algebra coordinates), through the matrix exponential of
        :math:`\begin{pmatrix} \xi & u \\ 0 & 0 \end{pmatrix}`."""
        if not hasattr(self.stabiliser, "exp"):
            raise NotImplementedError(f"{self.stabiliser.name} has no exponential map")
        d = self.translation_dim
        u, w = v[..., :d], v[..., d:]
        h = self.stabiliser.exp(w)
        xi = self.stabiliser.algebra_matrix(w)
        m = torch.zeros(*v.shape[:-1], d + 1, d + 1, dtype=v.dtype, device=v.device)
        m[..., :d, :d] = xi
        m[..., :d, d] = u
        big = torch.linalg.matrix_exp(m)
        return self.join(big[..., :d, d], h)

    def log(self, g: Tensor) -> Tensor:
        r"""Inverse of :meth:`exp`: solve :math:`x = V(\xi)\,u` with
        :math:`V(\xi) = \sum_k \xi^k/(k+1)!` (read off the matrix exponential)."""
        if not hasattr(self.stabiliser, "log"):
            raise NotImplementedError(f"{self.stabiliser.name} has no logarithm")
        d = self.translation_dim
        x, h = self.split(g)
        w = self.stabiliser.log(h)
        xi = self.stabiliser.algebra_matrix(w)
        m = torch.zeros(*w.shape[:-1], 2 * d, 2 * d, dtype=g.dtype, device=g.device)
        m[..., :d, :d] = xi
        m[..., :d, d:] = torch.eye(d, dtype=g.dtype, device=g.device)
        v_mat = torch.linalg.matrix_exp(m)[..., :d, d:]  # = sum xi^k/(k+1)!
        u = torch.linalg.solve(v_mat, x.unsqueeze(-1)).squeeze(-1)
        return torch.cat([u, w], -1)


def stabiliser_of(group: Group, *, finite: bool = False, dims: tuple[int, ...] | None = None):
    r"""The stabiliser :math:`H` of an affine group :math:`\mathbb{R}^d \rtimes H` (a matrix group
    given alone is its own stabiliser, acting with zero translation).

    Args:
        group: a :class:`SemidirectProduct` or a :class:`~gattn.groups.MatrixGroup`.
        finite: require a finite :math:`H` (layers with a group axis of fixed length).
        dims: accepted translation dimensions :math:`d` (``None``: any).

    Returns:
        :math:`H`.

    Raises:
        TypeError: ``group`` is neither. ValueError: :math:`H` is not finite though
        ``finite=True``, or :math:`d` is not in ``dims``.
    """
    if isinstance(group, SemidirectProduct):
        stab = group.stabiliser
    elif isinstance(group, MatrixGroup):
        stab = group
    else:
        raise TypeError(
            f"group must be an affine group R^d x| H (e.g. gattn.groups.p4()) or a matrix group, "
            f"got {group!r}"
        )
    if dims is not None and stab.action_dim not in dims:
        raise ValueError(
            f"group {group.name} acts on R^{stab.action_dim}; this needs d in {tuple(dims)}"
        )
    if finite and not stab.is_finite:
        raise ValueError(
            f"group {group.name} has the infinite stabiliser {stab.name}; layers with a group "
            f"axis need a finite one — discretise it, e.g. SE2(n=8)"
        )
    return stab


def fibre_weights(group: Group) -> Tensor:
    r"""Haar quadrature weights of the fibre :math:`\{0\} \times H` of :math:`dg = dx\,dh /
    |\det A(h)|`, in ``H.grid()`` order, ``(N,)``: ``H.haar_weights(h) / |det A(h)|`` (the same
    for an affine group and for a matrix group :math:`H` given alone)."""
    stab = stabiliser_of(group)
    return _haar_over_det(stab, stab.grid())


def _haar_over_det(stab: MatrixGroup, h: Tensor) -> Tensor:
    return stab.haar_weights(h) / stab.det(h).abs()

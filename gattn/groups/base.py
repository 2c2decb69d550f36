r"""The abstract :class:`Group` interface that every layer of gattn is written against.

A group element is a batched tensor: a tensor of shape ``(*batch, *element_shape)`` with the
group's ``element_dtype`` kind (``"long"`` for finite groups, whose elements are indices into
``grid()``, ``"float"`` otherwise). Every operation broadcasts over the leading batch
dimensions and runs on whatever device / dtype its inputs live on.

Measure convention for :meth:`Group.haar_weights`: counting measure for finite groups,
the normalised Haar measure (total mass 1) for compact Lie groups, and
:math:`dx\,dh / |\det A(h)|` for affine groups :math:`\mathbb{R}^d \rtimes H`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["Group", "MatrixGroup", "check_element_shape"]


def check_element_shape(group: Group, g: Tensor, name: str = "g") -> None:
    """Raise a clear error if ``g`` is not a batch of elements of ``group``.

    Args:
        group: the group.
        g: candidate elements, expected shape ``(*batch, *group.element_shape)``.
        name: the argument's name, used in the message.

    Raises:
        TypeError: ``g`` is not a tensor, or has the wrong dtype kind.
        ValueError: the trailing dimensions do not match ``group.element_shape``.
    """
    if not isinstance(g, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of {group.name} elements, got {type(g)!r}")
    shape = tuple(group.element_shape)
    if g.dim() < len(shape) or (shape and tuple(g.shape[-len(shape) :]) != shape):
        raise ValueError(
            f"{name} has shape {tuple(g.shape)}, expected (*batch, {', '.join(map(str, shape))})"
            f" for elements of {group.name}"
        )
    if group.element_dtype == "long" and g.dtype != torch.long:
        raise TypeError(f"{name} must be an int64 tensor of {group.name} indices, got {g.dtype}")
    if group.element_dtype == "float" and not g.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor for {group.name}, got {g.dtype}")


class Group(ABC):
    r"""A group :math:`G` with batched product, inverse and action on :math:`\mathbb{R}^n`.

    Subclasses implement :meth:`identity`, :meth:`product`, :meth:`inverse`, :meth:`act`,
    :meth:`grid`, :meth:`sample` and :meth:`haar_weights`; everything else is derived.

    Attributes:
        name: a human-readable name, used in error messages.
        element_shape: trailing shape of one element.
        element_dtype: ``"long"`` (finite groups: indices) or ``"float"``.
        action_dim: ``n`` such that :meth:`act` maps points of :math:`\mathbb{R}^n`.
    """

    name: str = "G"
    element_shape: tuple[int, ...] = ()
    element_dtype: str = "float"
    action_dim: int = 0

    # ---------------------------------------------------------------- properties
    @property
    def is_finite(self) -> bool:
        """Whether the group has finitely many elements (``grid()`` lists them all). Default:
        groups whose elements are integer indices (``element_dtype == "long"``) are finite."""
        return self.element_dtype == "long"

    @property
    def is_compact(self) -> bool:
        """Whether the group is compact (so :meth:`sample` is Haar-uniform)."""
        return self.is_finite

    @property
    def order(self) -> int | None:
        """``|G|`` for finite groups (the length of ``grid()``), ``None`` otherwise."""
        return int(self.grid().shape[0]) if self.is_finite else None

    # ---------------------------------------------------------------- core maths
    @abstractmethod
    def identity(
        self,
        batch_shape: Sequence[int] = (),
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> Tensor:
        """The identity element :math:`e`, repeated to ``(*batch_shape, *element_shape)``."""

    @abstractmethod
    def product(self, g: Tensor, h: Tensor) -> Tensor:
        """The group product :math:`gh`, broadcast over batch dimensions."""

    @abstractmethod
    def inverse(self, g: Tensor) -> Tensor:
        r"""The inverse :math:`g^{-1}`."""

    @abstractmethod
    def act(self, g: Tensor, x: Tensor) -> Tensor:
        r"""The action :math:`g \cdot x` on points ``x: (*batch, action_dim)``."""

    @abstractmethod
    def grid(self, n: int | None = None) -> Tensor:
        """All elements of a finite group (``n`` ignored or checked), or ``n`` samples of a
        deterministic quadrature grid otherwise. Returns ``(N, *element_shape)``."""

    @abstractmethod
    def sample(
        self,
        *batch: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> Tensor:
        """Random elements ``(*batch, *element_shape)``; Haar-uniform for compact groups."""

    @abstractmethod
    def haar_weights(self, grid: Tensor) -> Tensor:
        """Quadrature weights ``(N,)`` of the Haar measure at the points of ``grid``."""

    # ---------------------------------------------------------------- derived
    def relative(self, g: Tensor, h: Tensor) -> Tensor:
        r"""The relative element :math:`g^{-1} h`, invariant under
        :math:`(g, h) \mapsto (kg, kh)`."""
        return self.product(self.inverse(g), h)

    def equal(self, g: Tensor, h: Tensor, atol: float = 1e-6) -> Tensor:
        """Elementwise test ``g == h`` (up to ``atol`` for continuous groups): ``(*batch,)``."""
        if self.element_dtype == "long":
            out = g == h
        else:
            out = (self.features(g) - self.features(h)).abs() <= atol
            out = out.reshape(*out.shape[: out.dim() - 1], -1)
            return out.all(-1)
        for _ in self.element_shape:
            out = out.all(-1)
        return out

    def features(self, g: Tensor) -> Tensor:
        """A smooth, injective embedding ``(*batch, F)`` of elements into Euclidean space,
        suitable as input to an MLP (never raw angles)."""
        raise NotImplementedError(f"{self.name} defines no feature embedding")

    def validate(self, g: Tensor, name: str = "g") -> Tensor:
        """Check that ``g`` is a batch of valid elements and return it; raise otherwise."""
        check_element_shape(self, g, name)
        return g

    def __repr__(self) -> str:
        return self.name


class MatrixGroup(Group):
    r"""A group given with a faithful-enough linear representation :math:`A: G \to GL(n)`.

    The action on :math:`\mathbb{R}^n` is :math:`g \cdot x = A(g) x`. Stabilisers :math:`H`
    of affine groups :math:`\mathbb{R}^n \rtimes H` are matrix groups.
    """

    @abstractmethod
    def matrix(self, g: Tensor, dtype: torch.dtype | None = None) -> Tensor:
        """The representing matrices :math:`A(g)`: ``(*batch, n, n)``."""

    @property
    def parameter_dim(self) -> int:
        """Number of float coordinates used to store one element inside an affine group
        (0 for the trivial group, whose only element needs none)."""
        if self.is_finite and self.order == 1:
            return 0
        return max(1, int(torch.Size(self.element_shape).numel()))

    def to_parameters(self, g: Tensor, dtype: torch.dtype = torch.float64) -> Tensor:
        """Encode elements as floats ``(*batch, parameter_dim)`` (inverse of
        :meth:`from_parameters`)."""
        batch = tuple(g.shape[: g.dim() - len(self.element_shape)])
        if self.parameter_dim == 0:
            return torch.zeros(*batch, 0, dtype=dtype, device=g.device)
        return g.reshape(batch + (-1,))[..., : self.parameter_dim].to(dtype)

    def from_parameters(self, p: Tensor) -> Tensor:
        """Decode the float coordinates written by :meth:`to_parameters` (rounded back to
        int64 indices for groups whose elements are indices)."""
        if self.parameter_dim == 0:
            return self.identity(tuple(p.shape[:-1]), device=p.device)
        g = p.reshape(tuple(p.shape[:-1]) + tuple(self.element_shape))
        return g.round().long() if self.element_dtype == "long" else g

    def det(self, g: Tensor) -> Tensor:
        r""":math:`\det A(g)`: ``(*batch,)``."""
        return torch.linalg.det(self.matrix(g, dtype=torch.float64))

    def act(self, g: Tensor, x: Tensor) -> Tensor:
        a = self.matrix(g, dtype=x.dtype).to(x.device)
        if x.shape[-1] != self.action_dim:
            raise ValueError(
                f"x has last dimension {x.shape[-1]}, expected {self.action_dim} for {self.name}"
            )
        return (a @ x.unsqueeze(-1)).squeeze(-1)

    def features(self, g: Tensor) -> Tensor:
        """The entries of :math:`A(g)`, flattened: smooth and injective for faithful A."""
        m = self.matrix(g, dtype=torch.float64 if not g.is_floating_point() else g.dtype)
        return m.flatten(-2)

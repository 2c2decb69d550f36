r"""Layouts: what a tensor *is*, and how a group element acts on it.

A layer declares the layouts it takes and gives (``module.in_layout``, ``module.out_layout``), as
e3nn modules declare their irreps; the testing tools (``assert_equivariant``,
``equivariance_error``, ``check_theorem1``) and the size analysis read these declarations
instead of guessing from a tensor's rank (docs/maths.md, "Layouts").

=====================  ==========================================  =============================
layout                 tensor                                      action of :math:`g = (t, h)`
=====================  ==========================================  =============================
:class:`Invariant`     anything, e.g. logits ``(B, F)``            none
:class:`Image`         ``(B, C, *spatial)``, d spatial axes        :math:`f(A(h)^{-1}(y - t))`
:class:`GroupSignal`   ``(B, C, |H|, *spatial)``                   also :math:`h` on the group axis
:class:`PairSignal`    ``(B, C, |H|, C_in, |H_in|, *spatial)``     both group axes permuted
=====================  ==========================================  =============================

"Image" is the d-dimensional spatial signal: a 1-D signal ``(B, C, X)`` for d = 1, an image
for d = 2, a volume ``(B, C, Z, Y, X)`` for d = 3. Pair signals are the inputs and outputs of
pair attention :math:`\alpha(g, \tilde g)` (``|H_in| = 1`` for a lifting layer); their
spatial axes may have size 1 (attention constant in space).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor

from .affine import SemidirectProduct
from .base import Group
from .quadrature import sample_permutation
from .signals import group_axis_source, transform_image, transform_signal
from .tables import finite_tables

__all__ = [
    "Layout",
    "Invariant",
    "Image",
    "GroupSignal",
    "PairSignal",
    "module_layouts",
]


def _check_dims(dims: object) -> None:
    if dims not in (1, 2, 3) or isinstance(dims, bool):
        raise ValueError(f"dims must be 1, 2 or 3 (spatial dimensions), got dims={dims!r}")


def _check_samples_object(samples: object) -> None:
    if samples is not None and not isinstance(samples, Tensor):
        if not isinstance(getattr(samples, "elements", None), Tensor):
            raise TypeError(
                "samples must be a tensor of H elements or an object with an `elements` tensor "
                f"(gattn.nn.HSamples), got {type(samples).__name__}"
            )


def _sample_elements(stabiliser: Group, samples: object) -> Tensor:
    if samples is None:
        return finite_tables(stabiliser).elements
    return samples if isinstance(samples, Tensor) else samples.elements  # type: ignore[attr-defined]


def _axis_source(stabiliser: Group, samples: object, group: Group, g: Tensor) -> Tensor:
    """The permutation of a group axis under ``g`` (see ``group_axis_source``), for all of a
    finite H or for samples that ``g`` maps onto themselves."""
    if samples is None:
        return group_axis_source(group, g)
    h = group.split(g)[1] if isinstance(group, SemidirectProduct) else g
    elements = _sample_elements(stabiliser, samples)
    src = sample_permutation(group, elements, h)
    if src is None:
        raise ValueError(
            f"the element does not map the {elements.shape[0]} samples of {stabiliser.name} "
            "onto themselves, so it cannot act on this signal; measure equivariance with "
            "translated samples (gattn.testing.equivariance_error, docs/continuous.md)"
        )
    return src


def _shape(x: object) -> tuple:
    return tuple(getattr(x, "shape", ()))


class Layout(ABC):
    """What a tensor is: its axes and how :math:`L_g` acts on it."""

    #: number of spatial axes (0 for invariants)
    dims: int = 0

    @abstractmethod
    def check(self, x: Tensor, name: str = "x") -> None:
        """Raise a ``ValueError`` naming ``name`` if ``x`` does not have this layout."""

    @abstractmethod
    def act(self, group: Group, g: Tensor, x: Tensor, mode: str = "auto") -> Tensor:
        """:math:`L_g x` for one element ``g`` of ``group`` (see the module docstring)."""

    def _require_tensor(self, x: object, name: str) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor ({self}), got {type(x).__name__}")


@dataclass(frozen=True)
class Invariant(Layout):
    """A tensor the group does not act on (logits, pooled features)."""

    def check(self, x: Tensor, name: str = "x") -> None:
        self._require_tensor(x, name)

    def act(self, group: Group, g: Tensor, x: Tensor, mode: str = "auto") -> Tensor:
        return x

    def __str__(self) -> str:
        return "invariant"


@dataclass(frozen=True)
class Image(Layout):
    """A spatial signal ``(B, C, *spatial)`` with ``dims`` spatial axes.

    Args:
        dims: 1 (signals ``(B, C, X)``), 2 (images) or 3 (volumes ``(B, C, Z, Y, X)``).
        channels: the channel count ``C`` (``None``: any).
    """

    dims: int = 2
    channels: int | None = None

    def __post_init__(self) -> None:
        _check_dims(self.dims)

    def check(self, x: Tensor, name: str = "x") -> None:
        self._require_tensor(x, name)
        if x.dim() != self.dims + 2:
            raise ValueError(
                f"{name} must be {self} (B, C, {_spatial_names(self.dims)}), got shape {_shape(x)}"
            )
        if self.channels is not None and x.shape[1] != self.channels:
            raise ValueError(f"{name} has {x.shape[1]} channels, expected {self.channels}")

    def act(self, group: Group, g: Tensor, x: Tensor, mode: str = "auto") -> Tensor:
        self.check(x)
        return transform_image(group, g, x, mode)

    def __str__(self) -> str:
        return {1: "a 1-D signal", 2: "an image", 3: "a volume"}[self.dims]


@dataclass(frozen=True, eq=False)
class GroupSignal(Layout):
    """A signal on :math:`\\mathbb{R}^d \\rtimes H`: ``(B, C, N, *spatial)``, its values at
    ``N`` samples of :math:`H` — every element in ``H.grid()`` order for a finite :math:`H`
    (``samples=None``), or the samples of a quadrature (docs/continuous.md).

    Args:
        stabiliser: :math:`H`.
        dims: spatial dimensions d.
        channels: ``C`` (``None``: any).
        samples: the samples: an object with an ``elements`` tensor ``(N, *element_shape)``
            (a :class:`gattn.nn.HSamples`, read at every use, so Monte-Carlo redraws are seen),
            or such a tensor; ``None`` for all of a finite :math:`H`.
    """

    stabiliser: Group
    dims: int = 2
    channels: int | None = None
    samples: object = None

    def __post_init__(self) -> None:
        _check_dims(self.dims)
        if self.samples is None:
            finite_tables(self.stabiliser)  # refuses infinite groups with a clear message
        _check_samples_object(self.samples)

    @property
    def elements(self) -> Tensor:
        """The ``N`` samples of :math:`H` the group axis holds."""
        return _sample_elements(self.stabiliser, self.samples)

    @property
    def order(self) -> int:
        """``N`` (:math:`|H|` for all of a finite :math:`H`)."""
        if self.samples is None:
            return finite_tables(self.stabiliser).order
        return int(self.elements.shape[0])

    def check(self, x: Tensor, name: str = "x") -> None:
        self._require_tensor(x, name)
        if x.dim() != self.dims + 3 or x.shape[2] != self.order:
            what = "|H|" if self.samples is None else "N (H samples)"
            raise ValueError(
                f"{name} must be a group signal (B, C, {what}={self.order}, "
                f"{_spatial_names(self.dims)}) over {self.stabiliser.name}, got shape {_shape(x)}"
            )
        if self.channels is not None and x.shape[1] != self.channels:
            raise ValueError(f"{name} has {x.shape[1]} channels, expected {self.channels}")

    def act(self, group: Group, g: Tensor, x: Tensor, mode: str = "auto") -> Tensor:
        r""":math:`[L_g f](y, h_j) = f(A(h)^{-1}(y - t), h^{-1} h_j)`; for samples of a
        continuous :math:`H` only when :math:`h` maps the samples onto themselves.

        Raises:
            ValueError: :math:`h^{-1} h_j` is not a sample for some ``j`` (then :math:`L_g f`
                is not defined on the samples; ``gattn.testing.equivariance_error`` compares
                with the samples translated instead, docs/continuous.md).
        """
        self.check(x)
        if self.samples is None:
            return transform_signal(group, g, x, mode)
        src = _axis_source(self.stabiliser, self.samples, group, g)
        b, c, n = x.shape[:3]
        spatial = transform_image(group, g, x.reshape(b, c * n, *x.shape[3:]), mode)
        spatial = spatial.reshape(b, c, n, *spatial.shape[2:])
        return spatial.index_select(2, src.to(x.device))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, GroupSignal)
            and other.stabiliser is self.stabiliser
            and (other.dims, other.channels) == (self.dims, self.channels)
            and other.samples is self.samples
        )

    def __hash__(self) -> int:
        return hash((id(self.stabiliser), self.dims, self.channels, id(self.samples)))

    def __str__(self) -> str:
        extra = "" if self.samples is None else f", {self.order} samples"
        return f"a group signal over {self.stabiliser.name} (d={self.dims}{extra})"


@dataclass(frozen=True, eq=False)
class PairSignal(Layout):
    """Functions of (output element, input group element):
    ``(B, C_out, |H|, C_in, |H_in|, *spatial)`` — the partial responses and the pair
    attention :math:`\\alpha(x, h, \\tilde h)` of docs/attention.md.

    Args:
        stabiliser: :math:`H`.
        dims: spatial dimensions d.
        lifting: the input is a spatial signal (``|H_in| = 1``, axis 4 not permuted).
        samples: the samples of :math:`H` on both group axes (as :class:`GroupSignal`);
            ``None``: all of a finite :math:`H`.
    """

    stabiliser: Group
    dims: int = 2
    lifting: bool = False
    samples: object = None

    def __post_init__(self) -> None:
        _check_dims(self.dims)
        if self.samples is None:
            finite_tables(self.stabiliser)
        _check_samples_object(self.samples)

    @property
    def order(self) -> int:
        """``N``: :math:`|H|` or the number of samples."""
        return int(_sample_elements(self.stabiliser, self.samples).shape[0])

    def check(self, x: Tensor, name: str = "x") -> None:
        self._require_tensor(x, name)
        n = self.order
        n_in = 1 if self.lifting else n
        if x.dim() != self.dims + 5 or x.shape[2] != n or x.shape[4] != n_in:
            raise ValueError(
                f"{name} must be a pair signal (B, C_out, |H|={n}, C_in, |H_in|={n_in}, "
                f"{_spatial_names(self.dims)}) over {self.stabiliser.name}, got shape {_shape(x)}"
            )

    def act(self, group: Group, g: Tensor, x: Tensor, mode: str = "auto") -> Tensor:
        self.check(x)
        b, c, n, ci, ni = x.shape[:5]
        spatial = x.shape[5:]
        src = _axis_source(self.stabiliser, self.samples, group, g).to(x.device)
        out = transform_image(group, g, x.reshape(b, c * n * ci * ni, *spatial), mode)
        out = out.reshape(b, c, n, ci, ni, *out.shape[2:]).index_select(2, src)
        if not self.lifting:
            out = out.index_select(4, src)
        return out

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, PairSignal)
            and other.stabiliser is self.stabiliser
            and (other.dims, other.lifting) == (self.dims, self.lifting)
            and other.samples is self.samples
        )

    def __hash__(self) -> int:
        return hash((id(self.stabiliser), self.dims, self.lifting, id(self.samples)))

    def __str__(self) -> str:
        kind = "lifting " if self.lifting else ""
        return f"a {kind}pair signal over {self.stabiliser.name} (d={self.dims})"


def _spatial_names(d: int) -> str:
    return {1: "X", 2: "Y, X", 3: "Z, Y, X"}[d]


def module_layouts(module: object) -> tuple[Layout, Layout] | None:
    """The ``(in_layout, out_layout)`` a module declares, or ``None``.

    A module declares them as attributes ``in_layout`` / ``out_layout``; a container that does
    not (e.g. ``torch.nn.Sequential``) takes the input layout of its first declaring child and
    the output layout of its last.
    """
    lin, lout = getattr(module, "in_layout", None), getattr(module, "out_layout", None)
    if isinstance(lin, Layout) and isinstance(lout, Layout):
        return lin, lout
    children = list(module.children()) if hasattr(module, "children") else []
    if not children or not isinstance(module, torch.nn.Sequential):
        return None
    first = next((m for m in map(module_layouts, children) if m is not None), None)
    last = next((m for m in map(module_layouts, reversed(children)) if m is not None), None)
    if first is None or last is None:
        return None
    return first[0], last[1]

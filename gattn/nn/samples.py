r"""The :math:`H` samples a network's group signals live on (docs/continuous.md).

A group signal on :math:`\mathbb{R}^d \rtimes H` is stored as ``(B, C, N, *spatial)``: its
values at ``N`` samples :math:`h_1, \dots, h_N` of :math:`H`. For a finite :math:`H` these are
all its elements; for a continuous one a quadrature (a grid, or Monte-Carlo samples). Every
layer of a network must agree on them, so they live in one module, :class:`HSamples`, that the
layers share (``samples=`` argument); :func:`resample` redraws the Monte-Carlo samples of every
:class:`HSamples` in a model (the zoo models call it at the start of each training forward).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from ..groups import Group, haar_quadrature, stabiliser_of, translate_samples

__all__ = ["HSamples", "resample", "as_samples", "optional_samples"]


class HSamples(nn.Module):
    r"""The samples :math:`\{h_j\}` of :math:`H` and their weights
    :math:`w_j = \mu_j / |\det A(h_j)|` (Haar measure of the fibre, docs/continuous.md).

    Args:
        group: :math:`G = \mathbb{R}^d \rtimes H` or :math:`H`.
        n: number of samples (``None`` for a finite :math:`H`: all its elements).
        samples: explicit elements ``(N, *element_shape)`` instead of ``n``.
        monte_carlo: redraw i.i.d. ``H.sample(n)`` at every :meth:`resample` in training mode;
            in eval mode the fixed grid ``H.grid(n)`` is used.
        seed: seed of the Monte-Carlo generator (``None``: torch's global generator).

    Attributes:
        elements: ``(N, *element_shape)`` buffer (float64, or int64 for a finite :math:`H`).
        weights: ``(N,)`` float64 buffer.
        stabiliser: :math:`H`. order: ``N``.

    Raises:
        ValueError: a continuous :math:`H` without ``n`` or ``samples``; samples that are not
            elements; non-finite Haar weights; ``monte_carlo`` with explicit ``samples``.
    """

    def __init__(
        self,
        group: Group,
        n: int | None = None,
        samples: Tensor | None = None,
        monte_carlo: bool = False,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(monte_carlo, bool):
            raise TypeError(f"monte_carlo must be a bool, got {monte_carlo!r}")
        self.stabiliser = stabiliser_of(group)
        if monte_carlo and (samples is not None or self.stabiliser.is_finite):
            raise ValueError(
                "monte_carlo=True draws samples of a continuous H; it takes n, not samples, "
                f"and not a finite group (got {self.stabiliser.name})"
            )
        elements, weights = haar_quadrature(self.stabiliser, n, samples=samples)
        self.register_buffer("elements", elements, persistent=False)
        self.register_buffer("weights", weights, persistent=False)
        if monte_carlo:  # the fixed grid that eval mode goes back to
            self.register_buffer("grid_elements", elements.clone(), persistent=False)
            self.register_buffer("grid_weights", weights.clone(), persistent=False)
        self.monte_carlo = monte_carlo
        self.n = int(elements.shape[0])
        self._generator = None if seed is None else torch.Generator().manual_seed(seed)

    @property
    def order(self) -> int:
        """``N``, the length of the group axis."""
        return self.n

    @property
    def haar_measure(self) -> Tensor:
        r""":math:`\mu_j = w_j\,|\det A(h_j)|`: the Haar weights of :math:`H` itself at the
        samples (the measure of an integral over :math:`H` alone), ``(N,)`` float64."""
        det = self.stabiliser.det(self.elements).abs().to(torch.float64)
        return self.weights.to(torch.float64) * det.to(self.weights.device)

    @property
    def is_exact(self) -> bool:
        """Whether the samples are all of a finite :math:`H` (the quadrature is exact)."""
        return bool(self.stabiliser.is_finite)

    def resample(self) -> None:
        """Redraw the Monte-Carlo samples (training mode); restore the grid in eval mode."""
        if not self.monte_carlo:
            return
        if self.training:
            el, w = haar_quadrature(
                self.stabiliser, self.n, kind="random", generator=self._generator
            )
        else:
            el, w = self.grid_elements, self.grid_weights
        self.elements = el.to(self.elements.device)
        self.weights = w.to(self.weights.device)

    def set_samples(self, samples: Tensor) -> None:
        """Replace the samples (same ``N``), e.g. by a rotated grid; weights recomputed."""
        el, w = haar_quadrature(self.stabiliser, samples=samples)
        if el.shape[0] != self.n:
            raise ValueError(f"samples must hold N={self.n} elements, got {el.shape[0]}")
        self.elements = el.to(self.elements.device)
        self.weights = w.to(self.weights.device)

    @contextlib.contextmanager
    def translated(self, h: Tensor) -> Iterator[HSamples]:
        r"""Temporarily use the left-translated samples :math:`\{h h_j\}` (the measuring tools
        compare :math:`\Phi(L_g f)` with :math:`L_g` of :math:`\Phi(f)` computed on the
        samples :math:`h_g^{-1} h_j`, docs/continuous.md)."""
        old = (self.elements, self.weights)
        self.set_samples(translate_samples(self.stabiliser, self.elements, h))
        try:
            yield self
        finally:
            self.elements, self.weights = old

    def extra_repr(self) -> str:
        kind = "Monte Carlo" if self.monte_carlo else ("all" if self.is_exact else "grid")
        return f"{self.stabiliser.name}, N={self.n} ({kind})"


def as_samples(group: Group, samples: HSamples | int | Tensor | None) -> HSamples:
    """An :class:`HSamples` from a layer's ``samples=`` argument: a shared module as is, an int
    (a grid of that many samples), a tensor of elements, or ``None`` (finite :math:`H`: all)."""
    if isinstance(samples, HSamples):
        stab = stabiliser_of(group)
        if samples.stabiliser is not stab and samples.stabiliser != stab:
            raise ValueError(
                f"samples are of {samples.stabiliser.name}, but the layer's group has the "
                f"stabiliser {stab.name}"
            )
        return samples
    if isinstance(samples, Tensor):
        return HSamples(group, samples=samples)
    if samples is not None and (not isinstance(samples, int) or isinstance(samples, bool)):
        raise TypeError(
            "samples must be an HSamples module, a number of samples, a tensor of H elements "
            f"or None, got {type(samples).__name__}"
        )
    return HSamples(group, n=samples)


def optional_samples(group: Group, samples: HSamples | int | Tensor | None, what: str):
    """A layer's ``samples=`` when ``None`` means "all of a finite :math:`H`": ``None`` stays
    ``None`` (refused, with a clear message, for a continuous :math:`H`), anything else goes
    through :func:`as_samples`.

    Raises:
        ValueError: ``samples=None`` for a continuous :math:`H` (the message names ``what``).
    """
    if samples is not None:
        return as_samples(group, samples)
    stab = stabiliser_of(group)
    if not stab.is_finite:
        raise ValueError(
            f"{what}: group {group.name} has the infinite stabiliser {stab.name}; give the H "
            f"samples its group axis lives on (samples= an HSamples shared with the network, a "
            f"number of samples or a tensor of elements; docs/continuous.md), or discretise "
            f"it, e.g. SE2(n=8)"
        )
    return None


def resample(model: nn.Module) -> None:
    """Call :meth:`HSamples.resample` once on every distinct :class:`HSamples` in ``model``."""
    seen: set[int] = set()
    for m in model.modules():
        if isinstance(m, HSamples) and id(m) not in seen:
            seen.add(id(m))
            m.resample()

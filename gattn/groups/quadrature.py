r"""Quadratures of a stabiliser :math:`H`: the samples a group signal lives on, and their Haar
weights (docs/continuous.md).

A layer on :math:`G = \mathbb{R}^d \rtimes H` integrates over :math:`H`; it replaces the
integral by a quadrature

.. math:: \int_H F(\tilde h)\, \frac{d\tilde h}{|\det A(\tilde h)|}
          \approx \sum_j w_j F(h_j), \qquad w_j = \frac{\mu_j}{|\det A(h_j)|},

where :math:`\mu_j` are the group's own Haar weights (``H.haar_weights``). For a finite
:math:`H` the samples are every element (``H.grid()``) and the quadrature is exact; for a
continuous one they are a deterministic grid (``H.grid(n)``) or Monte-Carlo samples
(``H.sample(n)``). Everything here uses only the :class:`~gattn.groups.Group` interface.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .affine import stabiliser_of
from .base import Group, MatrixGroup, check_element_shape
from .validation import check_choice, check_int

__all__ = [
    "QUADRATURE_KINDS",
    "haar_quadrature",
    "check_samples",
    "check_quadrature_weights",
    "translate_samples",
    "sample_permutation",
    "relative_samples",
    "relative_sample_features",
]

#: ``"grid"``: the deterministic ``H.grid(n)``; ``"random"``: i.i.d. ``H.sample(n)``.
QUADRATURE_KINDS = ("grid", "random")


def check_samples(stabiliser: Group, samples: object, name: str = "samples") -> Tensor:
    r"""Check that ``samples`` is a non-empty batch ``(N, *element_shape)`` of valid, finite
    elements of :math:`H` and return it.

    Raises:
        TypeError: not a tensor, or of the wrong dtype kind.
        ValueError: empty, the wrong shape, non-finite values, or not elements of :math:`H`
            (``H.validate``; for a matrix group also non-finite matrices).
    """
    if not isinstance(samples, Tensor):
        raise TypeError(
            f"{name} must be a tensor (N, *element_shape) of {stabiliser.name} elements, "
            f"got {type(samples).__name__}"
        )
    check_element_shape(stabiliser, samples, name)
    if samples.dim() != 1 + len(stabiliser.element_shape):
        raise ValueError(
            f"{name} must be one batch axis of {stabiliser.name} elements, shape (N, "
            f"{', '.join(map(str, stabiliser.element_shape))}), got {tuple(samples.shape)}"
        )
    if samples.shape[0] == 0:
        raise ValueError(f"{name} is empty: a quadrature over {stabiliser.name} needs samples")
    if samples.is_floating_point() and not bool(torch.isfinite(samples).all()):
        raise ValueError(f"{name} holds non-finite values; they are not elements of {stabiliser}")
    try:
        stabiliser.validate(samples, name)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} are not elements of {stabiliser.name}: {err}") from None
    if isinstance(stabiliser, MatrixGroup):
        m = stabiliser.matrix(samples, dtype=torch.float64)
        if not bool(torch.isfinite(m).all()):
            raise ValueError(f"{name}: some samples have non-finite matrices A(h)")
    return samples


def check_quadrature_weights(weights: Tensor, n: int, name: str = "weights") -> Tensor:
    """Check quadrature weights: a ``(n,)`` tensor of finite, positive numbers.

    Raises:
        ValueError: wrong shape, a non-finite or non-positive weight.
    """
    if not isinstance(weights, Tensor) or tuple(weights.shape) != (n,):
        shape = tuple(weights.shape) if isinstance(weights, Tensor) else type(weights).__name__
        raise ValueError(f"{name} must have shape ({n},) (one per sample), got {shape}")
    if not bool(torch.isfinite(weights).all()):
        raise ValueError(f"{name} holds non-finite Haar weights: {weights.tolist()[:8]}")
    if not bool((weights > 0).all()):
        raise ValueError(f"{name} must be positive Haar weights, got {weights.tolist()[:8]}")
    return weights


def _weights(stab: Group, samples: Tensor) -> Tensor:
    mu = torch.as_tensor(stab.haar_weights(samples), dtype=torch.float64).reshape(-1)
    if isinstance(stab, MatrixGroup):
        det = stab.det(samples).abs().to(torch.float64).reshape(-1)
        mu = mu / det
    return check_quadrature_weights(mu, samples.shape[0], f"{stab.name}.haar_weights / |det A|")


def _grid_float64(stab: Group, n: int) -> Tensor:
    """``stab.grid(n)`` computed in float64: grids are built in the default dtype, and float32
    samples (e.g. multiples of pi/4 to 3e-8) are not mapped onto themselves by the exact
    rotations, so no element could be tested exactly (docs/continuous.md)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return stab.grid(n)
    finally:
        torch.set_default_dtype(previous)


def haar_quadrature(
    group: Group,
    n: int | None = None,
    *,
    kind: str = "grid",
    samples: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    r"""Samples of :math:`H` and their weights :math:`w_j = \mu_j / |\det A(h_j)|`.

    Args:
        group: :math:`G = \mathbb{R}^d \rtimes H`, or :math:`H` itself.
        n: number of samples; for a finite :math:`H`, ``None`` or ``|H|`` (every element).
        kind: ``"grid"`` (``H.grid(n)``, deterministic) or ``"random"`` (``H.sample(n)``).
        samples: explicit elements ``(N, *element_shape)`` instead of ``n`` / ``kind``.
        generator: random generator for ``kind="random"``.

    Returns:
        ``(samples, weights)``: ``(N, *element_shape)`` (float64 for continuous groups,
        int64 indices for finite ones) and ``(N,)`` float64.

    Raises:
        ValueError: a continuous :math:`H` with neither ``n`` nor ``samples``; ``n`` not a
            positive integer (or not ``|H|`` for a finite :math:`H`); samples that are not
            elements; non-finite or non-positive Haar weights.
    """
    stab = stabiliser_of(group)
    if samples is not None:
        if n is not None:
            raise ValueError(f"give either n or samples, not both (got n={n!r} and samples)")
        s = check_samples(stab, samples)
        if s.is_floating_point():
            s = s.to(torch.float64)
        return s, _weights(stab, s)
    check_choice("kind", kind, QUADRATURE_KINDS)
    if stab.is_finite:
        order = int(stab.grid().shape[0])
        if n is not None and check_int("n", n, 1) != order:
            raise ValueError(
                f"{stab.name} is finite with {order} elements; n must be None or {order}, "
                f"got n={n!r}"
            )
        s = stab.grid()
        return s, _weights(stab, s)
    if n is None:
        raise ValueError(
            f"{stab.name} is continuous: give the number of H samples (samples=8, ...) or the "
            f"samples themselves; a layer cannot integrate over it otherwise"
        )
    check_int("n", n, 1)
    if kind == "grid":
        s = _grid_float64(stab, n)
    else:
        s = stab.sample(n, generator=generator, dtype=torch.float64)
    s = check_samples(stab, torch.as_tensor(s).to(torch.float64), f"{stab.name}.{kind}({n})")
    return s, _weights(stab, s)


def translate_samples(group: Group, samples: Tensor, h: Tensor) -> Tensor:
    r"""The left-translated samples :math:`\{h h_j\}_j` (``h`` one element of :math:`H`)."""
    stab = stabiliser_of(group)
    return stab.product(h.to(samples.dtype).expand_as(samples), samples)


def sample_permutation(group: Group, samples: Tensor, h: Tensor, atol: float = 1e-8):
    r"""How :math:`h` permutes the samples, if it does: the ``(N,)`` int64 index ``src`` with
    :math:`h_{\mathrm{src}[j]} = h^{-1} h_j` (so ``out[..., j] = in[..., src[j]]`` is
    :math:`[L_h F](h_j) = F(h^{-1} h_j)`), or ``None`` when some :math:`h^{-1} h_j` is not a
    sample (matched by the distance of ``features``, up to ``atol``)."""
    stab = stabiliser_of(group)
    if stab.is_finite and not samples.is_floating_point():
        moved = stab.product(stab.inverse(h).expand_as(samples), samples)
        eq = stab.equal(moved[:, None], samples[None, :])
    else:
        moved = stab.product(stab.inverse(h.to(samples.dtype)).expand_as(samples), samples)
        fa = stab.features(moved).reshape(samples.shape[0], -1).to(torch.float64)
        fb = stab.features(samples).reshape(samples.shape[0], -1).to(torch.float64)
        eq = torch.cdist(fa, fb) <= atol
    found = eq.any(1)
    if not bool(found.all()):
        return None
    return eq.to(torch.int8).argmax(1)


def relative_samples(group: Group, samples: Tensor, other: Tensor | None = None) -> Tensor:
    r"""Every relative element :math:`h_i^{-1} 	ilde h_j` of two batches of samples of
    :math:`H` (``other=None``: of ``samples`` with itself): ``(N, M, *element_shape)``."""
    stab = stabiliser_of(group)
    other = samples if other is None else other
    n, m = samples.shape[0], other.shape[0]
    return stab.product(
        stab.inverse(samples)[:, None].expand(n, m, *samples.shape[1:]),
        other[None, :].expand(n, m, *other.shape[1:]),
    )


def relative_sample_features(group: Group, samples: Tensor, other: Tensor | None = None) -> Tensor:
    r""":math:`\mathrm{features}(h_i^{-1} \tilde h_j)` (:func:`relative_samples`), the smooth
    input of the fields that replace a finite :math:`H`'s relative table: ``(N, M, F)``
    float64."""
    stab = stabiliser_of(group)
    rel = relative_samples(stab, samples, other)
    return stab.features(rel).reshape(rel.shape[0], rel.shape[1], -1).to(torch.float64)

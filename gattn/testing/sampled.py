r"""Equivariance of networks on sampled stabilisers :math:`H` (docs/continuous.md).

A network :math:`\Phi_Q` built of layers with ``samples=`` stores its group signals at the
samples :math:`Q = \{h_j\}` of :math:`H` shared by its :class:`~gattn.nn.HSamples` modules. For
an element :math:`g = (t, h_g)`:

* if :math:`h_g` maps every sample set onto itself (:func:`~gattn.groups.sample_permutation`)
  and :math:`g` maps the pixel lattice onto itself (:func:`~gattn.groups.is_grid_exact`),
  :math:`L_g` permutes pixels and samples and :math:`\Phi_Q(L_g f) = L_g \Phi_Q(f)` holds
  exactly (up to rounding): the element is **exact**;
* otherwise :math:`L_g` of a signal on :math:`Q` is undefined. By the left-invariance of the
  Haar measure, in the spatial continuum

  .. math:: \Phi_Q(L_g f)(x, h_i) = \Phi_{h_g^{-1}Q}(f)(g^{-1}x,\ h_g^{-1} h_i),

  where :math:`\Phi_{h_g^{-1}Q}` uses the left-translated samples :math:`\{h_g^{-1} h_j\}` in
  every layer. The **"translated samples"** reference runs the model with every
  :class:`~gattn.nn.HSamples` translated by :math:`h_g^{-1}` and then applies only the *spatial*
  part of :math:`g` to its output (index :math:`i` of that run sits at :math:`h_g^{-1} h_i`,
  which :math:`L_g` moves to :math:`h_i`); the left side is :math:`\Phi_Q` of the spatially
  transformed input (for a group-signal input, read as values on :math:`h_g^{-1}Q`). What
  remains is the spatial discretisation error (interpolation on the pixel lattice) alone.
* the **"fixed samples"** reference compares :math:`\Phi_Q(L_g f)` with :math:`L_g \Phi_Q(f)`
  with the samples left alone. It is defined for outputs without a group axis (pooled over
  :math:`H`) and for elements that permute the samples (e.g. 45° on 8 samples of SO(2)); for
  an element that does not, the error also contains the :math:`H`-quadrature error and depends
  on the number of samples ``N``.

Non-exact elements are measured on the disc-masked input (:func:`~gattn.groups.disc_mask`)
and compared inside the disc; use a smooth input (the error reported is for the input given).
The helpers here are shared by :func:`~gattn.testing.assert_equivariant`,
:func:`~gattn.testing.check_theorem1` and :func:`~gattn.analysis.equivariance_error`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..groups import (
    GroupSignal,
    Image,
    Layout,
    PairSignal,
    SemidirectProduct,
    is_grid_exact,
    sample_permutation,
    stabiliser_of,
    transform_image,
)

__all__ = [
    "EXACT",
    "FIXED",
    "TRANSLATED",
    "REFERENCES",
    "ElementResult",
    "ElementInfo",
    "find_samples",
    "is_sampled",
    "element_info",
    "exact_elements",
    "translated_samples",
    "spatial_act",
    "check_element",
    "choose_reference",
]

#: mode names reported per element
EXACT = "exact"
FIXED = "fixed samples"
TRANSLATED = "translated samples"
#: the ``reference=`` choices of the tools
REFERENCES = ("auto", "fixed", "translated")


@dataclass
class ElementResult:
    """The measurement for one element.

    Attributes:
        label: the element (``repr`` of its parameters, or the caller's label).
        exact: it permutes every sample set and the pixel lattice (the comparison is exact).
        mode: ``"exact"``, ``"fixed samples"`` or ``"translated samples"`` (module docstring).
        relative: ``max|lhs - rhs| / max|rhs|`` (inside the disc for non-exact elements).
        max_abs: ``max|lhs - rhs|``.
    """

    label: str
    exact: bool
    mode: str
    relative: float
    max_abs: float


@dataclass
class ElementInfo:
    """What an element does to a sampled model: ``permutes`` every sample set, ``lattice``
    (grid-exact on the spatial sizes given), ``exact`` (both), ``h_inv`` its stabiliser part's
    inverse (the translation of the samples for the translated reference)."""

    g: Tensor
    label: str
    permutes: bool
    lattice: bool
    h_inv: Tensor

    @property
    def exact(self) -> bool:
        return self.permutes and self.lattice


def _is_hsamples(obj: object) -> bool:
    from ..nn.samples import HSamples  # lazily: gattn.testing needs only gattn.groups

    return isinstance(obj, HSamples)


def find_samples(*objects: object) -> list:
    """The distinct :class:`~gattn.nn.HSamples` in ``objects``: modules (searched through
    ``.modules()``), layouts (their ``samples``) and :class:`~gattn.nn.HSamples` themselves.

    Raises:
        ValueError: an :class:`~gattn.nn.HSamples` redraws Monte-Carlo samples in training
            mode (two forwards would use different samples: call ``model.eval()``).
    """
    found: dict[int, object] = {}
    for obj in objects:
        if obj is None:
            continue
        candidates = list(obj.modules()) if isinstance(obj, torch.nn.Module) else [obj]
        for c in candidates:
            if isinstance(c, (GroupSignal, PairSignal)):
                c = c.samples
            if _is_hsamples(c):
                found.setdefault(id(c), c)
    out = list(found.values())
    for s in out:
        if s.monte_carlo and s.training:  # type: ignore[attr-defined]
            raise ValueError(
                "an HSamples module draws Monte-Carlo samples in training mode, so two forwards "
                "use different samples; call model.eval() before measuring equivariance"
            )
    return out


def is_sampled(group: SemidirectProduct, samples: Sequence, *layouts: Layout | None) -> bool:
    """Whether the comparison needs the sampled-:math:`H` treatment: a continuous stabiliser,
    shared samples in the model, or layouts over explicit samples."""
    if samples or not stabiliser_of(group).is_finite:
        return True
    return any(getattr(lay, "samples", None) is not None for lay in layouts)


def _stab_part(group, g: Tensor) -> Tensor:
    return group.split(g)[1] if isinstance(group, SemidirectProduct) else g


def check_element(group, g: object, name: str = "g") -> Tensor:
    """``g`` as one float64 element of ``group``.

    Raises:
        TypeError: ``g`` is not a tensor. ValueError: not one element of ``group``.
    """
    if not isinstance(g, Tensor) or isinstance(g, bool):
        raise TypeError(
            f"{name} must be an element of {group.name} (a tensor of shape "
            f"{tuple(group.element_shape)}), got {type(g).__name__}: {g!r}"
        )
    if tuple(g.shape) != tuple(group.element_shape):
        raise ValueError(
            f"{name} must be one element of {group.name}, shape {tuple(group.element_shape)}, "
            f"got shape {tuple(g.shape)}"
        )
    if g.is_floating_point() and not bool(torch.isfinite(g).all()):
        raise ValueError(f"{name} holds non-finite values: {g.tolist()}")
    g64 = g.detach().to("cpu", torch.float64)
    try:
        group.validate(g64, name)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{name} = {g.tolist()} is not an element of {group.name}: {err}"
        ) from None
    return g64


def element_info(
    group, g: Tensor, samples: Sequence, sizes: Sequence[tuple[int, ...]], label: str | None = None
) -> ElementInfo:
    """Classify ``g`` (see :class:`ElementInfo`) for the sample sets ``samples`` (HSamples or
    ``(N, *element_shape)`` tensors) and the spatial ``sizes`` it must map onto themselves."""
    stab = stabiliser_of(group)
    h = _stab_part(group, g)
    permutes = True
    for s in samples:
        el = s if isinstance(s, Tensor) else s.elements
        if sample_permutation(group, el, h) is None:
            permutes = False
            break
    lattice = all(is_grid_exact(group, g, size) for size in sizes)
    h_inv = stab.inverse(h)
    text = label or "g=" + str([round(float(v), 6) for v in g.reshape(-1)])
    return ElementInfo(g, text, permutes, lattice, h_inv)


def exact_elements(group, samples: Sequence, sizes: Sequence[tuple[int, ...]]) -> list[Tensor]:
    r"""The elements :math:`(0, h_j h_1^{-1})` (:math:`h_j` the first sample set) that permute
    every sample set and the lattice of ``sizes``: the default elements of the tools.

    Raises:
        ValueError: no sample set to take them from (pass the elements explicitly).
    """
    if not samples:
        raise ValueError(
            f"pass the elements explicitly: {stabiliser_of(group).name} is continuous and no "
            "H samples (gattn.nn.HSamples) were found to derive the exact elements from"
        )
    stab = stabiliser_of(group)
    first = samples[0] if isinstance(samples[0], Tensor) else samples[0].elements
    first = first.to(torch.float64) if first.is_floating_point() else first
    base_inv = stab.inverse(first[:1]).expand_as(first)
    hs = stab.product(first, base_inv)
    out = []
    for h in hs:
        g = group.embed(h, dtype=torch.float64) if isinstance(group, SemidirectProduct) else h
        if element_info(group, g, samples, sizes).exact:
            out.append(g)
    return out


@contextlib.contextmanager
def translated_samples(samples: Sequence, h: Tensor) -> Iterator[None]:
    r"""Left-translate every :class:`~gattn.nn.HSamples` in ``samples`` by ``h`` for the
    duration (:math:`\{h h_j\}`; the translated reference uses :math:`h = h_g^{-1}`)."""
    with contextlib.ExitStack() as stack:
        for s in samples:
            stack.enter_context(s.translated(h))
        yield


def spatial_act(group, g: Tensor, y: Tensor, layout: Layout | None, d: int) -> Tensor:
    """Only the spatial part of :math:`L_g` on the last ``d`` axes of ``y`` (group axes left
    alone); invariants (a :class:`~gattn.groups.Invariant` layout, or rank 2 without a layout)
    unchanged. Grid-exact elements gather, others interpolate."""
    if layout is not None and not isinstance(layout, (Image, GroupSignal, PairSignal)):
        return y
    if layout is None and y.dim() < d + 2:
        return y
    return transform_image(group, g, y, "auto")


def choose_reference(reference: str, info: ElementInfo, has_group_axis: bool) -> str:
    """The reference mode for a non-exact element: ``"auto"`` -> fixed samples where the output
    has no group axis or the element permutes the samples, translated samples otherwise."""
    if reference == "translated":
        return TRANSLATED
    if reference == "fixed":
        return FIXED
    return FIXED if (info.permutes or not has_group_axis) else TRANSLATED

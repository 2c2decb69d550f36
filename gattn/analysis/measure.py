r"""Measured equivariance error, layer by layer (docs/analysis.md, docs/testing.md, [UAE]).

For a model :math:`\Phi`, an input :math:`x` and group elements :math:`g`, forward hooks record
every chosen layer's output :math:`\Phi_\ell` on :math:`x` and on :math:`L_g x`, and

.. math::

    e_\ell(g) = \operatorname{mean} |L_g \Phi_\ell(x) - \Phi_\ell(L_g x)|, \qquad
    r_\ell(g) = \frac{\max |L_g \Phi_\ell(x) - \Phi_\ell(L_g x)|}{\max |L_g \Phi_\ell(x)|},

with :math:`L_g` acting by the output's layout, for ``d`` spatial axes (``d`` = the group's
``translation_dim``: 1-D signals, images, volumes): spatial signals ``(B, C, *spatial)``, group
signals ``(B, C, |H|, *spatial)`` (spatial action and the permutation
:math:`\tilde h \mapsto h\tilde h` of the group axis), invariants ``(B, F)`` (unchanged). Other
layouts (channels-last, flattened positions) are recognised from the spatial sizes the
network's activations take (:mod:`~gattn.analysis.comparison`); a layer whose layout is not
recognised gets no number: its row says "n/a" and why. The paper's summary metric is
:math:`\sum_{g \ne e} e_\ell(g)` over the non-identity grid-exact elements
(:meth:`EquivarianceErrorReport.summed_error`).

Grid-exact elements (those of :math:`H` that map the lattice onto itself, e.g. multiples of 90°,
mirrors, the 48 symmetries of the cube on a cubic volume) act by permuting pixels / voxels; an
element that permutes axes of different sizes is not grid-exact at that size and is left out.
Other elements need interpolation: they are applied to a disc- (ball-) masked input, the
outputs are compared inside the central disc, and the results are reported *separately* as
interpolation error (it mixes the network's equivariance error with the resampling error).
Angles (floats) are plane rotations; on group signals an angle is only defined if the
stabiliser contains that rotation, otherwise those layers are skipped with a note.

Continuous and sampled stabilisers (models with :class:`~gattn.nn.HSamples`,
docs/continuous.md): an element that permutes every sample set and the lattice is exact (mode
``"exact"``); any other is measured on the disc-masked input, inside the disc, against the
``"translated samples"`` reference — every layer recorded with the samples left-translated by
:math:`h_g^{-1}`, then only the spatial part of :math:`g` applied: the spatial discretisation
error alone — or, for layers without a group axis (and elements that permute the samples),
``"fixed samples"``, whose error also holds the :math:`H`-quadrature error and depends on
``N`` (:mod:`gattn.testing.sampled`). Each entry's ``mode`` says which.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..groups import (
    SE2,
    SemidirectProduct,
    disc_mask,
    finite_tables,
    is_grid_exact,
)
from ..testing.sampled import (
    REFERENCES,
    find_samples,
    is_sampled,
)
from .comparison import Element, act, recognise, spatial_sizes
from .error_report import OUTPUT, EquivarianceErrorReport, LayerError
from .measure_sampled import sampled_equivariance_error
from .recording import element_label, fill_errors, record_outputs

__all__ = ["LayerError", "EquivarianceErrorReport", "equivariance_error", "OUTPUT"]


def _plane(angle_deg: float) -> Tensor:
    return SE2().embed(torch.tensor(math.radians(angle_deg), dtype=torch.float64))


def _resolve(
    group: SemidirectProduct, elements: Sequence | None, size: tuple[int, ...]
) -> list[Element]:
    stab = group.stabiliser
    d = group.translation_dim
    finite = stab.is_finite
    tables = finite_tables(stab) if finite else None
    mats = tables.matrices if tables is not None else None
    eye = torch.eye(d, dtype=torch.float64)
    out: list[Element] = []

    def from_index(i: int) -> Element:
        assert tables is not None and mats is not None
        g = group.embed(tables.elements[i], dtype=torch.float64)
        deg, label = element_label(mats[i], d)
        exact = bool(tables.lattice_preserving[i]) and is_grid_exact(group, g, size)
        plane = _plane(deg) if d == 2 else None
        return Element(label, deg, g, plane, not exact, i == tables.identity_index)

    if elements is None:
        if not finite:
            raise ValueError(
                f"elements must be given for {group.name}: its stabiliser {stab.name} is infinite"
            )
        assert tables is not None
        return [e for e in map(from_index, range(tables.order)) if not e.interpolated]
    for el in elements:
        if isinstance(el, bool):
            raise TypeError(f"elements entries must be int, float or Tensor, got {el!r}")
        if isinstance(el, int):
            if tables is None or not 0 <= el < tables.order:
                raise ValueError(
                    f"elements: index {el} is not an element index of {stab.name}"
                    + (f" (0..{tables.order - 1})" if tables else " (infinite: pass angles)")
                )
            out.append(from_index(el))
        elif isinstance(el, float):
            if d != 2:
                raise ValueError(
                    f"elements: an angle ({el!r}) is a plane rotation, but {group.name} acts on "
                    f"R^{d}; pass stabiliser indices (int) or group elements (Tensor)"
                )
            rot = torch.tensor(
                [[math.cos(el), -math.sin(el)], [math.sin(el), math.cos(el)]], dtype=torch.float64
            )
            match = None
            if mats is not None:
                hits = ((mats - rot).abs().amax((-2, -1)) < 1e-9).nonzero()
                match = int(hits[0, 0]) if len(hits) else None
            deg = math.degrees(el) % 360.0
            if match is not None:
                e = from_index(match)
                e.label = f"{deg:g}deg"
                out.append(e)
            else:
                g = None if finite else group.embed(torch.tensor(el, dtype=torch.float64))
                out.append(Element(f"{deg:g}deg", deg, g, _plane(deg), True, False))
        elif isinstance(el, Tensor):
            g = el.to(torch.float64)
            group.validate(g, "elements entry")
            _, h = group.split(g)
            m = stab.matrix(h, dtype=torch.float64)
            deg, label = element_label(m, d)
            exact = is_grid_exact(group, g, size)
            ident = bool(torch.allclose(m, eye))
            plane = _plane(deg) if d == 2 else None
            out.append(Element(label, deg, g, plane, not exact, ident and exact))
        else:
            raise TypeError(
                f"elements entries must be int (stabiliser index), float (angle in radians) or "
                f"a group element Tensor, got {type(el).__name__}: {el!r}"
            )
    return out


def equivariance_error(
    model: nn.Module,
    x: Tensor,
    group: SemidirectProduct,
    elements: Sequence[int | float | Tensor] | None = None,
    layers: Sequence[str] | None = None,
    reference: str = "auto",
) -> EquivarianceErrorReport:
    r"""Measure :math:`L_g \Phi_\ell(x)` against :math:`\Phi_\ell(L_g x)` at every layer.

    Call ``model.eval()`` first (dropout makes two forwards differ).

    Args:
        model: the network :math:`\Phi`.
        x: input spatial signals ``(B, C, *spatial)`` or group signals
            ``(B, C, |H|, *spatial)``, with as many spatial axes as ``group`` acts on (1-D
            signals, images, volumes); float64 gives clean zeros for exact cases.
        group: the affine group :math:`\mathbb{R}^d \rtimes H` (e.g. ``p4()``, ``p1m()``,
            ``cube()``).
        elements: ``None`` for every grid-exact element of a finite :math:`H`; otherwise a list
            of stabiliser indices (int), plane rotation angles in radians (float; interpolated
            unless grid-exact; only for d = 2) or elements of ``group`` (Tensor).
        layers: module names to measure (``"output"`` for the model's output); ``None`` for
            every layer (leaf modules and modules with a ``kernel_size``) and the output.
            Calls whose first argument is a parameter (kernel transforms) or whose output's
            batch size differs from ``x``'s are not activations and are skipped.
        reference: sampled :math:`H`, non-exact elements (module docstring): ``"auto"``
            (translated samples for group signals, fixed samples for layers without a group
            axis), ``"translated"`` or ``"fixed"``. For a sampled :math:`H`, ``elements=None``
            takes the exact elements :math:`(0, h_j h_1^{-1})`, an int ``j`` the element
            :math:`(0, h_j h_1^{-1})` of the first sample set.

    Returns:
        An :class:`EquivarianceErrorReport` (``str()`` is a table, ``to_dict()`` is JSON-ready).

    Raises:
        TypeError: ``model`` is not a module, ``group`` not an affine group on R^1..R^3.
        ValueError: ``x`` has the wrong rank, unknown layer names, bad elements.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(group, SemidirectProduct) or group.translation_dim not in (1, 2, 3):
        raise TypeError(
            f"group must be an affine group R^d x| H (d = 1, 2, 3) such as p4(), p1m() or "
            f"cube(), got {group!r}"
        )
    d = group.translation_dim
    if not isinstance(x, Tensor) or x.dim() not in (d + 2, d + 3):
        axes = {1: "X", 2: "Y, X", 3: "Z, Y, X"}[d]
        raise ValueError(
            f"x must be spatial signals (B, C, {axes}) or group signals (B, C, |H|, {axes}) "
            f"for {group.name} (d = {d}), got "
            f"{tuple(getattr(x, 'shape', ())) or type(x).__name__}"
        )
    names = None
    if layers is not None:
        known = {n for n, _ in model.named_modules() if n} | {OUTPUT, ""}
        unknown = [n for n in layers if n not in known]
        if unknown:
            raise ValueError(
                f"layers: unknown module names {unknown}; known: {sorted(known - {''})}"
            )
        names = set(layers)
    size = tuple(int(v) for v in x.shape[-d:])
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {REFERENCES}, got reference={reference!r}")
    sample_sets = find_samples(model)
    if is_sampled(group, sample_sets):
        return sampled_equivariance_error(model, x, group, elements, names, reference, sample_sets)
    els = _resolve(group, elements, size)
    sizes = spatial_sizes(model, x, d)
    order = group.stabiliser.order if group.stabiliser.is_finite else None
    reference = record_outputs(model, names, x)
    layouts = {name: recognise(y, sizes, order, d) for name, y in reference.items()}
    mask_in = disc_mask(*size, device=x.device, dtype=x.dtype)
    masked_ref: dict[str, Tensor] | None = None
    report = EquivarianceErrorReport(
        group.name, tuple(x.shape), str(x.dtype).replace("torch.", ""), list(reference), []
    )
    kinds = {2: "invariant", d + 2: "image", d + 3: "signal"}
    for el in els:
        report.elements.append(el.label)
        report._identity[el.label] = el.identity
        if el.interpolated:
            if masked_ref is None:
                masked_ref = record_outputs(model, names, x * mask_in)
            base, xin = masked_ref, x * mask_in
        else:
            base, xin = reference, x
        if el.interpolated and el.g is None and x.dim() == d + 3:
            raise ValueError(
                f"elements: the angle {el.angle:g} deg is not in {group.stabiliser.name}, so it "
                f"does not act on the group-signal input"
            )
        gx, why_not = act(group, el, xin, not el.interpolated, d)
        if gx is None:
            raise ValueError(f"elements: {el.label} cannot act on the input: {why_not}")
        moved = record_outputs(model, names, gx)
        for name, raw in base.items():
            canon, label, why = layouts.get(name, (None, "?", "layer not recorded"))
            y = canon(raw) if canon is not None else raw
            entry = LayerError(
                name,
                kinds.get(y.dim(), "other"),
                tuple(raw.shape),
                el.label,
                el.angle,
                el.interpolated,
                layout=label,
            )
            report.entries.append(entry)
            if canon is None:
                entry.note = why
                continue
            lhs = moved.get(name)
            if lhs is not None:
                lhs = canon(lhs) if lhs.shape == raw.shape else None
            rhs, note = act(group, el, y, not el.interpolated, d)
            if rhs is None or lhs is None or lhs.shape != rhs.shape:
                entry.note = note or "layer output missing or shape changed under L_g"
                continue
            diff, ref = (lhs - rhs).double(), rhs.double()
            if el.interpolated and y.dim() in (d + 2, d + 3):
                m = disc_mask(*y.shape[-d:], device=y.device, dtype=torch.float64)
                diff, ref = diff * m, ref * m
            fill_errors(entry, diff, ref)
    return report

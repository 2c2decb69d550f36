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
    O2,
    SE2,
    SO2,
    SemidirectProduct,
    disc_mask,
    finite_tables,
    is_grid_exact,
    sample_permutation,
    transform_image,
)
from ..testing.sampled import (
    EXACT,
    FIXED,
    REFERENCES,
    TRANSLATED,
    check_element,
    choose_reference,
    element_info,
    exact_elements,
    find_samples,
    is_sampled,
    translated_samples,
)
from .comparison import Element, act, recognise, spatial_sizes
from .error_report import OUTPUT, EquivarianceErrorReport, LayerError

__all__ = ["LayerError", "EquivarianceErrorReport", "equivariance_error", "OUTPUT"]

_COORD = "xyz"


def _label(m: Tensor, d: int) -> tuple[float, str]:
    """Rotation angle (degrees) and name of a linear part :math:`A` (``d x d``)."""
    if d == 2:
        deg = math.degrees(math.atan2(float(m[1, 0]), float(m[0, 0])))
        deg = round(deg, 6) % 360.0
        return deg, (f"mirror{deg:g}" if float(torch.det(m)) < 0 else f"rot{deg:g}")
    if d == 1:
        return 0.0, ("mirror" if float(m[0, 0]) < 0 else "id")
    r = m * torch.sign(torch.det(m))  # the rotation +-A
    cos = max(-1.0, min(1.0, (float(torch.trace(r)) - 1) / 2))
    deg = round(math.degrees(math.acos(cos)), 6)
    rounded = m.round()
    signed_perm = bool(((m - rounded).abs() < 1e-9).all()) and bool(
        (rounded.abs().sum(0) == 1).all() and (rounded.abs().sum(1) == 1).all()
    )
    if not signed_perm:
        return deg, "A=" + str([[round(float(v), 3) for v in row] for row in m])
    parts = []
    for row in rounded:
        j = int(row.abs().argmax())
        parts.append(("-" if float(row[j]) < 0 else "") + _COORD[j])
    return deg, "(" + ",".join(parts) + ")"


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
        deg, label = _label(mats[i], d)
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
            deg, label = _label(m, d)
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


def _record(model: nn.Module, names: set[str] | None, x: Tensor) -> dict[str, Tensor]:
    outputs: dict[str, Tensor] = {}
    handles = []
    batch = x.shape[0]

    def hook(name: str):
        def fn(module, args, out):
            # skip non-tensors, and calls on weights (e.g. a kernel transform) not activations
            if not isinstance(out, Tensor) or out.dim() < 1 or out.shape[0] != batch:
                return
            if args and isinstance(args[0], nn.Parameter):
                return
            key, i = name, 1
            while key in outputs:
                i += 1
                key = f"{name}#{i}"
            outputs[key] = out.detach()

        return fn

    for name, module in model.named_modules():
        if name == "":
            continue
        # a "layer": a leaf, or a windowed layer whose children only handle its weights
        layer = next(iter(module.children()), None) is None or hasattr(module, "kernel_size")
        if (names is None and layer) or (names is not None and name in names):
            handles.append(module.register_forward_hook(hook(name)))
    try:
        with torch.no_grad():
            y = model(x)
    finally:
        for h in handles:
            h.remove()
    if isinstance(y, Tensor) and (names is None or OUTPUT in names or "" in names):
        outputs[OUTPUT] = y.detach()
    return outputs


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
        return _sampled(model, x, group, elements, names, reference, sample_sets)
    els = _resolve(group, elements, size)
    sizes = spatial_sizes(model, x, d)
    order = group.stabiliser.order if group.stabiliser.is_finite else None
    reference = _record(model, names, x)
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
                masked_ref = _record(model, names, x * mask_in)
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
        moved = _record(model, names, gx)
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
            _fill_errors(entry, diff, ref)
    return report


def _sampled_elements(group, elements, sample_sets, size) -> list[tuple[Tensor, str]]:
    """``(g, label)`` for a sampled :math:`H` (see :func:`equivariance_error`)."""
    stab = group.stabiliser
    if elements is None:
        els = exact_elements(group, sample_sets, [size])
        mats = [stab.matrix(group.split(g)[1], dtype=torch.float64) for g in els]
        return [(g, _label(m, group.translation_dim)[1]) for g, m in zip(els, mats)]
    out = []
    for i, el in enumerate(elements):
        if isinstance(el, bool):
            raise TypeError(f"elements entries must be int, float or Tensor, got {el!r}")
        if isinstance(el, int):
            first = sample_sets[0].elements if sample_sets else None
            if first is None or not 0 <= el < first.shape[0]:
                raise ValueError(
                    f"elements: index {el} is not a sample index"
                    + (f" (0..{first.shape[0] - 1})" if first is not None else " (no samples)")
                )
            h = stab.product(first[el], stab.inverse(first[0]))
            out.append((group.embed(h, dtype=torch.float64), f"h{el}"))
        elif isinstance(el, float):
            if isinstance(stab, SO2):
                h = torch.tensor(el, dtype=torch.float64)
            elif isinstance(stab, O2):
                h = torch.tensor([el, 0.0], dtype=torch.float64)
            else:
                raise ValueError(
                    f"elements: an angle ({el!r}) is a plane rotation, but {group.name} has the "
                    f"stabiliser {stab.name}; pass group elements (Tensor)"
                )
            out.append((group.embed(h, dtype=torch.float64), f"{math.degrees(el) % 360.0:g}deg"))
        elif isinstance(el, Tensor):
            g = check_element(group, el, f"elements[{i}]")
            m = stab.matrix(group.split(g)[1], dtype=torch.float64)
            out.append((g, _label(m, group.translation_dim)[1]))
        else:
            raise TypeError(
                f"elements entries must be int (sample index), float (angle in radians) or a "
                f"group element Tensor, got {type(el).__name__}: {el!r}"
            )
    return out


def _permutations(group, sample_sets, h) -> dict[int, Tensor | None]:
    """``N -> gather index`` of ``h`` on a group axis of ``N`` samples (``None``: ambiguous or
    not a permutation)."""
    perms: dict[int, Tensor | None] = {}
    for s in sample_sets:
        src = sample_permutation(group, s.elements, h)
        n = int(s.elements.shape[0])
        if n in perms and (perms[n] is None or src is None or not torch.equal(perms[n], src)):
            perms[n] = None
        else:
            perms[n] = src
    return perms


def _act_sampled(group, g, y: Tensor, d: int, perms, permute: bool) -> tuple[Tensor | None, str]:
    """The spatial part of ``g`` on ``y`` (canonical layout), and the sample permutation of a
    group axis if ``permute``; ``None`` and a note if undefined."""
    if y.dim() == 2:
        return y, ""
    if y.dim() not in (d + 2, d + 3):
        return None, f"cannot transform a tensor of shape {tuple(y.shape)}"
    out = transform_image(group, g, y, "auto")
    if y.dim() == d + 3 and permute:
        src = perms.get(int(y.shape[2]))
        if src is None:
            return None, (
                "fixed samples undefined: the element does not permute the samples of this "
                "group axis; use reference='translated'"
            )
        out = out.index_select(2, src.to(y.device))
    return out, ""


def _sampled(model, x, group, elements, names, reference, sample_sets) -> EquivarianceErrorReport:
    """:func:`equivariance_error` for a continuous / sampled :math:`H`."""
    d = group.translation_dim
    size = tuple(int(v) for v in x.shape[-d:])
    els = _sampled_elements(group, elements, sample_sets, size)
    sizes = spatial_sizes(model, x, d)
    orders = {int(s.elements.shape[0]) for s in sample_sets}
    order = next(iter(orders)) if len(orders) == 1 else None
    reference_run = _record(model, names, x)
    layouts = {name: recognise(y, sizes, order, d) for name, y in reference_run.items()}
    masked_in = x * disc_mask(*size, device=x.device, dtype=x.dtype)
    report = EquivarianceErrorReport(
        group.name, tuple(x.shape), str(x.dtype).replace("torch.", ""), list(reference_run), []
    )
    kinds = {2: "invariant", d + 2: "image", d + 3: "signal"}
    group_input = x.dim() == d + 3
    for g, label in els:
        info = element_info(group, g, sample_sets, [size], label)
        perms = _permutations(group, sample_sets, group.split(g)[1])
        angle = _label(group.stabiliser.matrix(group.split(g)[1], dtype=torch.float64), d)[0]
        report.elements.append(label)
        report._identity[label] = info.exact and bool(
            torch.allclose(g, group.identity(dtype=torch.float64))
        )
        if group_input and not info.permutes and reference == "fixed":
            raise ValueError(
                f"elements: {label} does not permute the samples of the group-signal input, so "
                "the fixed-samples reference is undefined; use reference='translated'"
            )
        # a group-signal input is read on h_g^{-1} Q (spatial part only) unless g permutes Q
        full_input = group_input and info.permutes and (info.exact or reference != "translated")
        xin = x if info.exact else masked_in
        base_fixed = reference_run if info.exact else _record(model, names, xin)
        base_translated = None
        gx, _ = _act_sampled(group, g, xin, d, perms, full_input)
        moved = _record(model, names, gx)
        for name, raw in base_fixed.items():
            canon, lay, why = layouts.get(name, (None, "?", "layer not recorded"))
            y = canon(raw) if canon is not None else raw
            if info.exact:
                mode = EXACT
            elif group_input:
                mode = FIXED if full_input else TRANSLATED
            else:
                mode = choose_reference(reference, info, y.dim() == d + 3)
            entry = LayerError(
                name,
                kinds.get(y.dim(), "other"),
                tuple(raw.shape),
                label,
                angle,
                not info.exact,
                layout=lay,
                mode=mode,
            )
            report.entries.append(entry)
            if canon is None:
                entry.note = why
                continue
            if mode == TRANSLATED:
                if base_translated is None:
                    with translated_samples(sample_sets, info.h_inv):
                        base_translated = _record(model, names, xin)
                src = base_translated.get(name)
                y = canon(src) if src is not None and src.shape == raw.shape else None
            lhs = moved.get(name)
            lhs = canon(lhs) if lhs is not None and lhs.shape == raw.shape else None
            rhs, note = (
                (None, "layer output missing")
                if y is None
                else _act_sampled(group, g, y, d, perms, mode != TRANSLATED)
            )
            if rhs is None or lhs is None or lhs.shape != rhs.shape:
                entry.note = note or "layer output missing or shape changed under L_g"
                continue
            diff, ref = (lhs - rhs).double(), rhs.double()
            if not info.exact and y.dim() in (d + 2, d + 3):
                m = disc_mask(*y.shape[-d:], device=y.device, dtype=torch.float64)
                diff, ref = diff * m, ref * m
            _fill_errors(entry, diff, ref)
    return report


def _ratio(num: float, den: float) -> float:
    """``num / den``; a zero reference gives 0 when the difference is zero too, else ``inf``
    (not a huge finite number from dividing by the smallest float)."""
    if den > 0:
        return num / den
    return 0.0 if num == 0 else math.inf


def _fill_errors(entry, diff: Tensor, ref: Tensor) -> None:
    """The absolute and relative errors of one (layer, element) entry."""
    entry.mean_abs = float(diff.abs().mean())
    entry.max_abs = float(diff.abs().max())
    entry.relative = _ratio(entry.max_abs, float(ref.abs().max()))
    entry.relative_mean = _ratio(entry.mean_abs, float(ref.abs().mean()))

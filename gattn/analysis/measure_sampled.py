r"""The measured equivariance error of models on sampled stabilisers :math:`H` (models with
:class:`~gattn.nn.HSamples`; docs/continuous.md, docs/analysis.md).

An element that permutes every sample set and the lattice is exact (mode ``"exact"``); any
other is measured on the disc-masked input, inside the disc, against the ``"translated
samples"`` reference (every layer recorded with the samples left-translated by
:math:`h_g^{-1}`, then only the spatial part of :math:`g` applied) or, for layers without a
group axis and elements that permute the samples, ``"fixed samples"``
(:mod:`gattn.testing.sampled`). :func:`~gattn.analysis.equivariance_error` dispatches here.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..groups import O2, SO2, disc_mask, sample_permutation, transform_image
from ..testing.sampled import (
    EXACT,
    FIXED,
    TRANSLATED,
    check_element,
    choose_reference,
    element_info,
    exact_elements,
    translated_samples,
)
from .comparison import recognise, spatial_sizes
from .error_report import EquivarianceErrorReport, LayerError
from .recording import element_label, fill_errors, record_outputs

__all__ = ["sampled_equivariance_error"]


def _sampled_elements(group, elements, sample_sets, size) -> list[tuple[Tensor, str]]:
    """``(g, label)`` for a sampled :math:`H` (see :func:`equivariance_error`)."""
    stab = group.stabiliser
    if elements is None:
        els = exact_elements(group, sample_sets, [size])
        mats = [stab.matrix(group.split(g)[1], dtype=torch.float64) for g in els]
        return [(g, element_label(m, group.translation_dim)[1]) for g, m in zip(els, mats)]
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
            out.append((g, element_label(m, group.translation_dim)[1]))
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


def sampled_equivariance_error(
    model, x, group, elements, names, reference, sample_sets
) -> EquivarianceErrorReport:
    """:func:`~gattn.analysis.equivariance_error` for a model over samples of :math:`H`
    (``sample_sets``: its :class:`~gattn.nn.HSamples`; the arguments as that function's)."""
    """:func:`equivariance_error` for a continuous / sampled :math:`H`."""
    d = group.translation_dim
    size = tuple(int(v) for v in x.shape[-d:])
    els = _sampled_elements(group, elements, sample_sets, size)
    sizes = spatial_sizes(model, x, d)
    orders = {int(s.elements.shape[0]) for s in sample_sets}
    order = next(iter(orders)) if len(orders) == 1 else None
    reference_run = record_outputs(model, names, x)
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
        angle = element_label(group.stabiliser.matrix(group.split(g)[1], dtype=torch.float64), d)[0]
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
        base_fixed = reference_run if info.exact else record_outputs(model, names, xin)
        base_translated = None
        gx, _ = _act_sampled(group, g, xin, d, perms, full_input)
        moved = record_outputs(model, names, gx)
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
                        base_translated = record_outputs(model, names, xin)
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
            fill_errors(entry, diff, ref)
    return report

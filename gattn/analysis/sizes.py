r"""Which input sizes keep a network exactly equivariant (docs/analysis.md, [UAE]).

:func:`exact_input_sizes` finds the network's subsampling layers on a dry run
(:mod:`~gattn.analysis.tracing`), then applies the size rule
:math:`(n + 2p - k') \bmod s = 0` of :mod:`~gattn.analysis.algebra` on every spatial axis of
every candidate size, sizes propagated through the network. The number ``d`` of spatial axes
(1-D signals ``(B, C, X)``, images, volumes ``(B, C, Z, Y, X)``, and group signals
``(B, C, |H|, *spatial)``) comes from the group — the ``group`` argument, else the group of the
model's gattn layers (``group.translation_dim``), else their declared layouts — and only when
no group says so from the dimensionality of the model's torch layers (``nn.Conv3d`` ...), then
from the rank of ``input_shape_hint``. If the dry run fails, the module registration order is
used instead (``SizeReport.order`` says which) and functional calls are not seen.

This module also re-exports the size API (:class:`LayerSpec`, :func:`propagate`,
:class:`SizeReport`, ...), which lives in the modules named above and in
:mod:`~gattn.analysis.report`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor, nn

from ..groups import Group, GroupSignal, Layout, stabiliser_of
from .algebra import LayerSpec, LayerStep, Size, as_size, check_dims, propagate
from .report import SizeExplanation, SizeReport
from .tracing import spatial_layers, trace, trace_spatial_layers
from .windows import op_rank

__all__ = [
    "LayerSpec",
    "LayerStep",
    "SizeExplanation",
    "SizeReport",
    "spatial_layers",
    "trace_spatial_layers",
    "propagate",
    "exact_input_sizes",
    "explain_size",
    "model_dims",
    "model_group",
]

_DRY_SIZES = {1: (28, 32, 64, 128, 256), 2: (28, 32, 64, 96, 128, 224), 3: (16, 12, 28, 32, 8)}


def _group_dims(group: object, what: str) -> int:
    try:
        stab = stabiliser_of(group)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be a group acting on R^d, got {group!r}: {exc}") from exc
    d = getattr(group, "translation_dim", None) or stab.action_dim
    return check_dims(d, f"{what}'s spatial dimension")


def model_group(model: nn.Module) -> Group | None:
    """The group of the first module of ``model`` with a ``group`` attribute (gattn layers)."""
    for m in model.modules():
        g = getattr(m, "group", None)
        if isinstance(g, Group):
            return g
    return None


def model_dims(model: nn.Module, group: Group | None = None, dims: int | None = None) -> int | None:
    """The number of spatial axes of ``model``'s inputs, or ``None`` if nothing says.

    In this order: ``dims``; ``group`` (its ``translation_dim`` / ``action_dim``); the group
    of the model's gattn layers; the ``dims`` of their declared layouts; the dimensionality of
    its torch window layers (``nn.Conv1d`` -> 1, ``nn.MaxPool3d`` -> 3).

    Raises:
        ValueError: ``dims`` is not 1, 2 or 3, or disagrees with ``group``.
        TypeError: ``group`` is not a group acting on :math:`\\mathbb{R}^d`.
    """
    if group is not None:
        d = _group_dims(group, "group")
        if dims is not None and check_dims(dims) != d:
            raise ValueError(f"dims={dims!r} disagrees with group {group.name} acting on R^{d}")
        return d
    if dims is not None:
        return check_dims(dims)
    found = model_group(model)
    if found is not None:
        try:
            return _group_dims(found, "the model's group")
        except (TypeError, ValueError):
            pass
    for m in model.modules():
        layout = getattr(m, "in_layout", None)
        if isinstance(layout, Layout) and layout.dims in (1, 2, 3):
            return int(layout.dims)
    for m in model.modules():
        if type(m).__module__.startswith("torch.") and hasattr(m, "kernel_size"):
            rank = op_rank(type(m).__name__)
            if rank is not None:
                return rank
    return None


def _first_channels(model: nn.Module) -> int:
    for module in model.modules():
        c = getattr(module, "in_channels", None)
        if isinstance(c, int):
            return c
    return 1


def _input_lead(model: nn.Module) -> tuple[int, ...]:
    """``(1, C)`` for image inputs, ``(1, C, |H|)`` when the model declares group-signal
    input."""
    c = _first_channels(model)
    for m in model.modules():
        layout = getattr(m, "in_layout", None)
        if isinstance(layout, Layout):
            return (1, c, layout.order) if isinstance(layout, GroupSignal) else (1, c)
    return (1, c)


def _dry_inputs(model: nn.Module, hint: Sequence[int] | None, d: int) -> list[Tensor]:
    if hint is None:
        lead = _input_lead(model)
        return [torch.zeros(*lead, *([n] * d)) for n in _DRY_SIZES[d]]
    if isinstance(hint, (str, bytes)) or not isinstance(hint, Sequence):
        raise TypeError(f"input_shape_hint must be a sequence of ints, got {hint!r}")
    shape = tuple(int(v) for v in hint)
    if len(shape) == d + 1:
        shape = (1, *shape)
    if len(shape) not in (d + 2, d + 3) or min(shape, default=0) < 1:
        raise ValueError(
            f"input_shape_hint must be (C, *spatial), (B, C, *spatial) or (B, C, |H|, *spatial) "
            f"with d = {d} spatial axes, got {hint!r}"
        )
    # the hinted size first, then the default sizes with the hinted leading axes
    lead = shape[:-d]
    others = [n for n in _DRY_SIZES[d] if (n,) * d != shape[-d:]]
    return [torch.zeros(shape)] + [torch.zeros(*lead, *([n] * d)) for n in others]


def _resolve_dims(model, group, dims, hint) -> int:
    d = model_dims(model, group, dims)
    if d is None and hint is not None and isinstance(hint, Sequence):
        # no group, no layout, no torch layer says: read the hint, (C, Y, X) for rank 3
        d = {3: 2, 4: 2, 5: 3}.get(len(hint))
    return d or 2


def _layers_for(
    model: nn.Module, hint: Sequence[int] | None, d: int
) -> tuple[list[LayerSpec], str, str]:
    errors = []
    param = next(model.parameters(), None)
    for x in _dry_inputs(model, hint, d):
        if param is not None:
            x = x.to(device=param.device, dtype=param.dtype)
        try:
            seen = trace(model, x, d)
        except Exception as exc:  # the model may reject this size: try the next one
            errors.append(f"{tuple(x.shape)}: {type(exc).__name__}: {exc}")
            continue
        calls = seen.calls
        specs = [c[0] for c in calls]
        start: Size = tuple(int(v) for v in x.shape[-d:])
        steps = propagate(specs, start, d)
        # outgoing sizes are compared where the output is spatial (not invariants, F.unfold)
        predicted = [
            (s.incoming, s.outgoing if c[2] is not None else None) for s, c in zip(steps, calls)
        ]
        observed = [(c[1], c[2]) for c in calls]
        notes = []
        if seen.unmodelled:
            notes.append(
                "windowed ops with fewer spatial axes than the network's are not modelled: "
                + ", ".join(seen.unmodelled[:3])
            )
        if predicted != observed:
            wrong = [
                f"{c[0].name or '<model>'}: predicted {p[0]} -> {p[1]}, seen {o[0]} -> {o[1]}"
                for c, p, o in zip(calls, predicted, observed)
                if p != o
            ]
            if len(predicted) != len(observed):
                wrong.append(f"{len(predicted)} layers reached, {len(observed)} seen")
            notes.append(
                f"the size arithmetic does not reproduce the sizes seen in the dry run at "
                f"{'x'.join(map(str, start))} ({'; '.join(wrong[:3])}); the model resizes its "
                "activations by means the analysis does not model, treat the prediction with care"
            )
        return specs, "execution", "; ".join(notes)
    return (
        spatial_layers(model, d),
        "registration",
        "dry run failed, registration order used: " + " | ".join(errors),
    )


def exact_input_sizes(
    model: nn.Module,
    sizes: Iterable[int | Sequence[int]] = range(8, 257),
    input_shape_hint: Sequence[int] | None = None,
    *,
    group: Group | None = None,
    dims: int | None = None,
) -> SizeReport:
    r"""The input sizes for which every subsampling layer of ``model`` satisfies
    :math:`(n + 2p - k') \bmod s = 0` (on every spatial axis, sizes propagated through the
    network) and the input is large enough for every layer.

    Args:
        model: any ``nn.Module``; spatial layers are modules with ``kernel_size``, ``stride`` and
            ``padding`` attributes (torch convs/pools in 1-D, 2-D, 3-D, gattn layers), adaptive
            pools, functional windowed calls, and layers returning invariants ``(B, F)``.
        sizes: candidate sizes: ints (the same on every axis) or one int per spatial axis.
        input_shape_hint: shape of the dry-run input, ``(C, *spatial)``, ``(B, C, *spatial)`` or
            ``(B, C, |H|, *spatial)`` for models taking group signals. Default: one sample with
            the channel count of the first ``in_channels`` attribute (and the group axis when
            the model declares group-signal input), sizes 28, 32, 64, ... (16, 12, 28, ... for
            volumes) tried in turn.
        group: the group the model is equivariant to; gives the number of spatial axes.
            Default: the group of the model's gattn layers (see :func:`model_dims`).
        dims: the number of spatial axes, when no group says (1, 2 or 3).

    Returns:
        A :class:`SizeReport`; ``report.explain(n)`` says which layer (and axis) breaks ``n``.

    Raises:
        TypeError: ``model`` is not a module, ``group`` not a group, a malformed size.
        ValueError: a bad ``dims`` or ``input_shape_hint``, or a size below 1.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    d = _resolve_dims(model, group, dims, input_shape_hint)
    specs, order, note = _layers_for(model, input_shape_hint, d)
    candidates = list(sizes)
    exact = []
    for s in candidates:
        as_size(s, d, "sizes entry")
        steps = propagate(specs, s, d)
        if all(st.outgoing is not None or st.kind == "global" for st in steps) and all(
            st.exact for st in steps
        ):
            exact.append(s)
    return SizeReport(specs, order, candidates, exact, note, d)


def explain_size(
    model: nn.Module | SizeReport,
    size: int | Sequence[int],
    input_shape_hint: Sequence[int] | None = None,
    *,
    group: Group | None = None,
    dims: int | None = None,
) -> SizeExplanation:
    """Shortcut for ``exact_input_sizes(model, ...).explain(size)`` (``model`` may already be a
    :class:`SizeReport`)."""
    if isinstance(model, SizeReport):
        return model.explain(size)
    report = exact_input_sizes(
        model, sizes=[], input_shape_hint=input_shape_hint, group=group, dims=dims
    )
    return report.explain(size)

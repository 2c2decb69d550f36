r"""Measured equivariance error, layer by layer (docs/analysis.md, docs/testing.md, [UAE]).

For a model :math:`\Phi`, an input :math:`x` and group elements :math:`g`, forward hooks record
every chosen layer's output :math:`\Phi_\ell` on :math:`x` and on :math:`L_g x`, and

.. math::

    e_\ell(g) = \operatorname{mean} |L_g \Phi_\ell(x) - \Phi_\ell(L_g x)|, \qquad
    r_\ell(g) = \frac{\max |L_g \Phi_\ell(x) - \Phi_\ell(L_g x)|}{\max |L_g \Phi_\ell(x)|},

with :math:`L_g` acting by the output's layout: images ``(B, C, Y, X)``, group signals
``(B, C, |H|, Y, X)`` (spatial rotation and the permutation :math:`\tilde h \mapsto h\tilde h`
of the group axis), invariants ``(B, F)`` (unchanged). A layer's own layout is recognised from
the spatial sizes the network's activations take (seen on a dry run): channels-last images
``(B, Y, X, C)`` and signals ``(B, |H|, Y, X, C)``, and row-major flattened positions
``(B, Y·X, C)`` / ``(B, Y·X, |H|, C)`` (as in attention layers) are brought to the layouts above
before the comparison. A layer whose layout is not recognised gets no number: its row says
"n/a" and why. The paper's summary metric is
:math:`\sum_{g \ne e} e_\ell(g)` over the non-identity grid-exact rotations
(:meth:`EquivarianceErrorReport.summed_error`).

Grid-exact elements (multiples of 90°, mirrors) act by permuting pixels. Other rotation angles
need bilinear interpolation: they are applied to a disc-masked input, the outputs are compared
inside the central disc, and the results are reported *separately* as interpolation error (it
mixes the network's equivariance error with the resampling error). For group signals an angle is
only defined if the stabiliser contains that rotation; otherwise those layers are skipped with a
note.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn

from ..groups import (
    SE2,
    SemidirectProduct,
    disc_mask,
    is_grid_exact,
    transform_image,
    transform_signal,
)
from .sizes import trace_spatial_layers

__all__ = ["LayerError", "EquivarianceErrorReport", "equivariance_error", "OUTPUT"]

OUTPUT = "output"
"""The name under which the model's own output is reported."""


@dataclass
class LayerError:
    """Error of one layer under one element.

    Attributes:
        layer: module name (``"output"`` for the model), ``name#2`` for a second call.
        kind: ``"image"``, ``"signal"`` or ``"invariant"``.
        shape: the output shape.
        element: the element's label.
        angle: its rotation angle in degrees.
        interpolated: whether the element needs interpolation (reported separately).
        mean_abs, max_abs, relative, relative_mean: the errors (``None`` if undefined).
        note: why an error is undefined.
        layout: the axes of the output as compared, e.g. ``"B,C,|H|,Y,X"`` or
            ``"B,Y*X,|H|,C"`` (flattened positions); ``"?"`` if not recognised.
    """

    layer: str
    kind: str
    shape: tuple[int, ...]
    element: str
    angle: float
    interpolated: bool
    mean_abs: float | None = None
    max_abs: float | None = None
    relative: float | None = None
    relative_mean: float | None = None
    note: str = ""
    layout: str = ""


@dataclass
class _Element:
    label: str
    angle: float
    g: Tensor | None  # element of the model's group, None if only a plane rotation exists
    plane: Tensor  # element of SE(2) with the same spatial action
    interpolated: bool
    identity: bool


@dataclass
class EquivarianceErrorReport:
    """Per-layer, per-element equivariance errors (see :func:`equivariance_error`)."""

    group: str
    input_shape: tuple[int, ...]
    dtype: str
    layers: list[str]
    elements: list[str]
    entries: list[LayerError] = field(default_factory=list)

    def get(self, layer: str, element: str) -> LayerError:
        """The entry for ``layer`` and ``element``."""
        for e in self.entries:
            if e.layer == layer and e.element == element:
                return e
        raise KeyError(f"no entry for layer {layer!r} and element {element!r}")

    def _select(self, layer: str | None, interpolated: bool) -> list[LayerError]:
        return [
            e
            for e in self.entries
            if (layer is None or e.layer == layer)
            and e.interpolated == interpolated
            and e.relative is not None
        ]

    def max_relative(self, layer: str | None = None, interpolated: bool = False) -> float:
        """Largest relative error over the (grid-exact, by default) elements."""
        sel = self._select(layer, interpolated)
        return max((e.relative for e in sel), default=0.0)  # type: ignore[type-var]

    def _non_identity(self, layer: str) -> list[LayerError]:
        ids = {lab for lab, ident in self._identity.items() if ident}
        return [
            e
            for e in self.entries
            if e.layer == layer and not e.interpolated and e.element not in ids
        ]

    def summed_error(self, layer: str) -> float | None:
        r""":math:`\sum_{g\ne e} \operatorname{mean}|L_g\Phi(x) - \Phi(L_g x)|` over the
        non-identity grid-exact elements ([UAE]'s metric).

        Returns:
            The sum over the elements measured at ``layer``; ``None`` if none was (layout not
            recognised, no non-identity element, ...).
        """
        measured = [e.mean_abs for e in self._non_identity(layer) if e.mean_abs is not None]
        return float(sum(measured)) if measured else None

    def output_error(self) -> float | None:
        """Largest relative error of the model's output (:data:`OUTPUT`) over the non-identity
        grid-exact elements; ``None`` if no such element could be measured there."""
        measured = [e.relative for e in self._non_identity(OUTPUT) if e.relative is not None]
        return max(measured) if measured else None

    _identity: dict[str, bool] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {
            "group": self.group,
            "input_shape": list(self.input_shape),
            "dtype": self.dtype,
            "layers": self.layers,
            "elements": self.elements,
            "entries": [{**asdict(e), "shape": list(e.shape)} for e in self.entries],
            "summed_error": {name: self.summed_error(name) for name in self.layers},
        }

    def __str__(self) -> str:
        out = [
            f"equivariance error under {self.group}, input {tuple(self.input_shape)} {self.dtype}",
            "  per element: relative error max|L_g F(x) - F(L_g x)| / max|L_g F(x)|, "
            "each layer compared in its own layout",
            "  last column: mean|L_g F(x) - F(L_g x)| summed over the non-identity elements g "
            "([UAE]'s metric); (k/n): only k of the n elements measurable",
        ]
        notes: dict[str, str] = {}
        for interp, title in ((False, "grid-exact elements"), (True, "interpolated (disc)")):
            labels = [
                lab
                for lab in self.elements
                if any(e.element == lab and e.interpolated == interp for e in self.entries)
            ]
            if not labels:
                continue
            head = ["layer", "shape", "layout", *labels]
            if not interp:
                head.append("summed mean error, g != e")
            rows = []
            for name in self.layers:
                row = [name, "", ""]
                for lab in labels:
                    e = next(
                        (x for x in self.entries if x.layer == name and x.element == lab), None
                    )
                    if e is None:
                        row.append("")
                        continue
                    row[1] = "x".join(str(v) for v in e.shape)
                    row[2] = e.layout
                    if e.relative is None:
                        row.append("n/a")
                        notes.setdefault(name, e.note)
                    else:
                        row.append(f"{e.relative:.2e}")
                if not interp:
                    total = self.summed_error(name)
                    group = self._non_identity(name)
                    k = sum(e.mean_abs is not None for e in group)
                    cell = "n/a" if total is None else f"{total:.2e}"
                    if total is not None and k < len(group):
                        cell += f" ({k}/{len(group)})"
                    row.append(cell)
                rows.append(row)
            widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
            out.append(f"-- {title}")
            out += [
                "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *rows]
            ]
        if notes:
            out.append("-- n/a: not measurable")
            out += [f"{name}: {note}" for name, note in notes.items()]
        return "\n".join(out)


def _angle_label(m: Tensor) -> tuple[float, str]:
    deg = math.degrees(math.atan2(float(m[1, 0]), float(m[0, 0])))
    deg = round(deg, 6) % 360.0
    if float(torch.det(m)) < 0:
        return deg, f"mirror{deg:g}"
    return deg, f"rot{deg:g}"


def _plane(angle_deg: float) -> Tensor:
    return SE2().embed(torch.tensor(math.radians(angle_deg), dtype=torch.float64))


def _resolve(
    group: SemidirectProduct, elements: Sequence | None, size: tuple[int, int]
) -> list[_Element]:
    stab = group.stabiliser
    finite = stab.is_finite
    mats = stab.matrices(torch.float64) if finite else None
    out: list[_Element] = []

    def from_index(i: int, force_interp: bool = False) -> _Element:
        g = group.embed(stab.grid()[i], dtype=torch.float64)
        deg, label = _angle_label(mats[i])  # type: ignore[index]
        exact = bool(stab.grid_exact[i]) and is_grid_exact(group, g, size) and not force_interp
        ident = bool(torch.allclose(mats[i], torch.eye(2, dtype=torch.float64)))  # type: ignore[index]
        return _Element(label, deg, g, _plane(deg), not exact, ident)

    if elements is None:
        if not finite:
            raise ValueError(
                f"elements must be given for {group.name}: its stabiliser {stab.name} is infinite"
            )
        for i in range(stab.order):
            e = from_index(i)
            if not e.interpolated:
                out.append(e)
        return out
    for el in elements:
        if isinstance(el, bool):
            raise TypeError(f"elements entries must be int, float or Tensor, got {el!r}")
        if isinstance(el, int):
            if not finite or not 0 <= el < stab.order:
                raise ValueError(
                    f"elements: index {el} is not an element index of {stab.name}"
                    + (f" (0..{stab.order - 1})" if finite else " (infinite: pass angles)")
                )
            out.append(from_index(el))
        elif isinstance(el, float):
            rot = torch.tensor(
                [[math.cos(el), -math.sin(el)], [math.sin(el), math.cos(el)]], dtype=torch.float64
            )
            match = None
            if finite:
                hits = ((mats - rot).abs().amax((-2, -1)) < 1e-9).nonzero()  # type: ignore[operator]
                match = int(hits[0, 0]) if len(hits) else None
            deg = math.degrees(el) % 360.0
            if match is not None:
                e = from_index(match)
                e.label = f"{deg:g}deg"
                out.append(e)
            else:
                g = None if finite else group.embed(torch.tensor(el, dtype=torch.float64))
                out.append(_Element(f"{deg:g}deg", deg, g, _plane(deg), True, False))
        elif isinstance(el, Tensor):
            g = el.to(torch.float64)
            group.validate(g, "elements entry")
            _, h = group.split(g)
            m = stab.matrix(h, dtype=torch.float64)
            deg, label = _angle_label(m)
            exact = is_grid_exact(group, g, size)
            ident = bool(torch.allclose(m, torch.eye(2, dtype=torch.float64)))
            out.append(_Element(label, deg, g, _plane(deg), not exact, ident and exact))
        else:
            raise TypeError(
                f"elements entries must be int (stabiliser index), float (angle in radians) or "
                f"a group element Tensor, got {type(el).__name__}: {el!r}"
            )
    return out


_Canon = Callable[[Tensor], Tensor]


def _layout(
    y: Tensor, sizes: set[tuple[int, int]], order: int | None
) -> tuple[_Canon | None, str, str]:
    """How to bring ``y`` to ``(B, F)``, ``(B, C, Y, X)`` or ``(B, C, |H|, Y, X)``.

    Args:
        y: a layer output.
        sizes: the spatial sizes ``(Y, X)`` the network's activations take.
        order: :math:`|H|` (``None`` for an infinite stabiliser).

    Returns:
        ``(canonicalise or None, layout label, note)``; the note says why the layout is not
        recognised.
    """
    shape = tuple(int(v) for v in y.shape)
    flat = {a * b: (a, b) for a, b in sizes}
    unique = {n: hw for n, hw in flat.items() if sum(a * b == n for a, b in sizes) == 1}
    if y.dim() == 2:
        return (lambda t: t), "B,F", ""
    if y.dim() == 3 and shape[1] in unique:  # (B, Y*X, C)
        hy, hx = unique[shape[1]]
        return (lambda t: t.reshape(t.shape[0], hy, hx, -1).permute(0, 3, 1, 2)), "B,Y*X,C", ""
    if y.dim() == 4:
        if shape[2:] in sizes:
            return (lambda t: t), "B,C,Y,X", ""
        if shape[1:3] in sizes:
            return (lambda t: t.permute(0, 3, 1, 2)), "B,Y,X,C", ""
        if order is not None and shape[2] == order and shape[1] in unique:  # (B, Y*X, |H|, C)
            hy, hx = unique[shape[1]]

            def canon(t: Tensor) -> Tensor:
                return t.reshape(t.shape[0], hy, hx, order, -1).permute(0, 4, 3, 1, 2)

            return canon, "B,Y*X,|H|,C", ""
    if y.dim() == 5 and order is not None:
        if shape[2] == order and shape[3:] in sizes:
            return (lambda t: t), "B,C,|H|,Y,X", ""
        if shape[1] == order and shape[2:4] in sizes:
            return (lambda t: t.permute(0, 4, 1, 2, 3)), "B,|H|,Y,X,C", ""
    known = ", ".join(f"{a}x{b}" for a, b in sorted(sizes))
    return (
        None,
        "?",
        f"layout of shape {'x'.join(map(str, shape))} not recognised (no group axis of size "
        f"{order} and spatial size among {known} where the comparison expects them)",
    )


def _spatial_sizes(model: nn.Module, x: Tensor) -> set[tuple[int, int]]:
    """The input's ``(Y, X)`` and every size seen at a spatial layer on a dry run."""
    sizes = {(int(x.shape[-2]), int(x.shape[-1]))}
    try:
        calls = trace_spatial_layers(model, x[:1])
    except Exception:  # noqa: BLE001 - the measurement itself reports failures of the model
        return sizes
    for _, incoming, outgoing in calls:
        sizes.add(tuple(incoming))  # type: ignore[arg-type]
        if outgoing is not None:
            sizes.add(tuple(outgoing))  # type: ignore[arg-type]
    return sizes


def _act(
    group: SemidirectProduct, el: _Element, y: Tensor, exact: bool
) -> tuple[Tensor | None, str]:
    """``L_g y`` by the shape of ``y``, or ``None`` and a note."""
    mode = "exact" if exact else "interpolate"
    if y.dim() == 2:
        return y, ""
    if y.dim() == 4:
        if exact and el.g is not None:
            if not is_grid_exact(group, el.g, tuple(y.shape[-2:])):
                return None, f"not grid-exact on a {y.shape[-2]}x{y.shape[-1]} map"
            return transform_image(group, el.g, y, mode), ""
        return transform_image(SE2(), el.plane, y, "interpolate"), ""
    if y.dim() == 5:
        if el.g is None or not group.stabiliser.is_finite:
            return None, "rotation not in the stabiliser: undefined on group signals"
        if y.shape[2] != group.stabiliser.order:
            return None, f"group axis {y.shape[2]} != |H| = {group.stabiliser.order}"
        if exact and not is_grid_exact(group, el.g, tuple(y.shape[-2:])):
            return None, f"not grid-exact on a {y.shape[-2]}x{y.shape[-1]} map"
        return transform_signal(group, el.g, y, mode), ""
    return None, f"cannot transform a tensor of shape {tuple(y.shape)}"


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
) -> EquivarianceErrorReport:
    r"""Measure :math:`L_g \Phi_\ell(x)` against :math:`\Phi_\ell(L_g x)` at every layer.

    Call ``model.eval()`` first (dropout makes two forwards differ).

    Args:
        model: the network :math:`\Phi`.
        x: input images ``(B, C, Y, X)`` or group signals ``(B, C, |H|, Y, X)``; float64 gives
            clean zeros for exact cases.
        group: the affine group :math:`\mathbb{R}^2 \rtimes H` (e.g. ``p4()``).
        elements: ``None`` for every grid-exact element of a finite :math:`H`; otherwise a list
            of stabiliser indices (int), rotation angles in radians (float; interpolated unless
            grid-exact) or elements of ``group`` (Tensor).
        layers: module names to measure (``"output"`` for the model's output); ``None`` for
            every layer (leaf modules and modules with a ``kernel_size``) and the output.
            Calls whose first argument is a parameter (kernel transforms) or whose output's
            batch size differs from ``x``'s are not activations and are skipped.

    Returns:
        An :class:`EquivarianceErrorReport` (``str()`` is a table, ``to_dict()`` is JSON-ready).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(x, Tensor) or x.dim() not in (4, 5):
        raise ValueError(
            f"x must be images (B, C, Y, X) or group signals (B, C, |H|, Y, X), got "
            f"{tuple(getattr(x, 'shape', ())) or type(x).__name__}"
        )
    if not isinstance(group, SemidirectProduct) or group.translation_dim != 2:
        raise TypeError(f"group must be an affine group R^2 x| H such as p4(), got {group!r}")
    names = None
    if layers is not None:
        known = {n for n, _ in model.named_modules() if n} | {OUTPUT, ""}
        unknown = [n for n in layers if n not in known]
        if unknown:
            raise ValueError(
                f"layers: unknown module names {unknown}; known: {sorted(known - {''})}"
            )
        names = set(layers)
    size = (int(x.shape[-2]), int(x.shape[-1]))
    els = _resolve(group, elements, size)
    sizes = _spatial_sizes(model, x)
    order = group.stabiliser.order if group.stabiliser.is_finite else None
    reference = _record(model, names, x)
    layouts = {name: _layout(y, sizes, order) for name, y in reference.items()}
    mask_in = disc_mask(*size, device=x.device, dtype=x.dtype)
    masked_ref: dict[str, Tensor] | None = None
    report = EquivarianceErrorReport(
        group.name, tuple(x.shape), str(x.dtype).replace("torch.", ""), list(reference), []
    )
    for el in els:
        report.elements.append(el.label)
        report._identity[el.label] = el.identity
        if el.interpolated:
            if masked_ref is None:
                masked_ref = _record(model, names, x * mask_in)
            base, xin = masked_ref, x * mask_in
        else:
            base, xin = reference, x
        if el.interpolated and el.g is None and x.dim() == 5:
            raise ValueError(
                f"elements: the angle {el.angle:g} deg is not in {group.stabiliser.name}, so it "
                f"does not act on the group-signal input"
            )
        gx, _ = _act(group, el, xin, not el.interpolated)
        moved = _record(model, names, gx)  # type: ignore[arg-type]
        for name, raw in base.items():
            canon, label, why = layouts.get(name, (None, "?", "layer not recorded"))
            y = canon(raw) if canon is not None else raw
            kind = {2: "invariant", 4: "image", 5: "signal"}.get(y.dim(), "other")
            entry = LayerError(
                name, kind, tuple(raw.shape), el.label, el.angle, el.interpolated, layout=label
            )
            report.entries.append(entry)
            if canon is None:
                entry.note = why
                continue
            lhs = moved.get(name)
            if lhs is not None:
                lhs = canon(lhs) if lhs.shape == raw.shape else None
            rhs, note = _act(group, el, y, not el.interpolated)
            if rhs is None or lhs is None or lhs.shape != rhs.shape:
                entry.note = note or "layer output missing or shape changed under L_g"
                continue
            diff, ref = (lhs - rhs).double(), rhs.double()
            if el.interpolated and y.dim() in (4, 5):
                m = disc_mask(*y.shape[-2:], device=y.device, dtype=torch.float64)
                diff, ref = diff * m, ref * m
            tiny = torch.finfo(torch.float64).tiny
            entry.mean_abs = float(diff.abs().mean())
            entry.max_abs = float(diff.abs().max())
            entry.relative = entry.max_abs / max(float(ref.abs().max()), tiny)
            entry.relative_mean = entry.mean_abs / max(float(ref.abs().mean()), tiny)
    return report

"""The result of :func:`~gattn.analysis.equivariance_error`: per-layer, per-element
equivariance errors and their table (docs/analysis.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = ["OUTPUT", "LayerError", "EquivarianceErrorReport"]

OUTPUT = "output"
"""The name under which the model's own output is reported."""


@dataclass
class LayerError:
    """Error of one layer under one element.

    Attributes:
        layer: module name (``"output"`` for the model), ``name#2`` for a second call.
        kind: ``"image"`` (a spatial signal: 1-D, image or volume), ``"signal"`` (a group
            signal) or ``"invariant"``.
        shape: the output shape.
        element: the element's label.
        angle: its rotation angle in degrees (in the plane counterclockwise; in 3-D the angle
            of the rotation ±A; 0 on 1-D signals).
        interpolated: whether the element needs interpolation (reported separately).
        mean_abs, max_abs, relative, relative_mean: the errors (``None`` if undefined).
        note: why an error is undefined.
        layout: the axes of the output as compared, e.g. ``"B,C,|H|,Y,X"`` or
            ``"B,Y*X,|H|,C"`` (flattened positions); ``"?"`` if not recognised.
        mode: the reference compared against: ``"exact"``, ``"fixed samples"`` or
            ``"translated samples"`` (sampled :math:`H`, docs/continuous.md); ``""`` for a
            finite :math:`H` without samples.
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
    mode: str = ""


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
        modes = {
            lab: sorted({e.mode for e in self.entries if e.element == lab and e.mode})
            for lab in self.elements
        }
        if any(modes.values()):
            out.append(
                "-- reference: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in modes.items())
            )
        if notes:
            out.append("-- n/a: not measurable")
            out += [f"{name}: {note}" for name, note in notes.items()]
        return "\n".join(out)

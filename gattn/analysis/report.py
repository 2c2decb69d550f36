"""Results of the size analysis and their text form (docs/analysis.md): :class:`SizeReport`
(which candidate sizes are exact), :class:`SizeExplanation` (why one size is or is not)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from .algebra import LayerSpec, LayerStep, Size, as_size, axis_names, propagate, specs_dims

__all__ = ["SizeExplanation", "SizeReport", "format_size", "steps_table"]


def format_size(v: object) -> str:
    """``27`` for a size equal on every axis, ``9x10`` otherwise, ``-`` for ``None``."""
    if v is None:
        return "-"
    if isinstance(v, tuple) and v and all(a == v[0] for a in v):
        return str(v[0])
    if isinstance(v, tuple):
        return "x".join(str(a) for a in v)
    return str(v)


def steps_table(steps: Sequence[LayerStep]) -> str:
    """The per-layer trace as an aligned text table."""
    head = ("layer", "type", "in", "k", "s", "p", "d", "out", "exact")
    rows = []
    for s in steps:
        flags = s.axes_exact
        exact = "yes" if s.exact else "NO"
        if not s.exact and len(flags) > 1 and any(flags):
            exact = "NO (" + ",".join("y" if f else "n" for f in flags) + ")"
        rows.append(
            (
                s.name or "<model>",
                s.type + (" (ceil)" if s.ceil_mode else ""),
                format_size(s.incoming),
                format_size(s.kernel_size),
                format_size(s.stride),
                format_size(s.padding),
                format_size(s.dilation),
                format_size(s.outgoing),
                exact,
            )
        )
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*r) for r in [head, *rows])


@dataclass
class SizeExplanation:
    """Why a size is or is not exact: the full trace, the first breaking layer, which axes are
    exact at every layer, and the nearest exact sizes below and above (``None`` if there is
    none in the searched range)."""

    size: Size
    exact: bool
    steps: list[LayerStep]
    breaking: LayerStep | None
    nearest_below: int | Size | None
    nearest_above: int | Size | None
    axes_exact: tuple[bool, ...] = ()

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {
            "size": list(self.size),
            "exact": self.exact,
            "axes_exact": list(self.axes_exact),
            "steps": [s.to_dict() for s in self.steps],
            "breaking": None if self.breaking is None else self.breaking.to_dict(),
            "nearest_below": self.nearest_below,
            "nearest_above": self.nearest_above,
        }

    def __str__(self) -> str:
        verdict = "EXACT" if self.exact else "NOT exact"
        size = "x".join(str(v) for v in self.size) if len(self.size) > 1 else str(self.size[0])
        lines = [f"input {size}: size rule predicts {verdict}"]
        if not self.exact and len(self.size) > 1 and any(self.axes_exact):
            names = axis_names(len(self.size))
            lines.append(
                "exact axes: "
                + ", ".join(n for n, ok in zip(names, self.axes_exact) if ok)
                + "; inexact: "
                + ", ".join(n for n, ok in zip(names, self.axes_exact) if not ok)
            )
        lines.append(steps_table(self.steps))
        if self.breaking is not None:
            b = self.breaking
            lines.append(
                f"broken at {b.name or '<model>'} ({b.type}, k={b.kernel_size}, s={b.stride}, "
                f"p={b.padding}) with incoming size {b.incoming}: {b.reason}"
            )
        if not self.exact:
            lines.append(
                f"nearest exact sizes: below {self.nearest_below}, above {self.nearest_above}"
            )
        return "\n".join(lines)


@dataclass
class SizeReport:
    """Result of :func:`~gattn.analysis.exact_input_sizes`.

    Attributes:
        layers: the spatial layers, in the order used.
        order: ``"execution"`` (dry run with hooks) or ``"registration"`` (fallback).
        sizes: the candidate sizes examined (ints: the same size on every axis).
        exact: the candidate sizes that keep exact equivariance.
        note: why the fallback was used, or a consistency warning.
        dims: the number of spatial axes (``None``: read off ``layers``, else 2).
    """

    layers: list[LayerSpec]
    order: str
    sizes: list[int | Size]
    exact: list[int | Size]
    note: str = ""
    dims: int | None = None
    _exact_set: set = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        if self.dims is None:
            self.dims = specs_dims(self.layers)
        self._exact_set = {as_size(s, self.dims) for s in self.exact}

    def steps(self, size: int | Sequence[int]) -> list[LayerStep]:
        """The per-layer trace of ``size`` (see :func:`~gattn.analysis.propagate`)."""
        return propagate(self.layers, size, self.dims)

    def is_exact(self, size: int | Sequence[int]) -> bool:
        """Whether ``size`` keeps exact equivariance at every subsampling layer, on every axis
        (an int: the same size on every axis)."""
        steps = self.steps(size)
        return _valid(steps) and all(s.exact for s in steps)

    def explain(self, size: int | Sequence[int]) -> SizeExplanation:
        """Per-layer trace for ``size``, the first breaking layer, the exact axes and the
        nearest exact sizes. For an int, neighbours are ints (the same on every axis); for a
        tuple each axis is moved on its own (the rule is separable over the axes)."""
        assert self.dims is not None
        shape = as_size(size, self.dims)
        steps = self.steps(shape)
        valid = _valid(steps)
        breaking = next((s for s in steps if not s.exact), None)
        exact = valid and breaking is None
        axes = tuple(
            all(s.axes_exact[a] for s in steps if s.axes_exact) and valid for a in range(self.dims)
        )
        below = above = None
        if not exact:
            below, above = self._nearest(size if isinstance(size, int) else shape, axes)
        return SizeExplanation(shape, exact, steps, breaking, below, above, axes)

    def _nearest(
        self, size: int | Size, axes: tuple[bool, ...]
    ) -> tuple[int | Size | None, int | Size | None]:
        """Nearest exact sizes below/above. For a tuple each inexact axis gets its own nearest
        exact value, the others kept (``None`` if an axis has none)."""
        if isinstance(size, int):
            return self._nearest_axis(size, None, ())
        below: list[int | None] = []
        above: list[int | None] = []
        for a, (n, ok) in enumerate(zip(size, axes)):
            b, c = (n, n) if ok else self._nearest_axis(n, a, size)
            below.append(b)
            above.append(c)
        return (
            None if None in below else tuple(below),  # type: ignore[arg-type]
            None if None in above else tuple(above),  # type: ignore[arg-type]
        )

    def _nearest_axis(self, n: int, axis: int | None, size: Size) -> tuple[int | None, int | None]:
        def ok(m: int) -> bool:
            if axis is None:
                return _safe_exact(self, m)
            try:
                steps = self.steps(tuple(m if a == axis else size[a] for a in range(len(size))))
            except (TypeError, ValueError):
                return False
            return _valid(steps) and all(s.axes_exact[axis] for s in steps if s.axes_exact)

        below = next((m for m in range(n - 1, 0, -1) if ok(m)), None)
        above = next((m for m in range(n + 1, max(1024, 4 * n)) if ok(m)), None)
        return below, above

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {
            "order": self.order,
            "note": self.note,
            "dims": self.dims,
            "layers": [asdict(s) for s in self.layers],
            "exact": [list(s) if isinstance(s, tuple) else s for s in self.exact],
        }

    def __str__(self) -> str:
        ex = self.exact
        kinds = "modules and functional calls" if self.order == "execution" else "modules"
        shown = ", ".join(format_size(s) for s in ex[:30]) + (", ..." if len(ex) > 30 else "")
        return (
            f"{len(self.layers)} spatial layers ({kinds}, {self.order} order, d = {self.dims}); "
            f"{len(ex)}/{len(self.sizes)} candidate sizes exact: {shown}"
        )


def _valid(steps: Sequence[LayerStep]) -> bool:
    """Whether the input was large enough for every layer reached."""
    return all(s.outgoing is not None or s.kind == "global" for s in steps)


def _safe_exact(report: SizeReport, size: int | Size) -> bool:
    try:
        return report.is_exact(size)
    except (TypeError, ValueError):
        return False

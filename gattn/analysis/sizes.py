r"""Which input sizes keep a network exactly equivariant (SPEC §5, [UAE]).

A layer with kernel :math:`k`, stride :math:`s`, padding :math:`p` and dilation :math:`d`
(effective kernel :math:`k' = d(k-1)+1`) reads the windows starting at :math:`0, s, 2s, \dots`
of the padded axis of length :math:`n + 2p`. The last window ends at
:math:`s\lfloor (n+2p-k')/s \rfloor + k'`, so the sampled grid is symmetric about the centre of
the axis — and a rotation by 90° (or a mirror) maps it onto itself — iff

.. math:: (n + 2p - k') \bmod s = 0 \quad\text{and}\quad n + 2p \ge k' ,

with the output size :math:`n' = \lfloor (n+2p-k')/s \rfloor + 1`. With ``ceil_mode`` (torch
pools) the output size is :math:`\lceil (n+2p-k')/s \rceil + 1` (minus one if the last window
would start in the right padding); the extra window is cut asymmetrically, so the exactness rule
is the same. Stride-1 layers are always exact, except torch's ``padding="same"`` with an even
effective kernel, which pads one pixel more on the right/bottom. Adaptive pools are symmetric
for every size and reset the size to their ``output_size``; a layer that outputs invariants
(``(B, F)``) ends the spatial chain.

The layers are found by forward hooks on a dry run with a small input (execution order); if the
dry run fails, the module registration order is used instead (``SizeReport.order`` says which).
Sizes are then propagated arithmetically along that chain — for each axis separately, so
non-square inputs ``(height, width)`` are supported.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn

from ..inference import dry_run

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
]

Size = tuple[int, int]


def _pair(value: object, name: str, layer: str) -> tuple[int, int]:
    if isinstance(value, bool):
        raise TypeError(f"{layer}: {name} must be an int or a pair of ints, got {value!r}")
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, Sequence) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return (int(value[0]), int(value[1]))
    if isinstance(value, Sequence) and len(value) == 1 and isinstance(value[0], int):
        return (int(value[0]), int(value[0]))
    if isinstance(value, Sequence) and len(value) == 3 and all(isinstance(v, int) for v in value):
        # 3-d layers on group signals (B, C, |H|, Y, X): the last two axes are the plane
        return (int(value[1]), int(value[2]))
    raise TypeError(
        f"{layer}: {name} must be an int, a pair of ints or a triple (|H|, Y, X), got {value!r}"
    )


@dataclass(frozen=True)
class LayerSpec:
    """The size arithmetic of one spatial layer, per axis ``(height, width)``.

    Attributes:
        name: the module's qualified name in the model (``""`` for the model itself).
        type: the module's class name.
        kernel_size, stride, padding, dilation: per axis. ``padding`` is the left/top padding;
            ``same_asymmetric`` marks torch's ``padding="same"`` with an even effective kernel
            (one more pixel on the right/bottom).
        ceil_mode: torch pooling with ``ceil_mode=True``.
        kind: ``"window"`` (conv/pool arithmetic), ``"adaptive"`` (size reset to
            ``output_size``) or ``"global"`` (invariant output, ends the chain).
        output_size: for adaptive layers.
    """

    name: str
    type: str
    kernel_size: Size = (1, 1)
    stride: Size = (1, 1)
    padding: Size = (0, 0)
    dilation: Size = (1, 1)
    ceil_mode: bool = False
    same_asymmetric: bool = False
    kind: str = "window"
    output_size: Size | None = None

    @property
    def effective_kernel(self) -> Size:
        r""":math:`d(k-1)+1` per axis."""
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation))  # type: ignore[return-value]

    @property
    def subsamples(self) -> bool:
        """Whether the layer has a stride > 1 on some axis."""
        return self.kind == "window" and max(self.stride) > 1


def _spec_of(name: str, module: nn.Module) -> LayerSpec | None:
    """The :class:`LayerSpec` of ``module`` if it is a spatial layer, else ``None``."""
    layer = f"{type(module).__name__} {name!r}"
    out = getattr(module, "output_size", None)
    if "Adaptive" in type(module).__name__ and out is not None:
        size = _pair(out, "output_size", layer) if out is not None else None
        if size is not None and None in size:  # pragma: no cover - torch allows None entries
            return None
        return LayerSpec(name, type(module).__name__, kind="adaptive", output_size=size)
    if not all(hasattr(module, a) for a in ("kernel_size", "stride", "padding")):
        return None
    k = _pair(module.kernel_size, "kernel_size", layer)
    stride = module.stride if module.stride is not None else module.kernel_size
    s = _pair(stride, "stride", layer)
    d = _pair(getattr(module, "dilation", 1), "dilation", layer)
    pad = module.padding
    asym = False
    if isinstance(pad, str):
        if pad == "valid":
            p = (0, 0)
        elif pad == "same":
            eff = [dd * (kk - 1) + 1 for kk, dd in zip(k, d)]
            p = (int((eff[0] - 1) // 2), int((eff[1] - 1) // 2))
            asym = any(e % 2 == 0 for e in eff)
        else:
            raise ValueError(
                f"{layer}: padding must be an int, a pair or 'same'/'valid', got {pad!r}"
            )
    else:
        p = _pair(pad, "padding", layer)
    return LayerSpec(
        name,
        type(module).__name__,
        kernel_size=k,
        stride=s,
        padding=p,
        dilation=d,
        ceil_mode=bool(getattr(module, "ceil_mode", False)),
        same_asymmetric=asym,
    )


def spatial_layers(model: nn.Module) -> list[LayerSpec]:
    """The spatial layers of ``model`` in *registration* order (outermost only: a spatial layer
    nested inside another one, e.g. an attention conv inside an attentive conv, is described by
    its parent's attributes)."""
    specs: list[LayerSpec] = []
    skip: list[str] = []
    for name, module in model.named_modules():
        if any(name.startswith(prefix + ".") for prefix in skip):
            continue
        spec = _spec_of(name, module)
        if spec is not None:
            specs.append(spec)
            skip.append(name)
    return specs


def trace_spatial_layers(model: nn.Module, x: Tensor) -> list[tuple[LayerSpec, Size, Size | None]]:
    """Dry-run ``model(x)`` with forward hooks and list the outermost spatial layers in execution
    order (first call of each), plus layers whose output is an invariant ``(B, F)``.

    The model is run in eval mode under ``torch.no_grad()`` (BatchNorm statistics untouched) and
    its training flags are restored.

    Returns:
        ``[(spec, incoming (H, W), outgoing (H, W) or None for invariants), ...]``.
    """
    calls: list[tuple[LayerSpec, Size, Size | None]] = []
    outer_stack: list[bool] = []  # per running hooked module: was it outermost?
    active = [0]  # number of spatial layers currently running
    seen: set[str] = set()
    handles = []

    def pre(spec: LayerSpec | None):
        def hook(module, args):
            outer_stack.append(active[0] == 0)
            if spec is not None:
                active[0] += 1

        return hook

    def post(name: str, spec: LayerSpec | None):
        def hook(module, args, output):
            outer = outer_stack.pop()
            if spec is not None:
                active[0] -= 1
            inp = args[0] if args and isinstance(args[0], Tensor) else None
            if not outer or name in seen or inp is None or inp.dim() < 4:
                return
            if not isinstance(output, Tensor):
                return
            if spec is not None:
                seen.add(name)
                out_hw = tuple(output.shape[-2:]) if output.dim() >= 4 else None
                calls.append((spec, tuple(inp.shape[-2:]), out_hw))  # type: ignore[arg-type]
            elif output.dim() == 2:
                seen.add(name)
                inv = LayerSpec(name, type(module).__name__, kind="global")
                calls.append((inv, tuple(inp.shape[-2:]), None))  # type: ignore[arg-type]

        return hook

    for name, module in model.named_modules():
        spec = _spec_of(name, module)
        leaf = next(iter(module.children()), None) is None
        if spec is None and not leaf:
            continue
        handles.append(module.register_forward_pre_hook(pre(spec)))
        handles.append(module.register_forward_hook(post(name, spec)))
    try:
        dry_run(model, x)
    finally:
        for h in handles:
            h.remove()
    return calls


def _step_axis(n: int, spec: LayerSpec, axis: int) -> tuple[int | None, bool, str]:
    """Outgoing size (``None`` if the input is too small), exactness and a reason, one axis."""
    k, s, p = spec.effective_kernel[axis], spec.stride[axis], spec.padding[axis]
    span = n + 2 * p + (1 if spec.same_asymmetric else 0) - k
    if span < 0:
        return None, False, f"kernel {k} larger than padded input {n + 2 * p}"
    if spec.ceil_mode:
        out = -(-span // s) + 1
        if (out - 1) * s >= n + p:
            out -= 1
    else:
        out = span // s + 1
    if spec.same_asymmetric and s == 1:
        return out, False, "padding='same' with an even kernel pads asymmetrically"
    if span % s:
        return out, False, f"(n + 2p - k) mod s = ({n} + {2 * p} - {k}) mod {s} = {span % s} != 0"
    return out, True, ""


@dataclass
class LayerStep:
    """One layer of a size trace (see :meth:`SizeReport.explain`)."""

    name: str
    type: str
    incoming: Size
    outgoing: Size | None
    kernel_size: Size
    stride: Size
    padding: Size
    dilation: Size
    ceil_mode: bool
    exact: bool
    reason: str = ""

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return asdict(self)


def propagate(specs: Sequence[LayerSpec], size: int | Size) -> list[LayerStep]:
    r"""Propagate ``size`` through ``specs`` (in order), checking
    :math:`(n + 2p - k') \bmod s = 0` on each axis at each layer. Stops after the first layer
    the input is too small for, or at a global (invariant) layer."""
    hw = _as_size(size, "size")
    steps: list[LayerStep] = []
    for spec in specs:
        if spec.kind == "global":
            steps.append(_step(spec, hw, None, True, "invariant output ends the spatial chain"))
            break
        if spec.kind == "adaptive":
            assert spec.output_size is not None
            steps.append(_step(spec, hw, spec.output_size, True, ""))
            hw = spec.output_size
            continue
        outs, exact, reasons = [], True, []
        for axis, label in ((0, "height"), (1, "width")):
            o, ok, why = _step_axis(hw[axis], spec, axis)
            outs.append(o)
            if not ok:
                exact = False
                reasons.append(f"{label}: {why}")
        if spec.ceil_mode and not exact:
            reasons.append("ceil_mode adds a cut window on the right/bottom")
        out = None if None in outs else (int(outs[0]), int(outs[1]))
        steps.append(_step(spec, hw, out, exact, "; ".join(reasons)))
        if out is None:
            break
        hw = out
    return steps


def _step(spec: LayerSpec, hw: Size, out: Size | None, exact: bool, reason: str) -> LayerStep:
    return LayerStep(
        spec.name,
        spec.type,
        hw,
        out,
        spec.kernel_size,
        spec.stride,
        spec.padding,
        spec.dilation,
        spec.ceil_mode,
        exact,
        reason,
    )


def _as_size(size: object, name: str) -> Size:
    if isinstance(size, bool):
        raise TypeError(f"{name} must be an int or (height, width), got {size!r}")
    if isinstance(size, int):
        hw = (size, size)
    elif isinstance(size, Sequence) and len(size) == 2 and all(isinstance(v, int) for v in size):
        hw = (int(size[0]), int(size[1]))
    else:
        raise TypeError(f"{name} must be an int or (height, width), got {size!r}")
    if min(hw) < 1:
        raise ValueError(f"{name} must be positive, got {size!r}")
    return hw


@dataclass
class SizeExplanation:
    """Why a size is or is not exact: the full trace, the first breaking layer and the nearest
    exact sizes below and above (``None`` if there is none in the searched range)."""

    size: Size
    exact: bool
    steps: list[LayerStep]
    breaking: LayerStep | None
    nearest_below: int | Size | None
    nearest_above: int | Size | None

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {
            "size": list(self.size),
            "exact": self.exact,
            "steps": [s.to_dict() for s in self.steps],
            "breaking": None if self.breaking is None else self.breaking.to_dict(),
            "nearest_below": self.nearest_below,
            "nearest_above": self.nearest_above,
        }

    def __str__(self) -> str:
        lines = [f"input {self.size[0]}x{self.size[1]}: {'EXACT' if self.exact else 'NOT exact'}"]
        lines.append(_steps_table(self.steps))
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


def _fmt(v: object) -> str:
    if isinstance(v, tuple) and len(v) == 2 and v[0] == v[1]:
        return str(v[0])
    if v is None:
        return "-"
    if isinstance(v, tuple):
        return "x".join(str(a) for a in v)
    return str(v)


def _steps_table(steps: Sequence[LayerStep]) -> str:
    head = ("layer", "type", "in", "k", "s", "p", "d", "out", "exact")
    rows = [
        (
            s.name or "<model>",
            s.type + (" (ceil)" if s.ceil_mode else ""),
            _fmt(s.incoming),
            _fmt(s.kernel_size),
            _fmt(s.stride),
            _fmt(s.padding),
            _fmt(s.dilation),
            _fmt(s.outgoing),
            "yes" if s.exact else "NO",
        )
        for s in steps
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*r) for r in [head, *rows])


@dataclass
class SizeReport:
    """Result of :func:`exact_input_sizes`.

    Attributes:
        layers: the spatial layers, in the order used.
        order: ``"execution"`` (dry run with hooks) or ``"registration"`` (fallback).
        sizes: the candidate sizes examined (ints are square sizes).
        exact: the candidate sizes that keep exact equivariance.
        note: why the fallback was used, or a consistency warning.
    """

    layers: list[LayerSpec]
    order: str
    sizes: list[int | Size]
    exact: list[int | Size]
    note: str = ""
    _exact_set: set = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self._exact_set = {_as_size(s, "size") for s in self.exact}

    def is_exact(self, size: int | Size) -> bool:
        """Whether ``size`` keeps exact equivariance at every subsampling layer."""
        steps = propagate(self.layers, size)
        return _valid(steps) and all(s.exact for s in steps)

    def explain(self, size: int | Size) -> SizeExplanation:
        """Per-layer trace for ``size``, the first breaking layer and the nearest exact sizes.
        For an int, neighbours are square ints; for ``(h, w)`` each axis is moved on its own
        (the rule is separable over the axes)."""
        hw = _as_size(size, "size")
        steps = propagate(self.layers, hw)
        valid = _valid(steps)
        breaking = next((s for s in steps if not s.exact), None)
        exact = valid and breaking is None
        if not valid and breaking is None:  # pragma: no cover - too small is reported as a step
            breaking = steps[-1] if steps else None
        below = above = None
        if not exact:
            below, above = self._nearest(size)
        return SizeExplanation(hw, exact, steps, breaking, below, above)

    def _nearest(self, size: int | Size) -> tuple[int | Size | None, int | Size | None]:
        """Nearest exact sizes below/above. The rule acts on each axis separately, so for a
        pair ``(h, w)`` each inexact axis gets its own nearest exact value (an exact axis is
        kept; ``None`` if an axis has none)."""
        if isinstance(size, int):
            return self._nearest_axis(size)
        h, w = _as_size(size, "size")
        (hb, ha), (wb, wa) = (
            (n, n) if _safe_exact(self, n) else self._nearest_axis(n) for n in (h, w)
        )
        below = None if hb is None or wb is None else (hb, wb)
        above = None if ha is None or wa is None else (ha, wa)
        return below, above

    def _nearest_axis(self, n: int) -> tuple[int | None, int | None]:
        below = next((m for m in range(n - 1, 0, -1) if _safe_exact(self, m)), None)
        above = next((m for m in range(n + 1, max(1024, 4 * n)) if _safe_exact(self, m)), None)
        return below, above

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {
            "order": self.order,
            "note": self.note,
            "layers": [asdict(s) for s in self.layers],
            "exact": [list(s) if isinstance(s, tuple) else s for s in self.exact],
        }

    def __str__(self) -> str:
        ex = self.exact
        shown = ", ".join(_fmt(s) for s in ex[:30]) + (", ..." if len(ex) > 30 else "")
        return (
            f"{len(self.layers)} spatial layers ({self.order} order); "
            f"{len(ex)}/{len(self.sizes)} candidate sizes exact: {shown}"
        )


def _valid(steps: Sequence[LayerStep]) -> bool:
    return not steps or steps[-1].outgoing is not None or steps[-1].reason.startswith("invariant")


def _safe_exact(report: SizeReport, size: int | Size) -> bool:
    try:
        return report.is_exact(size)
    except (TypeError, ValueError):
        return False


def _first_channels(model: nn.Module) -> int:
    for module in model.modules():
        c = getattr(module, "in_channels", None)
        if isinstance(c, int):
            return c
    return 1


def _dry_input(model: nn.Module, input_shape_hint: Sequence[int] | None) -> list[Tensor]:
    if input_shape_hint is not None:
        shape = tuple(int(v) for v in input_shape_hint)
        if len(shape) == 3:
            shape = (1, *shape)
        if len(shape) not in (4, 5):
            raise ValueError(
                f"input_shape_hint must be (C, Y, X), (B, C, Y, X) or (B, C, |H|, Y, X), "
                f"got {input_shape_hint!r}"
            )
        return [torch.zeros(shape)]
    c = _first_channels(model)
    return [torch.zeros(1, c, n, n) for n in (28, 32, 64, 96, 128, 224)]


def _layers_for(
    model: nn.Module, input_shape_hint: Sequence[int] | None
) -> tuple[list[LayerSpec], str, str]:
    errors = []
    param = next(model.parameters(), None)
    for x in _dry_input(model, input_shape_hint):
        if param is not None:
            x = x.to(device=param.device, dtype=param.dtype)
        try:
            calls = trace_spatial_layers(model, x)
        except Exception as exc:  # the model may reject this size: try the next one
            errors.append(f"{tuple(x.shape)}: {type(exc).__name__}: {exc}")
            continue
        specs = [c[0] for c in calls]
        steps = propagate(specs, tuple(x.shape[-2:]))
        observed = [c[1] for c in calls]
        note = ""
        if [s.incoming for s in steps] != observed[: len(steps)]:
            note = (
                "the arithmetic size chain does not reproduce the sizes seen in the dry run "
                f"(predicted {[s.incoming for s in steps]}, seen {observed}); the model is not a "
                "plain chain of windowed layers, treat the prediction with care"
            )
        return specs, "execution", note
    return (
        spatial_layers(model),
        "registration",
        "dry run failed, registration order used: " + " | ".join(errors),
    )


def exact_input_sizes(
    model: nn.Module,
    sizes: Iterable[int | Size] = range(8, 257),
    input_shape_hint: Sequence[int] | None = None,
) -> SizeReport:
    r"""The input sizes for which every subsampling layer of ``model`` satisfies
    :math:`(n + 2p - k') \bmod s = 0` (on both axes, sizes propagated through the network) and
    the input is large enough for every layer.

    Args:
        model: any ``nn.Module``; spatial layers are modules with ``kernel_size``, ``stride`` and
            ``padding`` attributes (torch convs/pools, gattn layers), adaptive pools, and layers
            returning invariants ``(B, F)``.
        sizes: candidate sizes, ints (square) or ``(height, width)`` pairs.
        input_shape_hint: shape of the dry-run input, ``(C, Y, X)`` or ``(B, C, Y, X)``
            (``(B, C, |H|, Y, X)`` for models taking group signals). Default: one image channel
            count read off the first ``in_channels`` attribute, sizes 28, 32, 64, ... tried in turn.

    Returns:
        A :class:`SizeReport`; ``report.explain(n)`` says which layer breaks ``n``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    specs, order, note = _layers_for(model, input_shape_hint)
    candidates = list(sizes)
    exact = []
    for s in candidates:
        steps = propagate(specs, s)
        if _valid(steps) and all(st.exact for st in steps):
            exact.append(s)
    return SizeReport(specs, order, candidates, exact, note)


def explain_size(
    model: nn.Module | SizeReport,
    size: int | Size,
    input_shape_hint: Sequence[int] | None = None,
) -> SizeExplanation:
    """Shortcut for ``exact_input_sizes(model).explain(size)`` (``model`` may already be a
    :class:`SizeReport`)."""
    if isinstance(model, SizeReport):
        return model.explain(size)
    report = exact_input_sizes(model, input_shape_hint=input_shape_hint)
    return report.explain(size)

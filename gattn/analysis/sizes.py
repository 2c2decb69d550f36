r"""Which input sizes keep a network exactly equivariant (docs/analysis.md, [UAE]).

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

The layers are found on a dry run with a small input (execution order): forward hooks see the
*modules* with window attributes, and a :class:`torch.overrides.TorchFunctionMode` sees the
*functional* windowed calls made outside them (``F.max_pool2d``, ``F.avg_pool2d``, strided
``F.conv2d``, ``F.unfold``, adaptive pools, ...). The same mode follows the data flow, so each
layer knows which earlier layer (or the input) produced its input — branches such as the
shortcut of a residual block get their own size. Subsampling that no torch function reports
(strided slicing ``x[..., ::2, ::2]``, ``as_strided``, ``Tensor.unfold``) is not seen; ``gattn
check`` catches it by comparing the prediction with the measured error (docs/analysis.md). If
the dry run fails, the module registration order is used instead (``SizeReport.order`` says
which) and functional calls are not seen. Sizes are then propagated arithmetically along the
layers — for each axis separately, so non-square inputs ``(height, width)`` are supported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

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
        source: index (in the layer list) of the layer whose output this layer reads, ``-1``
            for the model's input, ``None`` for "the previous layer in the list" (a plain
            chain, e.g. the registration-order fallback).
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
    source: int | None = None

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
    stride = module.stride if module.stride is not None else module.kernel_size
    return _window_spec(
        name,
        type(module).__name__,
        module.kernel_size,
        stride,
        module.padding,
        getattr(module, "dilation", 1),
        bool(getattr(module, "ceil_mode", False)),
    )


def _window_spec(
    name: str,
    kind: str,
    kernel_size: object,
    stride: object,
    padding: object,
    dilation: object,
    ceil_mode: bool,
    source: int | None = None,
) -> LayerSpec:
    """A windowed :class:`LayerSpec` from torch-style arguments (ints, pairs or triples,
    ``padding`` also ``"same"``/``"valid"``)."""
    layer = f"{kind} {name!r}"
    k = _pair(kernel_size, "kernel_size", layer)
    s = _pair(stride, "stride", layer)
    d = _pair(dilation, "dilation", layer)
    pad = padding
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
        kind,
        kernel_size=k,
        stride=s,
        padding=p,
        dilation=d,
        ceil_mode=ceil_mode,
        same_asymmetric=asym,
        source=source,
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


# functional windowed calls the tracer records: torch function -> (kind, argument names)
_CONV = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
_MAXPOOL = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
_AVGPOOL = ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad")
_LPPOOL = ("input", "norm_type", "kernel_size", "stride", "ceil_mode")
_ADAPTIVE = ("input", "output_size", "return_indices")
_UNFOLD = ("input", "kernel_size", "dilation", "padding", "stride")


def _functional_table() -> dict[Callable, tuple[str, str, tuple[str, ...]]]:
    entries = [
        ("conv2d", "conv", _CONV),
        ("conv3d", "conv", _CONV),
        ("max_pool2d", "pool", _MAXPOOL),
        ("max_pool3d", "pool", _MAXPOOL),
        ("max_pool2d_with_indices", "pool", _MAXPOOL),
        ("max_pool3d_with_indices", "pool", _MAXPOOL),
        ("avg_pool2d", "pool", _AVGPOOL),
        ("avg_pool3d", "pool", _AVGPOOL),
        ("lp_pool2d", "lppool", _LPPOOL),
        ("lp_pool3d", "lppool", _LPPOOL),
        ("adaptive_max_pool2d", "adaptive", _ADAPTIVE),
        ("adaptive_avg_pool2d", "adaptive", _ADAPTIVE),
        ("adaptive_max_pool3d", "adaptive", _ADAPTIVE),
        ("adaptive_avg_pool3d", "adaptive", _ADAPTIVE),
        ("unfold", "unfold", _UNFOLD),
    ]
    table: dict[Callable, tuple[str, str, tuple[str, ...]]] = {}
    for name, kind, params in entries:
        for owner in (F, torch):
            fn = getattr(owner, name, None)
            if callable(fn):
                table.setdefault(fn, (name, kind, params))
    return table


_FUNCTIONAL = _functional_table()


def _functional_spec(
    name: str,
    fname: str,
    kind: str,
    params: tuple[str, ...],
    args: tuple,
    kwargs: dict,
    out: object,
) -> LayerSpec | None:
    """The :class:`LayerSpec` of one functional windowed call, or ``None`` if it is not a
    plane (2-d or 3-d with the plane last) operation on an activation."""
    bound = dict(zip(params, args))
    bound.update(kwargs)
    x = bound.get("input")
    y = out[0] if isinstance(out, (tuple, list)) and out else out
    if not isinstance(x, Tensor) or x.dim() < 3 or not isinstance(y, Tensor):
        return None
    label = f"F.{fname}"
    if kind == "adaptive":
        if y.dim() < 3:
            return None
        hw = (int(y.shape[-2]), int(y.shape[-1]))
        return LayerSpec(name, label, kind="adaptive", output_size=hw)
    if kind == "conv":
        weight = bound.get("weight")
        if not isinstance(weight, Tensor) or weight.dim() < 4:
            return None
        k: object = tuple(int(v) for v in weight.shape[-2:])
        stride, padding = bound.get("stride", 1), bound.get("padding", 0)
        dilation, ceil = bound.get("dilation", 1), False
    else:
        k = bound.get("kernel_size")
        stride = bound.get("stride")
        if stride is None or (isinstance(stride, Sequence) and len(stride) == 0):
            stride = k if kind != "unfold" else 1
        padding = bound.get("padding", 0)
        dilation = bound.get("dilation", 1)
        ceil = bool(bound.get("ceil_mode", False))
    return _window_spec(name, label, k, stride, padding, dilation, ceil)


class _Tracer(TorchFunctionMode):
    """Follows the data flow of one forward pass: every tensor derived from the input carries
    the index of the last spatial layer it came through (``-1``: the input itself), and
    functional windowed calls made outside spatial modules are recorded as layers."""

    def __init__(self) -> None:
        super().__init__()
        self.origin: dict[int, tuple[Tensor, int]] = {}
        self.calls: list[tuple[LayerSpec, Size, Size | None]] = []
        self.stack: list[str] = []  # names of the running modules
        self.active = 0  # spatial modules currently running
        self.counts: dict[str, int] = {}

    def source(self, obj: object) -> int | None:
        best = None
        for leaf in tree_flatten(obj)[0]:
            if isinstance(leaf, Tensor):
                hit = self.origin.get(id(leaf))
                if hit is not None and hit[0] is leaf:
                    best = hit[1] if best is None else max(best, hit[1])
        return best

    def mark(self, obj: object, source: int) -> None:
        for leaf in tree_flatten(obj)[0]:
            if isinstance(leaf, Tensor):
                self.origin[id(leaf)] = (leaf, source)

    def unique(self, name: str) -> str:
        n = self.counts.get(name, 0) + 1
        self.counts[name] = n
        return name if n == 1 else f"{name}#{n}"

    def add(self, spec: LayerSpec, source: int, inp: Tensor, out: object) -> int:
        out_hw = tuple(out.shape[-2:]) if isinstance(out, Tensor) and out.dim() >= 3 else None
        if spec.type == "F.unfold":  # (B, C k k, L): the output is not a plane
            out_hw = None
        spec = LayerSpec(**{**asdict(spec), "source": source})
        self.calls.append((spec, tuple(inp.shape[-2:]), out_hw))  # type: ignore[arg-type]
        return len(self.calls) - 1

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: D105
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        source = self.source((args, kwargs))
        if source is None:  # not derived from the input (weights, masks, constants)
            return out
        try:
            entry = _FUNCTIONAL.get(func)
        except TypeError:  # unhashable callable
            entry = None
        if entry is not None and self.active == 0:
            fname, kind, params = entry
            owner = self.stack[-1] if self.stack else ""
            name = self.unique(f"{owner}.{fname}()" if owner else f"{fname}()")
            spec = _functional_spec(name, fname, kind, params, tuple(args), kwargs, out)
            inp = args[0] if args else kwargs.get("input")
            if spec is not None and isinstance(inp, Tensor):
                y = out[0] if isinstance(out, (tuple, list)) else out
                source = self.add(spec, source, inp, y)
        self.mark(out, source)
        return out


def trace_spatial_layers(model: nn.Module, x: Tensor) -> list[tuple[LayerSpec, Size, Size | None]]:
    """Dry-run ``model(x)`` and list its spatial layers in execution order: the outermost
    modules with window attributes (forward hooks), the functional windowed calls made outside
    them (``F.max_pool2d``, ``F.conv2d``, ... seen by a :class:`torch.overrides.TorchFunctionMode`)
    and the layers whose output is an invariant ``(B, F)``. Each call is one entry (a module run
    twice appears as ``name`` and ``name#2``); each entry's ``spec.source`` is the entry whose
    output it reads (``-1``: the input), found by following the data flow.

    The model is run in eval mode under ``torch.no_grad()`` (BatchNorm statistics untouched) and
    its training flags are restored.

    Args:
        model: the network.
        x: a dry-run input.

    Returns:
        ``[(spec, incoming (H, W), outgoing (H, W) or None for invariants), ...]``.
    """
    tracer = _Tracer()
    outer_stack: list[bool] = []  # per running spatial module: is it outermost?
    handles = []

    def pre(name: str, spec: LayerSpec | None):
        def hook(module, args):
            tracer.stack.append(name)
            if spec is not None:
                outer_stack.append(tracer.active == 0)
                tracer.active += 1

        return hook

    def post(name: str, spec: LayerSpec | None, leaf: bool):
        def hook(module, args, output):
            if tracer.stack:
                tracer.stack.pop()
            outer = True
            if spec is not None:
                outer = outer_stack.pop()
                tracer.active -= 1
            if not outer or tracer.active > 0:
                return
            inp = args[0] if args and isinstance(args[0], Tensor) else None
            if inp is None or inp.dim() < 4 or not isinstance(output, Tensor):
                return
            source = tracer.source(inp)
            if source is None:
                return
            if spec is not None:
                index = tracer.add(
                    LayerSpec(**{**asdict(spec), "name": tracer.unique(name)}), source, inp, output
                )
                tracer.mark(output, index)
            elif leaf and output.dim() == 2:
                inv = LayerSpec(tracer.unique(name), type(module).__name__, kind="global")
                tracer.mark(output, tracer.add(inv, source, inp, None))

        return hook

    for name, module in model.named_modules():
        spec = _spec_of(name, module)
        leaf = next(iter(module.children()), None) is None
        handles.append(module.register_forward_pre_hook(pre(name, spec)))
        handles.append(module.register_forward_hook(post(name, spec, leaf)))
    try:
        with tracer:
            tracer.mark(x, -1)
            dry_run(model, x)
    finally:
        for h in handles:
            h.remove()
    return tracer.calls


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
    kind: str = "window"

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return asdict(self)


def propagate(specs: Sequence[LayerSpec], size: int | Size) -> list[LayerStep]:
    r"""Propagate ``size`` through ``specs`` (in order), checking
    :math:`(n + 2p - k') \bmod s = 0` on each axis at each layer. Each layer reads the output
    of ``spec.source`` (the input for ``-1``, the previous layer for ``None``). Stops after the
    first layer the input is too small for, and at a global (invariant) layer of a plain chain.

    Args:
        specs: the layers, e.g. ``exact_input_sizes(model).layers``.
        size: the input size, an int (square) or ``(height, width)``.

    Returns:
        One :class:`LayerStep` per layer reached.

    Raises:
        TypeError, ValueError: a malformed ``size``, or a ``source`` that is not an earlier
            layer.
    """
    hw = _as_size(size, "size")
    steps: list[LayerStep] = []
    outs: list[Size | None] = []
    for i, spec in enumerate(specs):
        if spec.source is None:
            incoming = outs[-1] if outs else hw
            if incoming is None:  # a plain chain ended at an invariant
                break
        elif spec.source == -1:
            incoming = hw
        elif 0 <= spec.source < i:
            incoming = outs[spec.source]
            if incoming is None:
                break
        else:
            raise ValueError(
                f"layer {spec.name!r}: source must be -1 or an earlier layer index, got "
                f"{spec.source} at position {i}"
            )
        if spec.kind == "global":
            steps.append(
                _step(spec, incoming, None, True, "invariant output ends the spatial chain")
            )
            outs.append(None)
            continue
        if spec.kind == "adaptive":
            assert spec.output_size is not None
            steps.append(_step(spec, incoming, spec.output_size, True, ""))
            outs.append(spec.output_size)
            continue
        parts, exact, reasons = [], True, []
        for axis, label in ((0, "height"), (1, "width")):
            o, ok, why = _step_axis(incoming[axis], spec, axis)
            parts.append(o)
            if not ok:
                exact = False
                reasons.append(f"{label}: {why}")
        if spec.ceil_mode and not exact:
            reasons.append("ceil_mode adds a cut window on the right/bottom")
        out = None if None in parts else (int(parts[0]), int(parts[1]))  # type: ignore[arg-type]
        steps.append(_step(spec, incoming, out, exact, "; ".join(reasons)))
        if out is None:
            break
        outs.append(out)
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
        spec.kind,
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
        verdict = "EXACT" if self.exact else "NOT exact"
        lines = [f"input {self.size[0]}x{self.size[1]}: size rule predicts {verdict}"]
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
        kinds = "modules and functional calls" if self.order == "execution" else "modules"
        shown = ", ".join(_fmt(s) for s in ex[:30]) + (", ..." if len(ex) > 30 else "")
        return (
            f"{len(self.layers)} spatial layers ({kinds}, {self.order} order); "
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
        # the hinted size first, then the default sizes with the hinted leading axes
        others = [n for n in (28, 32, 64, 96, 128, 224) if (n, n) != shape[-2:]]
        return [torch.zeros(shape)] + [torch.zeros(*shape[:-2], n, n) for n in others]
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
        steps = propagate(specs, tuple(int(v) for v in x.shape[-2:]))  # type: ignore[arg-type]
        # outgoing sizes are compared where the output is a plane (not invariants, F.unfold)
        predicted = [
            (s.incoming, s.outgoing if c[2] is not None else None) for s, c in zip(steps, calls)
        ]
        observed = [(c[1], c[2]) for c in calls]
        note = ""
        if predicted != observed:
            wrong = [
                f"{c[0].name or '<model>'}: predicted {p[0]} -> {p[1]}, seen {o[0]} -> {o[1]}"
                for c, p, o in zip(calls, predicted, observed)
                if p != o
            ]
            if len(predicted) != len(observed):
                wrong.append(f"{len(predicted)} layers reached, {len(observed)} seen")
            note = (
                f"the size arithmetic does not reproduce the sizes seen in the dry run at "
                f"{x.shape[-2]}x{x.shape[-1]} ({'; '.join(wrong[:3])}); the model resizes its "
                "activations by means the analysis does not model, treat the prediction with care"
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

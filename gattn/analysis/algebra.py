r"""The size arithmetic of windowed layers, per spatial axis (docs/analysis.md, [UAE]).

A layer with kernel :math:`k`, stride :math:`s`, padding :math:`p` and dilation :math:`d`
(effective kernel :math:`k' = d(k-1)+1`) reads the windows starting at :math:`0, s, 2s, \dots`
of the padded axis of length :math:`n + 2p`. The sampled grid is symmetric about the centre of
the axis — so a mirror of that axis (and, when all axes agree, a rotation) maps it onto itself —
iff

.. math:: (n + 2p - k') \bmod s = 0 \quad\text{and}\quad n + 2p \ge k' ,

with the output size :math:`n' = \lfloor (n+2p-k')/s \rfloor + 1`. With ``ceil_mode`` (torch
pools) the output size is :math:`\lceil (n+2p-k')/s \rceil + 1` (minus one if the last window
would start in the right padding); the extra window is cut asymmetrically, so the exactness rule
is the same. Stride-1 layers are always exact, except torch's ``padding="same"`` with an even
effective kernel, which pads one pixel more on the right. Adaptive pools are symmetric for
every size and reset the size to their ``output_size``; a layer that outputs invariants
(``(B, F)``) ends the spatial chain.

Everything here works for ``d`` spatial axes, ``d`` in 1, 2, 3 (tensor-axis order: ``(X,)``,
``(Y, X)``, ``(Z, Y, X)``); each axis is checked on its own, so a size can be exact on one axis
and not on another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

__all__ = ["Size", "LayerSpec", "LayerStep", "axis_names", "as_size", "per_axis", "propagate"]

Size = tuple[int, ...]
"""A spatial size or per-axis parameter, one int per spatial axis in tensor-axis order."""

_AXES = {1: ("x",), 2: ("height", "width"), 3: ("depth", "height", "width")}


def axis_names(dims: int) -> tuple[str, ...]:
    """Names of the spatial axes in tensor-axis order (``("height", "width")`` for images)."""
    return _AXES[dims]


def check_dims(dims: object, name: str = "dims") -> int:
    """``dims`` if it is 1, 2 or 3, else a ``ValueError`` naming ``name``."""
    if isinstance(dims, bool) or dims not in (1, 2, 3):
        raise ValueError(f"{name} must be 1, 2 or 3 (spatial dimensions), got {name}={dims!r}")
    return int(dims)  # type: ignore[call-overload]


def per_axis(value: object, name: str, layer: str, dims: int) -> Size:
    """A torch-style layer argument as one int per spatial axis.

    An int applies to every axis; ``d`` ints are taken as given; a single-entry sequence is
    broadcast; a longer sequence is a layer that also windows leading (non-spatial) axes, e.g. a
    ``MaxPool3d((1, 2, 2))`` on group signals ``(B, C, |H|, Y, X)`` — its last ``d`` entries
    are the spatial ones.

    Raises:
        TypeError: anything else (naming ``layer`` and ``name``).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return (int(value),) * dims
    if (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        if len(value) == 1:
            return (int(value[0]),) * dims
        if len(value) >= dims:
            return tuple(int(v) for v in value[len(value) - dims :])
    raise TypeError(
        f"{layer}: {name} must be an int or {dims} ints (one per spatial axis, d = {dims}), "
        f"got {value!r}"
    )


def as_size(size: object, dims: int, name: str = "size") -> Size:
    """``size`` as ``dims`` positive ints: an int is the same size on every axis.

    Raises:
        TypeError: not an int or a sequence of ``dims`` ints.
        ValueError: a size below 1.
    """
    shape = {1: "(x,)", 2: "(height, width)", 3: "(depth, height, width)"}[dims]
    if isinstance(size, int) and not isinstance(size, bool):
        out: Size = (int(size),) * dims
    elif (
        isinstance(size, Sequence)
        and not isinstance(size, str)
        and len(size) == dims
        and all(isinstance(v, int) and not isinstance(v, bool) for v in size)
    ):
        out = tuple(int(v) for v in size)
    else:
        raise TypeError(f"{name} must be an int or {shape} ({dims} ints), got {size!r}")
    if min(out) < 1:
        raise ValueError(f"{name} must be positive, got {size!r}")
    return out


@dataclass(frozen=True)
class LayerSpec:
    """The size arithmetic of one spatial layer, per spatial axis (tensor-axis order).

    Attributes:
        name: the module's qualified name in the model (``""`` for the model itself).
        type: the module's class name (``F.<name>`` for a functional call).
        kernel_size, stride, padding, dilation: one int per spatial axis. ``padding`` is the
            left padding; ``same_asymmetric`` marks torch's ``padding="same"`` with an even
            effective kernel (one more pixel on the right).
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
    def dims(self) -> int:
        """The number of spatial axes the layer's arithmetic describes."""
        if self.kind == "adaptive" and self.output_size is not None:
            return len(self.output_size)
        return len(self.kernel_size)

    @property
    def effective_kernel(self) -> Size:
        r""":math:`d(k-1)+1` per axis."""
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation))

    @property
    def subsamples(self) -> bool:
        """Whether the layer has a stride > 1 on some axis."""
        return self.kind == "window" and max(self.stride) > 1


@dataclass
class LayerStep:
    """One layer of a size trace (see :meth:`SizeReport.explain`).

    Attributes:
        axes_exact: per spatial axis, whether this layer's sampling grid is symmetric there.
        exact: all axes exact.
    """

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
    axes_exact: tuple[bool, ...] = ()

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return asdict(self)


def step_axis(n: int, spec: LayerSpec, axis: int) -> tuple[int | None, bool, str]:
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


def specs_dims(specs: Sequence[LayerSpec], default: int = 2) -> int:
    """The spatial dimensionality of a layer list (``default`` if no layer says)."""
    for spec in specs:
        if spec.kind != "global" and spec.dims in (1, 2, 3):
            return spec.dims
    return default


def propagate(
    specs: Sequence[LayerSpec], size: int | Sequence[int], dims: int | None = None
) -> list[LayerStep]:
    r"""Propagate ``size`` through ``specs`` (in order), checking
    :math:`(n + 2p - k') \bmod s = 0` on each axis at each layer. Each layer reads the output
    of ``spec.source`` (the input for ``-1``, the previous layer for ``None``). Stops after the
    first layer the input is too small for, and at a global (invariant) layer of a plain chain.

    Args:
        specs: the layers, e.g. ``exact_input_sizes(model).layers``.
        size: the input size, an int (every axis) or one int per spatial axis.
        dims: the number of spatial axes (default: read off ``specs``, else ``len(size)``,
            else 2).

    Returns:
        One :class:`LayerStep` per layer reached.

    Raises:
        TypeError, ValueError: a malformed ``size``, a layer of another dimensionality, or a
            ``source`` that is not an earlier layer.
    """
    if dims is None:
        fallback = len(size) if isinstance(size, Sequence) and len(size) in (1, 2, 3) else 2
        dims = specs_dims(specs, fallback)
    dims = check_dims(dims)
    start = as_size(size, dims)
    steps: list[LayerStep] = []
    outs: list[Size | None] = []
    for i, spec in enumerate(specs):
        if spec.source is None:
            incoming = outs[-1] if outs else start
            if incoming is None:  # a plain chain ended at an invariant
                break
        elif spec.source == -1:
            incoming = start
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
            why = "invariant output ends the spatial chain"
            steps.append(_step(spec, incoming, None, (True,) * dims, why))
            outs.append(None)
            continue
        if spec.dims != dims:
            raise ValueError(
                f"layer {spec.name!r} ({spec.type}) describes {spec.dims} spatial axes, the "
                f"input has {dims}"
            )
        if spec.kind == "adaptive":
            assert spec.output_size is not None
            steps.append(_step(spec, incoming, spec.output_size, (True,) * dims, ""))
            outs.append(spec.output_size)
            continue
        parts, flags, reasons = [], [], []
        for axis, label in enumerate(axis_names(dims)):
            o, ok, why = step_axis(incoming[axis], spec, axis)
            parts.append(o)
            flags.append(ok)
            if not ok:
                reasons.append(f"{label}: {why}" if dims > 1 else why)
        if spec.ceil_mode and not all(flags):
            reasons.append("ceil_mode adds a cut window on the right")
        out = None if None in parts else tuple(int(v) for v in parts)  # type: ignore[arg-type]
        steps.append(_step(spec, incoming, out, tuple(flags), "; ".join(reasons)))
        if out is None:
            break
        outs.append(out)
    return steps


def _step(
    spec: LayerSpec, incoming: Size, out: Size | None, flags: tuple[bool, ...], reason: str
) -> LayerStep:
    return LayerStep(
        spec.name,
        spec.type,
        incoming,
        out,
        spec.kernel_size,
        spec.stride,
        spec.padding,
        spec.dilation,
        spec.ceil_mode,
        all(flags),
        reason,
        spec.kind,
        flags,
    )

"""Layer specs from module attributes and functional-call arguments (docs/analysis.md): the
window arithmetic (:class:`~gattn.analysis.algebra.LayerSpec`) of torch convs/pools in 1-D,
2-D and 3-D, gattn layers, adaptive pools and the functional windowed calls the tracer
records, for ``d`` spatial axes (the last ``d`` axes of every activation)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .algebra import LayerSpec, check_dims, per_axis

__all__ = [
    "FUNCTIONAL",
    "functional_spec",
    "op_rank",
    "spatial_layers",
    "spec_of",
    "too_few_axes",
    "window_spec",
]

_RANK = re.compile(r"([123])d(_with_indices)?$")


def op_rank(name: str) -> int | None:
    """Spatial axes of a torch op or module class (``"max_pool3d"`` -> 3), ``None`` if unsaid."""
    hit = _RANK.search(name.lower())
    return int(hit.group(1)) if hit else None


def window_spec(
    name: str,
    kind: str,
    kernel_size: object,
    stride: object,
    padding: object,
    dilation: object,
    ceil_mode: bool,
    dims: int,
) -> LayerSpec:
    """A windowed :class:`LayerSpec` from torch-style arguments (ints or per-axis tuples,
    ``padding`` also ``"same"``/``"valid"``) for ``dims`` spatial axes."""
    layer = f"{kind} {name!r}"
    k = per_axis(kernel_size, "kernel_size", layer, dims)
    s = per_axis(stride, "stride", layer, dims)
    d = per_axis(dilation, "dilation", layer, dims)
    asym = False
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(
                f"{layer}: padding must be an int, per-axis ints or 'same'/'valid', got {padding!r}"
            )
        eff = [dd * (kk - 1) + 1 for kk, dd in zip(k, d)]
        p = tuple((e - 1) // 2 for e in eff) if padding == "same" else (0,) * dims
        asym = padding == "same" and any(e % 2 == 0 for e in eff)
    else:
        p = per_axis(padding, "padding", layer, dims)
    return LayerSpec(name, kind, k, s, p, d, ceil_mode, asym)


def spec_of(name: str, module: nn.Module, dims: int) -> LayerSpec | None:
    """The :class:`LayerSpec` of ``module`` if it is a spatial layer, else ``None``."""
    cls = type(module).__name__
    out = getattr(module, "output_size", None)
    if "Adaptive" in cls and out is not None:
        size = per_axis(out, "output_size", f"{cls} {name!r}", dims)
        return LayerSpec(name, cls, kind="adaptive", output_size=size)
    if not all(hasattr(module, a) for a in ("kernel_size", "stride", "padding")):
        return None
    stride = module.stride if module.stride is not None else module.kernel_size
    return window_spec(
        name,
        cls,
        module.kernel_size,
        stride,
        module.padding,
        getattr(module, "dilation", 1),
        bool(getattr(module, "ceil_mode", False)),
        dims,
    )


def too_few_axes(module: nn.Module, dims: int) -> bool:
    """A torch window module with fewer spatial axes than ``dims`` (e.g. ``nn.MaxPool2d`` in a
    3-D network): its arithmetic cannot be one of the network's axes."""
    rank = op_rank(type(module).__name__) if type(module).__module__.startswith("torch.") else None
    return rank is not None and rank < dims


def spatial_layers(model: nn.Module, dims: int = 2) -> list[LayerSpec]:
    """The spatial layers of ``model`` in *registration* order (outermost only: a spatial layer
    nested inside another one, e.g. an attention conv inside an attentive conv, is described by
    its parent's attributes), for ``dims`` spatial axes."""
    dims = check_dims(dims)
    specs: list[LayerSpec] = []
    skip: list[str] = []
    for name, module in model.named_modules():
        if any(name.startswith(prefix + ".") for prefix in skip) or too_few_axes(module, dims):
            continue
        spec = spec_of(name, module, dims)
        if spec is not None:
            specs.append(spec)
            skip.append(name)
    return specs


# functional windowed calls the tracer records: torch function -> (name, kind, argument names)
_CONV = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
_MAXPOOL = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
_AVGPOOL = ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad")
_LPPOOL = ("input", "norm_type", "kernel_size", "stride", "ceil_mode")
_ADAPTIVE = ("input", "output_size", "return_indices")
_UNFOLD = ("input", "kernel_size", "dilation", "padding", "stride")


def _functional_table() -> dict[Callable, tuple[str, str, tuple[str, ...]]]:
    entries = [("unfold", "unfold", _UNFOLD)]
    for r in (1, 2, 3):
        entries += [
            (f"conv{r}d", "conv", _CONV),
            (f"max_pool{r}d", "pool", _MAXPOOL),
            (f"max_pool{r}d_with_indices", "pool", _MAXPOOL),
            (f"avg_pool{r}d", "pool", _AVGPOOL),
            (f"lp_pool{r}d", "lppool", _LPPOOL),
            (f"adaptive_max_pool{r}d", "adaptive", _ADAPTIVE),
            (f"adaptive_max_pool{r}d_with_indices", "adaptive", _ADAPTIVE),
            (f"adaptive_avg_pool{r}d", "adaptive", _ADAPTIVE),
        ]
    table: dict[Callable, tuple[str, str, tuple[str, ...]]] = {}
    for name, kind, params in entries:
        for owner in (F, torch):
            fn = getattr(owner, name, None)
            if callable(fn):
                table.setdefault(fn, (name, kind, params))
    return table


FUNCTIONAL = _functional_table()


def functional_spec(
    name: str,
    fname: str,
    kind: str,
    params: tuple[str, ...],
    call: tuple[tuple, dict],
    out: object,
    dims: int,
) -> LayerSpec | None:
    """The :class:`LayerSpec` of one functional windowed call ``call = (args, kwargs)``
    (``None``: not on an activation with ``dims`` spatial axes)."""
    args, kwargs = call
    bound = dict(zip(params, args))
    bound.update(kwargs)
    x = bound.get("input")
    y = out[0] if isinstance(out, (tuple, list)) and out else out
    if not isinstance(x, Tensor) or x.dim() < dims + 1 or not isinstance(y, Tensor):
        return None
    label = f"F.{fname}"
    if kind == "adaptive":
        if y.dim() < dims + 1:
            return None
        return LayerSpec(name, label, kind="adaptive", output_size=tuple(y.shape[-dims:]))
    if kind == "conv":
        weight = bound.get("weight")
        if not isinstance(weight, Tensor) or weight.dim() < dims + 2:
            return None
        k: object = tuple(int(v) for v in weight.shape[-dims:])
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
    return window_spec(name, label, k, stride, padding, dilation, ceil, dims)

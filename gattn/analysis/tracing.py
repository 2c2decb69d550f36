r"""Finding a network's subsampling layers on a dry run (docs/analysis.md).

Forward hooks see the *modules* with window attributes (``kernel_size``, ``stride``,
``padding``: torch convs/pools in 1-D, 2-D and 3-D, gattn layers) and adaptive pools; a
:class:`torch.overrides.TorchFunctionMode` sees the *functional* windowed calls made outside
them (``F.conv1d/2d/3d``, ``F.max_pool1d/2d/3d``, ``F.avg_pool*``, ``F.lp_pool*``, adaptive
pools, ``F.unfold``). The same mode follows the data flow, so each layer knows which earlier
layer (or the input) produced its input — branches such as the shortcut of a residual block get
their own size.

The number ``d`` of spatial axes is given by the caller (it comes from the group, see
:func:`gattn.analysis.sizes.model_dims`): the last ``d`` axes of every activation are space, so
a ``MaxPool3d((1, 2, 2))`` on 2-D group signals ``(B, C, |H|, Y, X)`` is a 2×2 pool. A windowed
op with fewer spatial axes than ``d`` (say ``F.max_pool2d`` on slices of a volume) is not
modelled and is reported. Subsampling that no torch function reports (strided slicing,
``as_strided``, ``Tensor.unfold``) is not seen; ``gattn check`` catches it by comparing the
prediction with the measured error.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from ..inference import dry_run
from .algebra import LayerSpec, Size, check_dims
from .windows import FUNCTIONAL, functional_spec, op_rank, spatial_layers, spec_of, too_few_axes

__all__ = ["Trace", "spatial_layers", "trace", "trace_spatial_layers"]


@dataclass
class Trace:
    """What a dry run saw: the spatial layers (``(spec, incoming, outgoing or None)``, in
    execution order) and the windowed ops it could not model (``unmodelled``, names)."""

    calls: list[tuple[LayerSpec, Size, Size | None]] = field(default_factory=list)
    unmodelled: list[str] = field(default_factory=list)


class _Tracer(TorchFunctionMode):
    """Follows the data flow of one forward pass: every tensor derived from the input carries
    the index of the last spatial layer it came through (``-1``: the input itself), and
    functional windowed calls made outside spatial modules are recorded as layers."""

    def __init__(self, dims: int) -> None:
        super().__init__()
        self.dims = dims
        self.origin: dict[int, tuple[Tensor, int]] = {}
        self.result = Trace()
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
        d = self.dims
        spatial = isinstance(out, Tensor) and out.dim() >= d + 1 and spec.type != "F.unfold"
        out_size = tuple(int(v) for v in out.shape[-d:]) if spatial else None  # type: ignore[union-attr]
        spec = LayerSpec(**{**asdict(spec), "source": source})
        self.result.calls.append((spec, tuple(int(v) for v in inp.shape[-d:]), out_size))
        return len(self.result.calls) - 1

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: D105
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        source = self.source((args, kwargs))
        if source is None:  # not derived from the input (weights, masks, constants)
            return out
        try:
            entry = FUNCTIONAL.get(func)
        except TypeError:  # unhashable callable
            entry = None
        if entry is not None and self.active == 0:
            fname, kind, params = entry
            owner = self.stack[-1] if self.stack else ""
            name = self.unique(f"{owner}.{fname}()" if owner else f"{fname}()")
            rank = op_rank(fname) or 2  # F.unfold windows images
            inp = args[0] if args else kwargs.get("input")
            if rank < self.dims:
                self.result.unmodelled.append(f"{name} ({rank}-D op in a {self.dims}-D network)")
            else:
                call = (tuple(args), kwargs)
                spec = functional_spec(name, fname, kind, params, call, out, self.dims)
                if spec is not None and isinstance(inp, Tensor):
                    y = out[0] if isinstance(out, (tuple, list)) else out
                    source = self.add(spec, source, inp, y)
        self.mark(out, source)
        return out


def trace(model: nn.Module, x: Tensor, dims: int = 2) -> Trace:
    """Dry-run ``model(x)`` and record its spatial layers (see :func:`trace_spatial_layers`)
    and the windowed ops that could not be modelled."""
    dims = check_dims(dims)
    tracer = _Tracer(dims)
    outer_stack: list[bool] = []  # per running spatial module: is it outermost?
    handles = []

    def pre(name: str, spec: LayerSpec | None):
        def hook(module, args):
            tracer.stack.append(name)
            if spec is not None:
                outer_stack.append(tracer.active == 0)
                tracer.active += 1

        return hook

    def post(name: str, spec: LayerSpec | None, leaf: bool, few: bool):
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
            if inp is None or inp.dim() < dims + 2 or not isinstance(output, Tensor):
                return
            source = tracer.source(inp)
            if source is None:
                return
            if few:
                tracer.result.unmodelled.append(
                    f"{name} ({type(module).__name__} in a {dims}-D network)"
                )
            elif spec is not None:
                named = LayerSpec(**{**asdict(spec), "name": tracer.unique(name)})
                tracer.mark(output, tracer.add(named, source, inp, output))
            elif leaf and output.dim() == 2:
                inv = LayerSpec(tracer.unique(name), type(module).__name__, kind="global")
                tracer.mark(output, tracer.add(inv, source, inp, None))

        return hook

    for name, module in model.named_modules():
        few = too_few_axes(module, dims)
        spec = None if few else spec_of(name, module, dims)
        leaf = next(iter(module.children()), None) is None
        handles.append(module.register_forward_pre_hook(pre(name, spec)))
        handles.append(module.register_forward_hook(post(name, spec, leaf, few)))
    try:
        with tracer:
            tracer.mark(x, -1)
            dry_run(model, x)
    finally:
        for h in handles:
            h.remove()
    return tracer.result


def trace_spatial_layers(
    model: nn.Module, x: Tensor, dims: int = 2
) -> list[tuple[LayerSpec, Size, Size | None]]:
    """Dry-run ``model(x)`` and list its spatial layers in execution order: the outermost
    modules with window attributes (forward hooks), the functional windowed calls made outside
    them (``F.max_pool2d``, ``F.conv3d``, ... seen by a :class:`torch.overrides.TorchFunctionMode`)
    and the layers whose output is an invariant ``(B, F)``. Each call is one entry (a module run
    twice appears as ``name`` and ``name#2``); each entry's ``spec.source`` is the entry whose
    output it reads (``-1``: the input), found by following the data flow.

    The model is run in eval mode under ``torch.no_grad()`` (BatchNorm statistics untouched) and
    its training flags are restored.

    Args:
        model: the network.
        x: a dry-run input (its last ``dims`` axes are space).
        dims: the number of spatial axes, 1, 2 or 3.

    Returns:
        ``[(spec, incoming size, outgoing size or None for invariants), ...]``, sizes with one
        int per spatial axis.
    """
    return trace(model, x, dims).calls

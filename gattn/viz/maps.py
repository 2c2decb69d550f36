r"""Capture the spatial attention maps of an attentive network, each with its layout.

A spatial attention operator produces :math:`\alpha^X \in [0, 1]` over space, and (for most
operators) over an orientation axis :math:`h \in H` (docs/maths.md). Under a transformation
:math:`\bar g = (t, \bar h)` of the input the map of an equivariant operator moves like what it
is defined on:

* a map on :math:`G = \mathbb{R}^2 \rtimes H` (layout ``"group"``, stored ``(B, |H|, Y, X)``):
  :math:`\alpha[L_{\bar g} f](x, h) = \alpha[f]\big(A(\bar h)^{-1}(x - t),\ \bar h^{-1} h\big)`
  — it rotates in the plane *and* its orientation channels are permuted;
* a map on the plane (layout ``"image"``, stored ``(B, 1, Y, X)``), e.g. the input attention
  :math:`\alpha F` of a lifting layer, which weights the input image:
  :math:`\alpha[L_{\bar g} f](x) = \alpha[f](A(\bar h)^{-1}(x - t))` — it rotates as an image.

The layout is read off the operator's output, whose axes follow the library's conventions
(docs/index.md, docs/attention.md): an image-level map is ``(B, C, Y, X)`` (or ``(B, Y, X)``),
a map on a group signal ``(B, C, |H|, Y, X)``, a pair map ``(B, C, |H|, ..., Y, X)`` with the
output orientation on axis 2. :func:`attention_maps` returns the layout of every map with it
(:class:`AttentionMaps`), so that no map is rotated as something it is not.

Which modules are captured: a module is a *spatial attention module* if its class sets
``spatial_attention_map = True`` (the hook point the attention operators expose), or its class
name ends in ``SpatialAttention``. Pass ``layers=`` (module names) or ``predicate=`` to choose
others, e.g. the ``nn.Sigmoid`` inside a custom operator.

Where a map is read: an operator with a ``weights`` method (like
:class:`gattn.attention.SpatialAttention`, whose lean attentive convolution calls ``weights``
on slices of the input orientations :math:`\tilde h`, only while its ``record_maps`` flag is
set, without ever calling ``forward``) is captured by temporarily wrapping that method (and
setting the flag), and the slices are averaged; any other module by a forward hook on its
output.

Only the maps of the forward pass on the given input are kept: maps recorded by a run of the
model nested inside that pass — e.g. the dry run on zeros with which the size check of
:func:`gattn.models.get_model` traces the model on its first call (docs/analysis.md) — are
discarded.

Captured outputs are reduced to ``(B, |H|, Y, X)`` (``"group"``) or ``(B, 1, Y, X)``
(``"image"``):

* ``(B, Y, X)``: an image-level map, a channel axis of 1 is added;
* ``(B, C, Y, X)``: an image-level map, mean over the channel axis ``C``;
* ``(B, C, |H|, Y, X)``: a group map, mean over ``C``;
* ``(B, C, |H|, |H_in|, ..., Y, X)``: a group map, mean over ``C`` and every axis between the
  output group axis and space (e.g. the input orientation :math:`\tilde h` of a full attention
  :math:`\alpha^X(x, h, \tilde h)`) — a mean over :math:`\tilde h` keeps the transformation law
  above, since :math:`\tilde h \mapsto \bar h \tilde h` only permutes the summands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from ..inference import dry_run

__all__ = [
    "MAP_LAYOUTS",
    "AttentionMaps",
    "is_spatial_attention",
    "spatial_attention_modules",
    "reduce_map",
    "upsample_maps",
    "attention_maps",
]

Predicate = Callable[[str, nn.Module], bool]

#: ``"group"``: a map on G, ``(B, |H|, Y, X)``; ``"image"``: a map on the plane, ``(B, 1, Y, X)``
MAP_LAYOUTS = ("group", "image")


class AttentionMaps(Mapping[str, Tensor]):
    """Per-layer attention maps with their layouts: ``maps[name]`` is the tensor,
    ``maps.layouts[name]`` one of :data:`MAP_LAYOUTS` (see the module docstring).

    Args:
        maps: ``{layer name: (B, |H|, Y, X) or (B, 1, Y, X) tensor}``.
        layouts: ``{layer name: "group" or "image"}``, same keys.

    Raises:
        ValueError: keys differ, an unknown layout, or a tensor that is not 4-dimensional.
    """

    def __init__(self, maps: Mapping[str, Tensor], layouts: Mapping[str, str]) -> None:
        if list(maps) != list(layouts):
            raise ValueError(
                f"maps and layouts must name the same layers, got {list(maps)} and {list(layouts)}"
            )
        for name, layout in layouts.items():
            if layout not in MAP_LAYOUTS:
                raise ValueError(
                    f"layout of layer {name!r} must be one of {MAP_LAYOUTS}, got {layout!r}"
                )
            m = maps[name]
            if not isinstance(m, Tensor) or m.dim() != 4 or (layout == "image" and m.shape[1] != 1):
                raise ValueError(
                    f"layer {name!r}: a {layout!r} map must be a tensor "
                    f"{'(B, 1, Y, X)' if layout == 'image' else '(B, |H|, Y, X)'}, got "
                    f"{tuple(getattr(m, 'shape', ()))}"
                )
        self._maps = dict(maps)
        self._layouts = dict(layouts)

    @property
    def layouts(self) -> dict[str, str]:
        """``{layer name: "group" or "image"}`` (a copy)."""
        return dict(self._layouts)

    def layout(self, name: str) -> str:
        """The layout of layer ``name``'s map."""
        return self._layouts[name]

    def __getitem__(self, name: str) -> Tensor:
        return self._maps[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._maps)

    def __len__(self) -> int:
        return len(self._maps)

    def __repr__(self) -> str:
        items = ", ".join(
            f"{n!r}: {self._layouts[n]} {tuple(m.shape)}" for n, m in self._maps.items()
        )
        return f"AttentionMaps({{{items}}})"


def is_spatial_attention(name: str, module: nn.Module) -> bool:
    """Default predicate: the module declares ``spatial_attention_map = True`` or its class name
    ends in ``SpatialAttention``.

    Args:
        name: the module's qualified name in the model (unused by the default rule).
        module: the module.

    Returns:
        Whether the module's output is a spatial attention map to capture.
    """
    if getattr(module, "spatial_attention_map", False) is True:
        return True
    return type(module).__name__.endswith("SpatialAttention")


def spatial_attention_modules(
    model: nn.Module,
    layers: Sequence[str] | None = None,
    predicate: Predicate | None = None,
) -> dict[str, nn.Module]:
    """The modules whose outputs :func:`attention_maps` captures, by qualified name.

    Args:
        model: any ``nn.Module``.
        layers: explicit module names (as in ``model.named_modules()``); takes precedence.
        predicate: ``(name, module) -> bool``; defaults to :func:`is_spatial_attention`.

    Returns:
        ``{name: module}`` in registration order.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.
        ValueError: a name in ``layers`` is not a submodule of ``model``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    named = dict(model.named_modules())
    if layers is not None:
        if isinstance(layers, str):
            layers = [layers]
        missing = [n for n in layers if n not in named]
        if missing:
            raise ValueError(
                f"layers {missing} are not submodules of the model; valid names include "
                f"{[n for n in named if n][:10]}"
            )
        return {n: named[n] for n in layers}
    pred = is_spatial_attention if predicate is None else predicate
    return {n: m for n, m in named.items() if n and pred(n, m)}


def reduce_map(out: object, name: str = "output") -> tuple[Tensor, str]:
    """Reduce a captured attention output to a map and its layout (see the module docstring).

    Args:
        out: a tensor, or a tuple/list whose first element is the map.
        name: the layer name, used in error messages.

    Returns:
        ``(map, layout)``: ``(B, |H|, Y, X)`` and ``"group"``, or ``(B, 1, Y, X)`` and
        ``"image"``.

    Raises:
        ValueError: ``out`` is not a tensor with at least 3 dimensions.
    """
    if isinstance(out, (tuple, list)) and out:
        out = out[0]
    if not isinstance(out, Tensor) or out.dim() < 3:
        raise ValueError(
            f"layer {name!r}: expected an attention map (B, [C,] Y, X), (B, C, |H|, Y, X) or "
            f"(B, C, |H|, ..., Y, X), got {type(out).__name__} of shape "
            f"{tuple(getattr(out, 'shape', ()))}"
        )
    out = out.detach()
    if out.dim() == 3:
        return out[:, None], "image"
    if out.dim() == 4:
        return out.mean(1, keepdim=True), "image"
    extra = tuple(range(3, out.dim() - 2))
    if extra:
        out = out.mean(extra)
    return out.mean(1), "group"


def upsample_maps(maps: Tensor, size: tuple[int, int] | int) -> Tensor:
    """Bilinear resize of ``(B, |H|, y, x)`` (or ``(B, 1, y, x)``) maps to the input size
    ``(Y, X)`` for overlays.

    The resampling grid is symmetric about the image centre (``align_corners=False``), so it
    commutes with rotations by multiples of 90° and with mirrors of square maps.

    Args:
        maps: ``(B, |H|, y, x)``.
        size: ``(Y, X)`` or one int for square outputs.

    Returns:
        ``(B, |H|, Y, X)``.
    """
    size = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(maps.shape[-2:]) == size:
        return maps
    return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)


def _no_modules_message(model: nn.Module) -> str:
    from ..attention import AttentionOperator

    operators = sorted(
        {type(m).__name__ for m in model.modules() if isinstance(m, AttentionOperator)}
    )
    what = (
        f"its attention operators ({', '.join(operators)}) compute no spatial map"
        if operators
        else "it has no attention operator"
    )
    return (
        f"{type(model).__name__} has no spatial attention module: {what} (no module sets "
        f"spatial_attention_map = True or is named *SpatialAttention); pass layers=[...] or "
        f"predicate=... to choose the modules whose outputs are attention maps"
    )


def attention_maps(
    model: nn.Module,
    x: Tensor,
    layers: Sequence[str] | None = None,
    predicate: Predicate | None = None,
    upsample: bool = True,
) -> AttentionMaps:
    r"""Run ``model`` on ``x`` and return every spatial attention map that forward pass computes.

    The model runs in eval mode (dropout off, batch norm on running statistics — otherwise the
    maps of an input and of its rotated copy would not correspond) under ``torch.no_grad``; its
    training flags are restored afterwards. Maps of runs nested in that forward pass (the size
    check's dry run on the first call of a :func:`gattn.models.get_model` model) are discarded.

    Args:
        model: an attentive network (any ``nn.Module``).
        x: the input batch, images ``(B, C, Y, X)``.
        layers: module names to capture (default: every spatial attention module).
        predicate: ``(name, module) -> bool`` choosing modules when ``layers`` is ``None``.
        upsample: resize the maps to the input's ``(Y, X)`` (bilinear, see
            :func:`upsample_maps`).

    Returns:
        :class:`AttentionMaps`: ``{layer name: (B, |H|, Y, X) or (B, 1, Y, X) map}`` with each
        map's layout (a module called several times, or on slices of :math:`\tilde h`, gives
        the mean of its maps).

    Raises:
        TypeError: ``x`` is not a tensor.
        ValueError: ``x`` is not 4- or 5-dimensional, or the model has no spatial attention
            module (the message says how to choose one), or none produced a map, or a module
            produced maps of different shapes in one forward pass.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() not in (4, 5):
        raise ValueError(
            f"x must be images (B, C, Y, X) or group signals (B, C, |H|, Y, X), "
            f"got shape {tuple(x.shape)}"
        )
    modules = spatial_attention_modules(model, layers, predicate)
    if not modules:
        raise ValueError(_no_modules_message(model))
    # one frame of records per running call of `model`: a nested call (a dry run started by a
    # pre-hook of the model) records into its own frame, which is dropped when it returns
    frames: list[dict[str, list]] = []
    outermost: list[dict[str, list]] = []

    def enter(module: nn.Module, args: tuple) -> None:
        frames.append({})

    def leave(module: nn.Module, args: tuple, output: object) -> None:
        frame = frames.pop()
        if not frames:
            outermost.append(frame)

    def record(name: str, output: object) -> None:
        if not frames:  # called outside a forward pass of the model
            return
        if isinstance(output, (tuple, list)) and output:
            output = output[0]
        # slices along the input-orientation axis are weighted by their length
        weight = int(output.shape[3]) if isinstance(output, Tensor) and output.dim() >= 6 else 1
        m, layout = reduce_map(output, name)
        frame = frames[-1]
        if name not in frame:
            frame[name] = [m * weight, weight, layout]
            return
        total, _, known = frame[name]
        if total.shape != m.shape or known != layout:
            raise ValueError(
                f"layer {name!r} produced maps of different shapes in one forward pass "
                f"({known} {tuple(total.shape)} and {layout} {tuple(m.shape)}); pass layers=[...] "
                f"to leave it out"
            )
        frame[name][0] = total + m * weight
        frame[name][1] += weight

    def hook_for(name: str):
        def hook(module: nn.Module, inputs: tuple, output: object) -> None:
            record(name, output)

        return hook

    def wrap_weights(name: str, method: Callable):
        def weights(*args, **kwargs):
            out = method(*args, **kwargs)
            record(name, out)
            return out

        return weights

    handles = [
        model.register_forward_pre_hook(enter, prepend=True),
        model.register_forward_hook(leave, always_call=True),
    ]
    patched = []
    try:
        for n, m in modules.items():
            method = getattr(m, "weights", None)
            if callable(method) and not isinstance(method, nn.Module):
                m.weights = wrap_weights(n, method)
                patched.append(m)
                if hasattr(m, "record_maps"):  # ask lean attentive convolutions for the maps
                    m.record_maps = True
            else:
                handles.append(m.register_forward_hook(hook_for(n)))
        dry_run(model, x)
    finally:
        for h in handles:
            h.remove()
        for m in patched:
            del m.weights
            if hasattr(m, "record_maps"):
                m.record_maps = False
    frame = outermost[-1] if outermost else {}
    captured = {n: frame[n][0] / frame[n][1] for n in modules if n in frame}
    if not captured:
        raise ValueError(
            f"none of the modules {list(modules)} produced an attention map during the forward "
            f"pass of {type(model).__name__}"
        )
    if upsample:
        size = tuple(x.shape[-2:])
        captured = {n: upsample_maps(v, size) for n, v in captured.items()}
    return AttentionMaps(captured, {n: frame[n][2] for n in captured})

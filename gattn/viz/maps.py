r"""Capture the spatial attention maps of an attentive network with forward hooks.

A spatial attention operator produces :math:`\alpha^X(x, h) \in [0, 1]` for every position
:math:`x` and output orientation :math:`h \in H` (SPEC §3). Under a transformation
:math:`\bar g = (t, \bar h)` of the input an equivariant operator's map moves like a signal on
:math:`G = \mathbb{R}^2 \rtimes H`:

.. math:: \alpha^X[L_{\bar g} f](x, h) = \alpha^X[f]\big(A(\bar h)^{-1}(x - t),\ \bar h^{-1} h\big),

i.e. the map rotates in the plane *and* its orientation channels are permuted — this is what the
figures of :mod:`gattn.viz.plot` show.

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

Captured outputs are reduced to ``(B, |H|, Y, X)``:

* ``(B, |H|, Y, X)``: kept;
* ``(B, C, |H|, Y, X)``: mean over the channel axis ``C``;
* ``(B, C, |H|, |H_in|, ..., Y, X)``: mean over ``C`` and every axis between the output group
  axis and space (e.g. the input orientation :math:`\tilde h` of a full attention
  :math:`\alpha^X(x, h, \tilde h)`) — a mean over :math:`\tilde h` keeps the transformation law
  above, since :math:`\tilde h \mapsto \bar h \tilde h` only permutes the summands.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from ..inference import dry_run

__all__ = [
    "is_spatial_attention",
    "spatial_attention_modules",
    "reduce_map",
    "upsample_maps",
    "attention_maps",
]

Predicate = Callable[[str, nn.Module], bool]


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


def reduce_map(out: object, name: str = "output") -> Tensor:
    """Reduce a captured attention output to ``(B, |H|, Y, X)`` (see the module docstring).

    Args:
        out: a tensor, or a tuple/list whose first element is the map.
        name: the layer name, used in error messages.

    Returns:
        ``(B, |H|, Y, X)``.

    Raises:
        ValueError: ``out`` is not a tensor with at least 4 dimensions.
    """
    if isinstance(out, (tuple, list)) and out:
        out = out[0]
    if not isinstance(out, Tensor) or out.dim() < 4:
        raise ValueError(
            f"layer {name!r}: expected an attention map (B, |H|, Y, X) or (B, C, |H|, ..., Y, X),"
            f" got {type(out).__name__} of shape {tuple(getattr(out, 'shape', ()))}"
        )
    out = out.detach()
    if out.dim() == 4:
        return out
    extra = tuple(range(3, out.dim() - 2))
    if extra:
        out = out.mean(extra)
    return out.mean(1)


def upsample_maps(maps: Tensor, size: tuple[int, int] | int) -> Tensor:
    """Bilinear resize of ``(B, |H|, y, x)`` maps to the input size ``(Y, X)`` for overlays.

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


def attention_maps(
    model: nn.Module,
    x: Tensor,
    layers: Sequence[str] | None = None,
    predicate: Predicate | None = None,
    upsample: bool = True,
) -> dict[str, Tensor]:
    r"""Run ``model`` on ``x`` and return every spatial attention map it computes.

    The model runs in eval mode (dropout off, batch norm on running statistics — otherwise the
    maps of an input and of its rotated copy would not correspond) under ``torch.no_grad``; its
    training flags are restored afterwards.

    Args:
        model: an attentive network (any ``nn.Module``).
        x: the input batch, images ``(B, C, Y, X)``.
        layers: module names to capture (default: every spatial attention module).
        predicate: ``(name, module) -> bool`` choosing modules when ``layers`` is ``None``.
        upsample: resize the maps to the input's ``(Y, X)`` (bilinear, see
            :func:`upsample_maps`).

    Returns:
        ``{layer name: (B, |H|, Y, X) map}`` (a module called several times, or on slices of
        :math:`\tilde h`, gives the mean of its maps).

    Raises:
        TypeError: ``x`` is not a tensor.
        ValueError: ``x`` is not 4- or 5-dimensional, or the model has no spatial attention
            module (the message says how to choose one), or none produced a map.
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
        raise ValueError(
            f"{type(model).__name__} has no spatial attention module (none sets "
            f"spatial_attention_map = True or is named *SpatialAttention); pass layers=[...] "
            f"or predicate=... to choose the modules whose outputs are attention maps"
        )
    sums: dict[str, Tensor] = {}
    counts: dict[str, int] = {}

    def record(name: str, output: object) -> None:
        if isinstance(output, (tuple, list)) and output:
            output = output[0]
        # slices along the input-orientation axis are weighted by their length
        weight = int(output.shape[3]) if isinstance(output, Tensor) and output.dim() >= 6 else 1
        m = reduce_map(output, name) * weight
        if name in sums and sums[name].shape == m.shape:
            sums[name] = sums[name] + m
            counts[name] += weight
        else:
            sums[name], counts[name] = m, weight

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

    handles, patched = [], []
    for n, m in modules.items():
        method = getattr(m, "weights", None)
        if callable(method) and not isinstance(method, nn.Module):
            m.weights = wrap_weights(n, method)
            patched.append(m)
            if hasattr(m, "record_maps"):  # ask lean attentive convolutions for the maps
                m.record_maps = True
        else:
            handles.append(m.register_forward_hook(hook_for(n)))
    try:
        dry_run(model, x)
    finally:
        for h in handles:
            h.remove()
        for m in patched:
            del m.weights
            if hasattr(m, "record_maps"):
                m.record_maps = False
    captured = {n: sums[n] / counts[n] for n in modules if n in sums}
    if not captured:
        raise ValueError(
            f"none of the modules {list(modules)} produced an attention map during the forward "
            f"pass of {type(model).__name__}"
        )
    if upsample:
        size = tuple(x.shape[-2:])
        captured = {n: upsample_maps(v, size) for n, v in captured.items()}
    return captured

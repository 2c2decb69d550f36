r"""How each layer output is compared (docs/analysis.md): its layout is recognised from the
spatial sizes the network's activations take, it is brought to a canonical layout, and the
group element acts on it there.

Canonical layouts, with ``d`` spatial axes (from the group): invariants ``(B, F)``, spatial
signals ``(B, C, *spatial)`` (1-D signals, images, volumes) and group signals
``(B, C, |H|, *spatial)``. Also recognised: channels-last ``(B, *spatial, C)`` /
``(B, |H|, *spatial, C)`` and row-major flattened positions ``(B, P, C)`` / ``(B, P, |H|, C)``
(``P`` the product of the spatial sizes, as in attention layers).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn

from ..groups import SE2, SemidirectProduct, is_grid_exact, transform_image, transform_signal
from .algebra import Size
from .tracing import trace_spatial_layers

__all__ = ["Element", "Canon", "recognise", "spatial_sizes", "act"]

Canon = Callable[[Tensor], Tensor]

_AXES = {1: "X", 2: "Y,X", 3: "Z,Y,X"}
_FLAT = {1: "X", 2: "Y*X", 3: "Z*Y*X"}


@dataclass
class Element:
    """One element to measure.

    Attributes:
        label, angle: its name and rotation angle (degrees).
        g: the element of the model's group (``None``: only a plane rotation, :attr:`plane`).
        plane: an element of SE(2) with the same spatial action (plane groups only).
        interpolated: the element needs interpolation on the input.
        identity: the identity element.
    """

    label: str
    angle: float
    g: Tensor | None
    plane: Tensor | None
    interpolated: bool
    identity: bool


def _size_text(s: Size) -> str:
    return "x".join(map(str, s))


def recognise(
    y: Tensor, sizes: set[Size], order: int | None, d: int
) -> tuple[Canon | None, str, str]:
    """How to bring ``y`` to ``(B, F)``, ``(B, C, *spatial)`` or ``(B, C, |H|, *spatial)``.

    Args:
        y: a layer output.
        sizes: the spatial sizes the network's activations take (``d`` ints each).
        order: :math:`|H|` (``None`` for an infinite stabiliser).
        d: the number of spatial axes.

    Returns:
        ``(canonicalise or None, layout label, note)``; the note says why the layout is not
        recognised.
    """
    shape = tuple(int(v) for v in y.shape)
    n = y.dim()
    space = list(range(1, d + 1))
    flat: dict[int, list[Size]] = {}
    for s in sizes:
        flat.setdefault(math.prod(s), []).append(s)
    unique = {p: ss[0] for p, ss in flat.items() if len(ss) == 1}
    sig = order is not None
    if n == 2:
        return (lambda t: t), "B,F", ""
    if n == d + 2 and shape[2:] in sizes:
        return (lambda t: t), f"B,C,{_AXES[d]}", ""
    if sig and n == d + 3 and shape[2] == order and shape[3:] in sizes:
        return (lambda t: t), f"B,C,|H|,{_AXES[d]}", ""
    if n == d + 2 and shape[1 : 1 + d] in sizes:
        return (lambda t: t.permute(0, d + 1, *space)), f"B,{_AXES[d]},C", ""
    if sig and n == d + 3 and shape[1] == order and shape[2 : 2 + d] in sizes:
        perm = (0, d + 2, 1, *[a + 1 for a in space])
        return (lambda t: t.permute(*perm)), f"B,|H|,{_AXES[d]},C", ""
    if d > 1 and n == 3 and shape[1] in unique:
        s = unique[shape[1]]
        return (
            (lambda t: t.reshape(t.shape[0], *s, -1).permute(0, d + 1, *space)),
            f"B,{_FLAT[d]},C",
            "",
        )
    if sig and n == 4 and shape[2] == order and shape[1] in unique:
        s = unique[shape[1]]
        perm = (0, d + 2, d + 1, *space)

        def canon(t: Tensor) -> Tensor:
            return t.reshape(t.shape[0], *s, order, -1).permute(*perm)

        return canon, f"B,{_FLAT[d]},|H|,C", ""
    known = ", ".join(_size_text(s) for s in sorted(sizes))
    return (
        None,
        "?",
        f"layout of shape {'x'.join(map(str, shape))} not recognised (no group axis of size "
        f"{order} and spatial size among {known} where the comparison expects them)",
    )


def spatial_sizes(model: nn.Module, x: Tensor, d: int) -> set[Size]:
    """The input's spatial size and every size seen at a spatial layer on a dry run."""
    sizes: set[Size] = {tuple(int(v) for v in x.shape[-d:])}
    try:
        calls = trace_spatial_layers(model, x[:1], d)
    except Exception:  # noqa: BLE001 - the measurement itself reports failures of the model
        return sizes
    for _, incoming, outgoing in calls:
        sizes.add(tuple(incoming))
        if outgoing is not None:
            sizes.add(tuple(outgoing))
    return sizes


def act(
    group: SemidirectProduct, el: Element, y: Tensor, exact: bool, d: int
) -> tuple[Tensor | None, str]:
    """``L_g y`` for ``y`` in a canonical layout (told apart by rank, ``d`` fixed), or
    ``None`` and a note."""
    if y.dim() == 2:
        return y, ""
    space = tuple(int(v) for v in y.shape[-d:])
    if exact and el.g is not None and not is_grid_exact(group, el.g, space):
        return None, f"not grid-exact on a {_size_text(space)} map"
    mode = "exact" if exact else "interpolate"
    if y.dim() == d + 2:
        if el.g is not None:
            return transform_image(group, el.g, y, mode), ""
        if el.plane is not None and d == 2:
            return transform_image(SE2(), el.plane, y, "interpolate"), ""
        return None, "no spatial action for this element"
    if y.dim() == d + 3:
        stab = group.stabiliser
        if el.g is None or not stab.is_finite:
            return None, "rotation not in the stabiliser: undefined on group signals"
        if y.shape[2] != stab.order:
            return None, f"group axis {y.shape[2]} != |H| = {stab.order}"
        return transform_signal(group, el.g, y, mode), ""
    return None, f"cannot transform a tensor of shape {tuple(y.shape)}"

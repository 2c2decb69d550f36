r"""The interpretability figure of [AGC]: attention maps of an input and of its rotated copy.

:func:`compare_maps` runs the model once on the input :math:`f` and once on its transformed
copy :math:`L_{\bar g} f`, and measures per layer how far the maps of the copy are from the
transformed maps (:class:`MapComparison`). An equivariant operator's maps obey
:math:`\alpha[L_{\bar g} f](x, h) = \alpha[f](A(\bar h)^{-1} x, \bar h^{-1} h)` (maps on
:math:`G`; maps on the plane, layout ``"image"``, just rotate — see :mod:`gattn.viz.maps`).

:func:`plot_comparison` draws exactly those maps — the tensors whose error the comparison
reports: for every captured layer two rows, :math:`f` and :math:`L_{\bar g} f`, and ``1 + |H|``
columns: the image, then the map :math:`\alpha(\cdot, h)` of each orientation channel
:math:`h` (one map for a layer whose map has no group axis), with a colour bar per layer whose
scale both rows share. In the second row of an equivariant layer each map is a first-row map
rotated, and the columns are cyclically shifted. :func:`plot_attention` is both in one call.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas — no ``pyplot``, no
GUI, no global backend state.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from torch import Tensor, nn

from ..groups import (
    SemidirectProduct,
    p4,
    planar_label,
    stabiliser_of,
    transform_image,
    transform_signal,
)
from .maps import AttentionMaps, Predicate, attention_maps

__all__ = [
    "MapComparison",
    "compare_maps",
    "element_label",
    "find_group",
    "group_element",
    "maps_equivariance_error",
    "plot_attention",
    "plot_comparison",
    "transform_maps",
]


def find_group(model: nn.Module) -> SemidirectProduct | None:
    """The affine group of the first submodule with a ``group`` attribute (gattn layers store
    theirs).

    Args:
        model: any ``nn.Module``.

    Returns:
        The group, or ``None`` if no submodule stores one.
    """
    for module in model.modules():
        group = getattr(module, "group", None)
        if isinstance(group, SemidirectProduct):
            return group
    return None


def _check_group(group: object) -> SemidirectProduct:
    try:
        ok = isinstance(group, SemidirectProduct) and bool(
            stabiliser_of(group, finite=True, dims=(2,))
        )
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise TypeError(
            f"group must be an affine group R^2 x| H with finite H (e.g. p4()), got {group!r}"
        )
    return group


def _check_index(group: SemidirectProduct, rotation: object) -> int:
    order = group.stabiliser.order
    if not isinstance(rotation, int) or isinstance(rotation, bool) or not 0 <= rotation < order:
        raise ValueError(
            f"rotation must be an element index in 0..{order - 1} of {group.stabiliser.name}, "
            f"got {rotation!r}"
        )
    return rotation


def group_element(group: SemidirectProduct, rotation: int) -> Tensor:
    r"""The element :math:`(0, h_k)` of ``group`` for the stabiliser element of index ``k =
    rotation`` (for ``p4()``: the rotation by :math:`k \cdot 90°`; for ``p4m()`` indices
    4..7 are the mirrored ones).

    Args:
        group: an affine group with finite stabiliser.
        rotation: the element index ``k``.

    Returns:
        The element as a float64 matrix.

    Raises:
        TypeError: ``group`` is not an affine group with a finite stabiliser.
        ValueError: ``rotation`` is not a valid index.
    """
    group = _check_group(group)
    k = _check_index(group, rotation)
    return group.embed(torch.tensor(k), dtype=torch.float64)


def element_label(group: SemidirectProduct, rotation: int) -> str:
    r"""The stabiliser element of index ``rotation`` named by its angle: ``"0°"``, ``"+90°"``;
    a mirrored element of a dihedral group (index ``n..2n-1``, the mirror
    :math:`x \mapsto -x` applied first, docs/maths.md) as ``"mirror, +90°"``.

    Args:
        group: an affine group with finite stabiliser.
        rotation: the element index.

    Returns:
        The label.

    Raises:
        TypeError: ``group`` is not an affine group with a finite stabiliser.
        ValueError: ``rotation`` is not a valid index.
    """
    group = _check_group(group)
    k = _check_index(group, rotation)
    return planar_label(group.matrix(group_element(group, k)))


def transform_maps(group: SemidirectProduct, g: Tensor, maps: AttentionMaps) -> AttentionMaps:
    r""":math:`L_{\bar g}` applied to each map as what it is: a ``"group"`` map as a signal on
    :math:`G` (rotated, orientation axis permuted), an ``"image"`` map as an image.

    Args:
        group: the affine group.
        g: one element of ``group``.
        maps: from :func:`~gattn.viz.attention_maps`.

    Returns:
        The transformed maps, same layouts.

    Raises:
        TypeError: ``maps`` is not an :class:`~gattn.viz.AttentionMaps`.
        ValueError: a group map whose orientation axis is not ``|H|`` long.
    """
    if not isinstance(maps, AttentionMaps):
        raise TypeError(
            f"maps must be AttentionMaps (from gattn.viz.attention_maps), got {type(maps).__name__}"
        )
    order = group.stabiliser.order
    out = {}
    for name, m in maps.items():
        if maps.layout(name) == "image":
            out[name] = transform_image(group, g, m, mode="auto")
            continue
        if m.shape[1] != order:
            raise ValueError(
                f"layer {name!r}: its map on G has an orientation axis of length {m.shape[1]}, "
                f"expected |H| = {order} for {group.stabiliser.name}; pass the model's group"
            )
        out[name] = transform_signal(group, g, m[:, None], mode="auto")[:, 0]
    return AttentionMaps(out, maps.layouts)


@dataclass(frozen=True)
class MapComparison:
    r"""The attention maps of an input and of its transformed copy, and how far they are from
    transforming like the input.

    Attributes:
        group: the affine group of the transformation.
        rotation: stabiliser element index of :math:`\bar g`.
        label: :math:`\bar g` named by its angle (:func:`element_label`), e.g. ``"+90°"``.
        x: the input ``(B, C, Y, X)``.
        x_transformed: :math:`L_{\bar g} x`.
        maps: the maps of ``x`` (from one forward pass on ``x``).
        maps_transformed: the maps of ``x_transformed`` (one forward pass on it).
        expected: :math:`L_{\bar g}` of ``maps`` (:func:`transform_maps`).
        errors: per layer
            :math:`\max|\alpha[L_{\bar g} x] - L_{\bar g}\alpha[x]| / \max|\alpha[x]|`, computed
            from exactly ``maps_transformed`` and ``expected``.
    """

    group: SemidirectProduct
    rotation: int
    label: str
    x: Tensor
    x_transformed: Tensor
    maps: AttentionMaps
    maps_transformed: AttentionMaps
    expected: AttentionMaps
    errors: dict[str, float]

    @property
    def action(self) -> str:
        """What was done to the copy, for captions: ``"rotated +90°"``, or ``"transformed
        (mirror, +90°)"`` for a mirrored element."""
        if self.label.startswith("mirror"):
            return f"transformed ({self.label})"
        return f"rotated {self.label}"


def compare_maps(
    model: nn.Module,
    x: Tensor,
    group: SemidirectProduct | None = None,
    rotation: int = 1,
    layers: Sequence[str] | None = None,
    predicate: Predicate | None = None,
) -> MapComparison:
    r"""Record the (upsampled) attention maps of ``x`` and of :math:`L_{\bar g} x`, one fresh
    forward pass each, and compare the second with the transformed first.

    The relative errors are exactly zero up to rounding for an equivariant attention operator,
    a grid-exact :math:`\bar g` and an input size that keeps the network exact (see
    :func:`gattn.analysis.exact_input_sizes` and docs/analysis.md).

    Args:
        model: the attentive network.
        x: images ``(B, C, Y, X)`` (moved to the model's device and dtype).
        group: defaults to :func:`find_group` of the model, then ``p4()``.
        rotation: stabiliser element index of :math:`\bar g` (``1``: +90° for p4).
        layers, predicate: which modules to capture (see :func:`~gattn.viz.attention_maps`).

    Returns:
        A :class:`MapComparison`.

    Raises:
        TypeError: ``x`` is not a tensor, or ``group`` is not an affine group with finite
            stabiliser.
        ValueError: ``x`` is not a batch of images, a bad ``rotation``, or no attention maps
            (see :func:`~gattn.viz.attention_maps`).
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"x must be images (B, C, Y, X), got shape {tuple(x.shape)}")
    param = next(model.parameters(), None)
    if param is not None:
        x = x.to(device=param.device, dtype=param.dtype)
    if group is None:
        group = find_group(model) or p4()
    g = group_element(group, rotation)
    x_rot = transform_image(group, g, x, mode="auto")
    maps = attention_maps(model, x, layers, predicate)
    turned = attention_maps(model, x_rot, list(maps), None)
    expected = transform_maps(group, g, maps)
    errors = {}
    for name, m in expected.items():
        if turned[name].shape != m.shape:
            raise ValueError(
                f"layer {name!r}: the map of the transformed input has shape "
                f"{tuple(turned[name].shape)}, the transformed map {tuple(m.shape)}"
            )
        scale = float(m.abs().max()) or 1.0
        errors[name] = float((turned[name] - m).abs().max()) / scale
    return MapComparison(
        group, rotation, element_label(group, rotation), x, x_rot, maps, turned, expected, errors
    )


def maps_equivariance_error(
    model: nn.Module,
    x: Tensor,
    group: SemidirectProduct | None = None,
    rotation: int = 1,
    layers: Sequence[str] | None = None,
    predicate: Predicate | None = None,
) -> dict[str, float]:
    r"""Per-layer relative error
    :math:`\max|\alpha[L_{\bar g} x] - L_{\bar g}\alpha[x]| / \max|\alpha[x]|` of the
    (upsampled) attention maps: ``compare_maps(...).errors`` (see :func:`compare_maps`).

    Args:
        model: the attentive network.
        x: images ``(B, C, Y, X)``.
        group: defaults to :func:`find_group` of the model, then ``p4()``.
        rotation: stabiliser element index of :math:`\bar g`.
        layers, predicate: which modules to capture (see :func:`~gattn.viz.attention_maps`).

    Returns:
        ``{layer name: relative error}``.

    Raises:
        TypeError, ValueError: as :func:`compare_maps`.
    """
    return compare_maps(model, x, group, rotation, layers, predicate).errors


def _as_batch(image: Tensor) -> Tensor:
    if not isinstance(image, Tensor):
        raise TypeError(f"image must be a torch.Tensor, got {type(image).__name__}")
    if image.dim() == 2:
        return image[None, None]
    if image.dim() == 3:
        return image[None]
    if image.dim() == 4 and image.shape[0] == 1:
        return image
    raise ValueError(
        f"image must be one image (Y, X), (C, Y, X) or (1, C, Y, X), got shape {tuple(image.shape)}"
    )


def _display(image: Tensor) -> tuple[Tensor, str | None]:
    """``(Y, X)`` grey or ``(Y, X, 3)`` RGB in [0, 1] for ``imshow``."""
    img = image[0].detach().to("cpu", torch.float64)
    img = img.permute(1, 2, 0) if img.shape[0] == 3 else img.mean(0)
    lo, hi = float(img.min()), float(img.max())
    img = (img - lo) / (hi - lo) if hi > lo else torch.zeros_like(img)
    return img, (None if img.dim() == 3 else "gray")


def _wrap(name: str, width: int = 18) -> str:
    """A dotted module name on lines of about ``width`` characters, broken after dots."""
    lines, line = [], ""
    for part in name.split("."):
        piece = part if not line else "." + part
        if line and len(line) + len(piece) > width:
            lines.append(line + ".")
            line = part
        else:
            line += piece
    lines.append(line)
    return "\n".join(lines)


def plot_comparison(
    comparison: MapComparison,
    cmap: str = "viridis",
    alpha: float = 1.0,
    outline: bool = True,
    panel_size: float = 1.4,
    title: str | None = None,
) -> Figure:
    r"""Draw the maps of a :class:`MapComparison` — the very tensors whose errors it reports.

    Per layer two rows (the input, its transformed copy; the row labels name the layer, the
    transformation by its angle and the layer's relative error) and ``1 + |H|`` columns (the
    image, then one map per orientation :math:`h`, titled by its angle; a single map for a
    layer whose map has no group axis). Both rows of a layer share one colour scale, shown by
    the layer's colour bar.

    Args:
        comparison: from :func:`compare_maps` of one image (batch size 1: the errors it
            reports are those of the drawn maps).
        cmap: colormap of the maps.
        alpha: opacity of the maps over the image, in ``[0, 1]`` (below 1 the colours mix with
            the image and no longer read exactly on the colour bar).
        outline: draw the image's outline (a contour at half its range) over the maps.
        panel_size: side of one panel in inches.
        title: figure title (default: says what the rows are).

    Returns:
        A :class:`~matplotlib.figure.Figure` (save it with ``fig.savefig(path)``).

    Raises:
        TypeError: ``comparison`` is not a :class:`MapComparison`.
        ValueError: a comparison of more than one image, ``alpha`` outside ``[0, 1]`` or a
            non-positive ``panel_size``.
    """
    if not isinstance(comparison, MapComparison):
        raise TypeError(
            f"comparison must be a MapComparison (from compare_maps), "
            f"got {type(comparison).__name__}"
        )
    if comparison.x.shape[0] != 1:
        raise ValueError(
            f"comparison must be of one image (its errors are those of the drawn maps), got a "
            f"batch of {comparison.x.shape[0]}; compare_maps(model, x[i : i + 1]) picks one"
        )
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    if not float(panel_size) > 0:
        raise ValueError(f"panel_size must be positive, got {panel_size!r}")
    c = comparison
    group = c.group
    maps, turned = c.maps, c.maps_transformed
    n_cols = 1 + max(m.shape[1] for m in maps.values())
    rows = 2 * len(maps)
    fig = Figure(
        figsize=(panel_size * (n_cols + 1.6), panel_size * rows + 0.5), layout="constrained"
    )
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(rows, n_cols + 1, width_ratios=[1.0] * n_cols + [0.07])
    axes = grid[:, :n_cols].subgridspec(rows, n_cols).subplots(squeeze=False)
    shown = [(c.x, "input"), (c.x_transformed, c.action)]
    for i, name in enumerate(maps):
        pair = [maps[name][0].to("cpu", torch.float64), turned[name][0].to("cpu", torch.float64)]
        lo = min(float(p.min()) for p in pair)
        hi = max(float(p.max()) for p in pair)
        if not hi > lo:
            lo, hi = lo - 1e-6, hi + 1e-6
        norm = Normalize(vmin=lo, vmax=hi)
        group_map = maps.layout(name) == "group"
        for j, (inp, row_label) in enumerate(shown):
            r = 2 * i + j
            base, base_cmap = _display(inp)
            grey = base.mean(-1) if base.dim() == 3 else base
            current = pair[j]
            axes[r, 0].imshow(base.numpy(), cmap=base_cmap)
            text = f"{_wrap(name)}\n{row_label}"
            if j == 1:
                text += f"\nrel. error {c.errors[name]:.1e}"
            axes[r, 0].set_ylabel(text, fontsize=7, rotation=0, ha="right", va="center")
            for k in range(n_cols - 1):
                ax = axes[r, 1 + k]
                if k >= current.shape[0]:
                    ax.set_axis_off()
                    continue
                if alpha < 1.0:
                    ax.imshow(base.numpy(), cmap=base_cmap)
                ax.imshow(current[k].numpy(), cmap=cmap, norm=norm, alpha=alpha)
                if outline and float(grey.max()) > float(grey.min()):
                    ax.contour(grey.numpy(), levels=[0.5], colors="white", linewidths=0.6)
                if j == 0:
                    head = f"h = {element_label(group, k)}" if group_map else "map (no group axis)"
                    ax.set_title(head, fontsize=8)
            for ax in axes[r]:
                ax.set_xticks([])
                ax.set_yticks([])
        # a colour bar in its own grid column, spanning the layer's two rows
        bar = fig.colorbar(
            ScalarMappable(norm=norm, cmap=cmap), cax=fig.add_subplot(grid[2 * i : 2 * i + 2, -1])
        )
        bar.ax.tick_params(labelsize=6)
        bar.ax.yaxis.get_offset_text().set_fontsize(6)
    text = title or (
        f"spatial attention maps: input (upper) and input {c.action} (lower row of each layer);"
        f" one colour scale per layer"
    )
    # wrapped to the figure's width (about 12 characters per inch at 9 pt): never clipped
    width = max(20, int(fig.get_figwidth() * 12))
    fig.suptitle(textwrap.fill(text, width), fontsize=9)
    return fig


def plot_attention(
    model: nn.Module,
    image: Tensor,
    group: SemidirectProduct | None = None,
    rotation: int = 1,
    layers: Sequence[str] | None = None,
    predicate: Predicate | None = None,
    cmap: str = "viridis",
    alpha: float = 1.0,
    panel_size: float = 1.4,
) -> Figure:
    r"""Spatial attention maps of ``image`` and of its transformed copy, per layer and
    orientation channel: :func:`plot_comparison` of :func:`compare_maps`.

    Args:
        model: an attentive network mapping ``(1, C, Y, X)`` images to anything.
        image: one image ``(Y, X)``, ``(C, Y, X)`` or ``(1, C, Y, X)``.
        group: the group whose element transforms the copy; defaults to the model's own group
            (:func:`find_group`), then ``p4()``.
        rotation: stabiliser element index of :math:`\bar g` (``1``: +90° for p4).
        layers: module names to show (default: every spatial attention module).
        predicate: ``(name, module) -> bool`` choosing modules when ``layers`` is ``None``.
        cmap: colormap of the maps.
        alpha: opacity of the maps over the image, in ``[0, 1]``.
        panel_size: side of one panel in inches.

    Returns:
        A :class:`~matplotlib.figure.Figure` with ``2 * n_layers`` rows and ``1 + |H|`` columns
        (save it with ``fig.savefig(path)``).

    Raises:
        ValueError: bad ``image`` shape, ``rotation`` or ``alpha``, or no attention modules.
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    comparison = compare_maps(model, _as_batch(image), group, rotation, layers, predicate)
    return plot_comparison(comparison, cmap=cmap, alpha=alpha, panel_size=panel_size)

r"""The interpretability figure of [AGC]: attention maps of an input and of its rotated copy.

For every captured layer the figure has two rows — the input :math:`f` and its transformed copy
:math:`L_{\bar g} f` — and ``1 + |H|`` columns: the image, then the spatial attention map
:math:`\alpha^X(\cdot, h)` of each orientation channel :math:`h` overlaid on it. An equivariant
operator's maps obey
:math:`\alpha^X[L_{\bar g} f](x, h) = \alpha^X[f](A(\bar h)^{-1} x, \bar h^{-1} h)`: in the
second row each map is the first row's map rotated, and the columns are cyclically shifted
(:func:`maps_equivariance_error` measures how far this holds).

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas — no ``pyplot``, no
GUI, no global backend state.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor, nn

from ..groups import SemidirectProduct, p4, transform_image, transform_signal
from .maps import Predicate, attention_maps

__all__ = [
    "find_group",
    "group_element",
    "maps_equivariance_error",
    "plot_attention",
]


def find_group(model: nn.Module) -> SemidirectProduct | None:
    """The affine group of the first submodule with a ``group`` attribute (gattn layers store
    theirs), or ``None``."""
    for module in model.modules():
        group = getattr(module, "group", None)
        if isinstance(group, SemidirectProduct):
            return group
    return None


def group_element(group: SemidirectProduct, rotation: int) -> Tensor:
    r"""The element :math:`(0, h_k)` of ``group`` for the stabiliser element of index ``k =
    rotation`` (for ``p4()``: the rotation by :math:`k \cdot 90°`; for ``p4m()`` indices
    4..7 are the mirrored ones).

    Raises:
        TypeError: ``group`` is not an affine group with a finite stabiliser.
        ValueError: ``rotation`` is not a valid index.
    """
    if not isinstance(group, SemidirectProduct) or not group.stabiliser.is_finite:
        raise TypeError(
            f"group must be an affine group R^2 x| H with finite H (e.g. p4()), got {group!r}"
        )
    order = group.stabiliser.order
    if not isinstance(rotation, int) or isinstance(rotation, bool) or not 0 <= rotation < order:
        raise ValueError(
            f"rotation must be an element index in 0..{order - 1} of {group.stabiliser.name}, "
            f"got {rotation!r}"
        )
    return group.embed(torch.tensor(rotation), dtype=torch.float64)


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


def _rotated_maps(
    group: SemidirectProduct, g: Tensor, maps: dict[str, Tensor]
) -> dict[str, Tensor]:
    return {n: transform_signal(group, g, m[:, None], mode="auto")[:, 0] for n, m in maps.items()}


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
    (upsampled) attention maps.

    Exactly zero up to rounding for an equivariant attention operator, a grid-exact
    :math:`\bar g` and an input size that keeps the network exact (see
    :func:`gattn.analysis.exact_input_sizes`).

    Args:
        model: the attentive network.
        x: images ``(B, C, Y, X)``.
        group: defaults to :func:`find_group` of the model, then ``p4()``.
        rotation: stabiliser element index of :math:`\bar g`.
        layers, predicate: which modules to capture (see :func:`~gattn.viz.attention_maps`).

    Returns:
        ``{layer name: relative error}``.
    """
    param = next(model.parameters(), None)
    if param is not None:
        x = x.to(device=param.device, dtype=param.dtype)
    group = group or find_group(model) or p4()
    g = group_element(group, rotation)
    maps = attention_maps(model, x, layers, predicate)
    turned = attention_maps(model, transform_image(group, g, x), list(maps), None)
    expected = _rotated_maps(group, g, maps)
    out = {}
    for name, m in expected.items():
        scale = float(m.abs().max()) or 1.0
        out[name] = float((turned[name] - m).abs().max()) / scale
    return out


def _display(image: Tensor) -> tuple[Tensor, str | None]:
    """``(Y, X)`` grey or ``(Y, X, 3)`` RGB in [0, 1] for ``imshow``."""
    img = image[0].detach().to("cpu", torch.float64)
    img = img.permute(1, 2, 0) if img.shape[0] == 3 else img.mean(0)
    lo, hi = float(img.min()), float(img.max())
    img = (img - lo) / (hi - lo) if hi > lo else torch.zeros_like(img)
    return img, (None if img.dim() == 3 else "gray")


def plot_attention(
    model: nn.Module,
    image: Tensor,
    group: SemidirectProduct | None = None,
    rotation: int = 1,
    layers: Sequence[str] | None = None,
    predicate: Predicate | None = None,
    cmap: str = "jet",
    alpha: float = 0.5,
    panel_size: float = 1.6,
) -> Figure:
    r"""Spatial attention maps of ``image`` and of its transformed copy, per layer and
    orientation channel, overlaid on the images.

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
    x = _as_batch(image)
    param = next(model.parameters(), None)
    if param is not None:
        x = x.to(device=param.device, dtype=param.dtype)
    group = group or find_group(model) or p4()
    g = group_element(group, rotation)
    x_rot = transform_image(group, g, x, mode="auto")
    maps = attention_maps(model, x, layers, predicate)
    maps_rot = attention_maps(model, x_rot, list(maps), None)
    stab = group.stabiliser
    n_h = max(m.shape[1] for m in maps.values())
    rows = 2 * len(maps)
    fig = Figure(figsize=(panel_size * (1 + n_h), panel_size * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 1 + n_h, squeeze=False)
    shown = [(x, "input"), (x_rot, f"{stab.name} element {rotation}")]
    for i, (name, _) in enumerate(maps.items()):
        for j, (inp, label) in enumerate(shown):
            r = 2 * i + j
            base, base_cmap = _display(inp)
            current = (maps if j == 0 else maps_rot)[name][0].to("cpu", torch.float64)
            vmax = max(float(maps[name].max()), float(maps_rot[name].max()), 1e-12)
            axes[r, 0].imshow(base.numpy(), cmap=base_cmap)
            axes[r, 0].set_ylabel(f"{name}\n{label}", fontsize=7)
            for k in range(n_h):
                ax = axes[r, 1 + k]
                if k < current.shape[0]:
                    ax.imshow(base.numpy(), cmap=base_cmap)
                    ax.imshow(current[k].numpy(), cmap=cmap, alpha=alpha, vmin=0.0, vmax=vmax)
                    if r == 0:
                        ax.set_title(f"h = {k}", fontsize=8)
            for ax in axes[r]:
                ax.set_xticks([])
                ax.set_yticks([])
    fig.suptitle(
        "spatial attention: input (upper) vs transformed input (lower row of each layer)",
        fontsize=9,
    )
    return fig

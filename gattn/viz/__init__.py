r"""Visualisation of attentive networks: the spatial attention maps of [AGC]'s figures.

* :func:`attention_maps` — :class:`AttentionMaps`, ``{layer: (B, |H|, Y, X) or (B, 1, Y, X)}``
  with each map's layout (on :math:`G` or on the plane), recorded from one forward pass on the
  given input and upsampled to it;
* :func:`compare_maps` — the maps of an image and of its rotated copy and, per layer, how far
  the latter are from the rotated maps (:class:`MapComparison`; zero for an equivariant
  operator at an exact size); :func:`maps_equivariance_error` returns just the errors;
* :func:`plot_comparison` / :func:`plot_attention` — a matplotlib figure of exactly those maps:
  per layer, the maps of the image and of its rotated copy, per orientation channel, with a
  shared colour scale;
* :func:`load_run` — a trained model and its dataset from a ``gattn train`` run directory
  (used by ``gattn viz``).

Example::

    from gattn.viz import compare_maps, plot_comparison
    comparison = compare_maps(model, image[None], rotation=1)
    plot_comparison(comparison).savefig("attention.png")
    print(comparison.errors)
"""

from .maps import (
    MAP_LAYOUTS,
    AttentionMaps,
    attention_maps,
    is_spatial_attention,
    reduce_map,
    spatial_attention_modules,
    upsample_maps,
)
from .plot import (
    MapComparison,
    compare_maps,
    element_label,
    find_group,
    group_element,
    maps_equivariance_error,
    plot_attention,
    plot_comparison,
    transform_maps,
)
from .run import LoadedRun, load_run

__all__ = [
    "MAP_LAYOUTS",
    "AttentionMaps",
    "attention_maps",
    "is_spatial_attention",
    "reduce_map",
    "spatial_attention_modules",
    "upsample_maps",
    "MapComparison",
    "compare_maps",
    "element_label",
    "find_group",
    "group_element",
    "maps_equivariance_error",
    "plot_attention",
    "plot_comparison",
    "transform_maps",
    "LoadedRun",
    "load_run",
]

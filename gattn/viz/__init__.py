r"""Visualisation of attentive networks: the spatial attention maps of [AGC]'s figures.

* :func:`attention_maps` — ``{layer: (B, |H|, Y, X)}`` captured with forward hooks on the
  spatial attention modules, upsampled to the input;
* :func:`plot_attention` — a matplotlib figure: per layer, the maps of an image and of its
  rotated copy, per orientation channel, overlaid on the image;
* :func:`maps_equivariance_error` — how far the maps of the rotated input are from the rotated
  maps (zero for an equivariant operator at an exact size);
* :func:`load_run` — a trained model and its dataset from a ``gattn train`` run directory
  (used by ``gattn viz``).

Example::

    from gattn.viz import plot_attention
    fig = plot_attention(model, image, rotation=1)
    fig.savefig("attention.png")
"""

from .maps import (
    attention_maps,
    is_spatial_attention,
    reduce_map,
    spatial_attention_modules,
    upsample_maps,
)
from .plot import find_group, group_element, maps_equivariance_error, plot_attention
from .run import LoadedRun, load_run

__all__ = [
    "attention_maps",
    "is_spatial_attention",
    "reduce_map",
    "spatial_attention_modules",
    "upsample_maps",
    "find_group",
    "group_element",
    "maps_equivariance_error",
    "plot_attention",
    "LoadedRun",
    "load_run",
]

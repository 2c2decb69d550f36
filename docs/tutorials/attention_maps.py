"""Tutorial: look at the spatial attention maps of an attentive P4CNN, and see them rotate.

Builds ``a-sp-p4cnn`` (P4CNN with equivariant spatial attention, random weights here; for a
trained run use ``gattn viz RUN --image N --out fig.png``), takes a rotated-MNIST digit, and
plots every layer's attention maps per orientation channel for the digit and its copy rotated
by 90 degrees. Run: ``python docs/tutorials/attention_maps.py [OUT.png]``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch

from gattn.data import get_dataset
from gattn.models import get_model
from gattn.viz import attention_maps, maps_equivariance_error, plot_attention


def main(out: Path) -> None:
    torch.manual_seed(0)
    model = get_model("a-sp-p4cnn").double().eval()
    image, label = get_dataset("rotmnist-small", seed=0, limit=4).test[0]
    x = image[None].double()

    maps = attention_maps(model, x)  # {layer name: (1, |H|, 28, 28)}
    shape = tuple(next(iter(maps.values())).shape)
    print(f"digit {int(label)}: {len(maps)} attention layers, maps of shape {shape}")

    # 28 px is an exact size for P4CNN: the maps of the rotated digit are the rotated maps
    errors = maps_equivariance_error(model, x, rotation=1)
    worst = max(errors.values())
    print(f"largest relative error of the rotated maps: {worst:.1e}")
    assert worst < 1e-10

    fig = plot_attention(model, image, rotation=1, layers=list(maps)[:3])
    fig.savefig(out, dpi=80)
    print(f"figure written to {out}")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "maps.png"
    main(target)

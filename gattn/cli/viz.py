"""``gattn viz RUN --image N --out fig.png``: the attention-map figure of a trained run.

Loads the model and best weights of the run folder, takes image ``N`` of its dataset's test
split, and saves :func:`gattn.viz.plot_attention` of it and of its rotated copy; prints the
per-layer equivariance error of the maps.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register", "run_viz"]


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``viz`` subcommand to the ``gattn`` parser."""
    p = subparsers.add_parser(
        "viz",
        help="plot the spatial attention maps of a trained run",
        description="Per-layer spatial attention maps of a test image and of its rotated copy.",
    )
    p.add_argument("run", metavar="RUN", help="run folder written by `gattn train`")
    p.add_argument("--image", type=int, default=0, help="index in the test split (default 0)")
    p.add_argument("--out", default="attention.png", help="output image file (PNG, PDF, SVG)")
    p.add_argument(
        "--split", default="test", choices=("train", "val", "test"), help="dataset split"
    )
    p.add_argument(
        "--rotation",
        type=int,
        default=1,
        help="stabiliser element index of the transformed copy (p4: 1 = +90 degrees)",
    )
    p.add_argument("--layers", nargs="*", default=None, help="module names (default: all)")
    p.add_argument("--dpi", type=int, default=150, help="resolution of raster output")
    p.set_defaults(func=run_viz)
    return p


def run_viz(args: argparse.Namespace) -> int:
    """Execute ``gattn viz``; returns the exit code."""
    from ..viz import load_run, maps_equivariance_error, plot_attention

    run = load_run(args.run)
    image, label = run.test_image(args.image, args.split)
    fig = plot_attention(run.model, image, rotation=args.rotation, layers=args.layers)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=args.dpi)
    errors = maps_equivariance_error(
        run.model, image[None], rotation=args.rotation, layers=args.layers
    )
    print(f"{run.config['model']}: {args.split} image {args.image} (label {label}) -> {out}")
    for name, err in errors.items():
        print(f"  {name}: relative error of the rotated maps {err:.1e}")
    return 0

"""``gattn viz RUN --image N --out fig.png``: the attention-map figure of a trained run.

Loads the model and best weights of the run folder, takes image ``N`` of its dataset's test
split, records the attention maps of it and of its rotated copy once
(:func:`gattn.viz.compare_maps`), saves the figure of those maps
(:func:`gattn.viz.plot_comparison`) and prints the per-layer equivariance error of the very
same maps (see docs/tutorials/attention_maps.md).
"""

from __future__ import annotations

import argparse
import sys
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
        help="stabiliser element index of the transformed copy (p4: 1 = +90°, 2 = +180°; "
        "p4m: 4..7 mirrored)",
    )
    p.add_argument("--layers", nargs="*", default=None, help="module names (default: all)")
    p.add_argument("--dpi", type=int, default=150, help="resolution of raster output")
    p.set_defaults(func=run_viz)
    return p


def run_viz(args: argparse.Namespace) -> int:
    """Execute ``gattn viz``; returns the exit code.

    Args:
        args: the parsed ``gattn viz`` arguments.

    Returns:
        ``0``; ``2`` after printing the error when ``RUN`` is not a run folder, ``--image``,
        ``--rotation`` or ``--layers`` is bad, or the model draws no spatial attention maps
        (e.g. channel attention only).
    """
    from ..viz import compare_maps, load_run, plot_comparison

    try:
        run = load_run(args.run)
        image, label = run.test_image(args.image, args.split)
        comparison = compare_maps(
            run.model, image[None], rotation=args.rotation, layers=args.layers
        )
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"gattn viz: error: {exc}", file=sys.stderr)
        return 2
    name = run.config["model"]
    fig = plot_comparison(
        comparison,
        title=f"{name}, {args.split} image {args.image} (label {label}): spatial attention maps "
        f"of the image (upper) and of its copy {comparison.action} (lower row of each "
        f"layer)",
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=args.dpi)
    print(f"{name}: {args.split} image {args.image} (label {label}) -> {out}")
    print(f"  maps of the copy {comparison.action}, compared with the maps drawn in {out}:")
    moved = "transformed" if comparison.label.startswith("mirror") else "rotated"
    for layer, err in comparison.errors.items():
        print(f"  {layer}: relative error of the {moved} maps {err:.1e}")
    return 0

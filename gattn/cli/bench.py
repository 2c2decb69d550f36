"""``gattn bench``: run the benchmark suite and write ``benchmarks/results/<device>.{json,md}``."""

from __future__ import annotations

import argparse
import sys

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    import torch

    from ..bench import run_suite, to_markdown

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        print(
            f"gattn bench: error: --device {device!r} requested but CUDA is not available "
            "(this torch build or machine has no GPU); use --device cpu",
            file=sys.stderr,
        )
        return 2
    try:
        result = run_suite(
            device=device,
            quick=args.quick,
            repeats=args.repeats,
            rounds=args.rounds,
            out_dir=args.out,
            select=args.select,
            progress=not args.quiet,
        )
    except (ValueError, TypeError) as exc:
        print(f"gattn bench: error: {exc}", file=sys.stderr)
        return 2
    print(to_markdown(result))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="measure time and memory of layers and models")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--quick", action="store_true", help="small shapes (smoke run)")
    p.add_argument("--repeats", type=int, default=5, help="timed steps per case")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every case this many times, round-robin; ratios are medians over rounds",
    )
    p.add_argument("--select", default=None, help="only rows whose name contains this text")
    p.add_argument("--out", default="benchmarks/results", help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)

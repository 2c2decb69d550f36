"""``gattn check MODEL --size N``: per-layer size exactness (SPEC §5), measured equivariance
errors on a random float64 input, and the nearest exact sizes.

MODEL is a zoo name (``gattn.models.get_model(name)``) or an import path
``package.module:factory`` called with no arguments.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

import torch
from torch import nn

__all__ = ["register", "run", "load_model"]


def load_model(spec: str) -> nn.Module:
    """Build the model named by ``spec`` (``module:factory`` or a zoo name).

    Raises:
        ValueError: the factory or zoo entry cannot be found or does not return a module.
    """
    if ":" in spec:
        mod_name, _, attr = spec.partition(":")
        try:
            module = importlib.import_module(mod_name)
        except ImportError as exc:
            raise ValueError(f"MODEL {spec!r}: cannot import module {mod_name!r}: {exc}") from exc
        factory = getattr(module, attr, None)
        if factory is None or not callable(factory):
            raise ValueError(f"MODEL {spec!r}: {mod_name!r} has no callable {attr!r}")
        model = factory()
    else:
        try:
            models = importlib.import_module("gattn.models")
            get_model = models.get_model
        except (ImportError, AttributeError) as exc:
            raise ValueError(
                f"MODEL {spec!r}: the model zoo (gattn.models.get_model) is not available "
                f"({exc}); pass an import path 'package.module:factory' instead"
            ) from exc
        try:
            model = get_model(spec)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"MODEL {spec!r}: not in the model zoo: {exc}") from exc
    if not isinstance(model, nn.Module):
        raise ValueError(f"MODEL {spec!r} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _group(name: str | None, model: nn.Module):
    from ..groups import catalogue

    if name is None:
        for m in model.modules():
            g = getattr(m, "group", None)
            if g is not None and hasattr(g, "stabiliser"):
                return g
        name = "p4"
    groups = catalogue()
    if name not in groups:
        raise ValueError(f"--group {name!r} is not a known group; choose from {sorted(groups)}")
    return groups[name]


def _channels(model: nn.Module) -> int:
    for m in model.modules():
        c = getattr(m, "in_channels", None)
        if isinstance(c, int):
            return c
    return 1


def run(args: argparse.Namespace) -> int:
    """Execute ``gattn check``; returns the exit code (0 exact, 1 inexact, 2 error)."""
    from ..analysis import equivariance_error, exact_input_sizes

    try:
        model = load_model(args.model).eval().double()
        group = _group(args.group, model)
        n = args.size
        if n < 1:
            raise ValueError(f"--size must be a positive integer, got {n}")
        channels = args.channels or _channels(model)
        sizes = exact_input_sizes(model, input_shape_hint=(1, channels, n, n))
        why = sizes.explain(n)
        gen = torch.Generator().manual_seed(args.seed)
        x = torch.randn(2, channels, n, n, generator=gen, dtype=torch.float64)
        errors = equivariance_error(model, x, group)
    except ValueError as exc:
        print(f"gattn check: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(
            json.dumps(
                {
                    "model": args.model,
                    "size": n,
                    "group": group.name,
                    "exact": why.exact,
                    "layers": why.to_dict()["steps"],
                    "breaking": why.to_dict()["breaking"],
                    "nearest_below": why.nearest_below,
                    "nearest_above": why.nearest_above,
                    "exact_sizes": sizes.to_dict()["exact"],
                    "order": sizes.order,
                    "note": sizes.note,
                    "errors": errors.to_dict(),
                }
            )
        )
    else:
        print(f"model {args.model}, group {group.name}, layer order: {sizes.order}")
        if sizes.note:
            print(f"note: {sizes.note}")
        print(why)
        print()
        print(errors)
        print()
        print(sizes)
    return 0 if why.exact else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``check`` subcommand."""
    p = subparsers.add_parser(
        "check",
        help="which input sizes keep a model exactly equivariant, and measured errors",
        description=__doc__,
    )
    p.add_argument("model", metavar="MODEL", help="zoo name or 'package.module:factory'")
    p.add_argument("--size", type=int, required=True, help="input size N (square N x N)")
    p.add_argument("--group", default=None, help="group name (default: the model's, else p4)")
    p.add_argument("--channels", type=int, default=None, help="input channels (default: guess)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random input")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)

"""``gattn check MODEL --size N``: per-layer size exactness (docs/analysis.md), measured
equivariance errors on a random float64 input, and the nearest exact sizes.

The model may take 1-D signals, images or volumes (and group signals over them): the number
``d`` of spatial axes comes from the group (``--group``, else the model's own), else from the
model's torch layers (``nn.Conv3d`` ...), else from ``--size``. ``--size`` is one int for every
axis (``16``) or ``d`` ints (``16,16,16``). Without a group, a model is measured under
``p1m``, ``p4`` or ``cube`` (d = 1, 2, 3).

MODEL is a zoo name (``gattn.models.get_model(name)``) or an import path
``package.module:factory`` called with no arguments.

The verdict combines the size rule's prediction with the measured relative error of the
model's output over the non-identity grid-exact elements: EXACT (exit 0) only when both say
exact (error <= --tol), NOT exact (exit 1) when both say inexact, MISMATCH (exit 3) when they
disagree — a subsampling step the analysis cannot see, or a layer that is not equivariant. Exit 2:
bad arguments. Without a measurable output error (e.g. a group with no rotation) the verdict is
the prediction, marked as unmeasured.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import warnings

import torch
from torch import nn

__all__ = ["register", "run", "load_model", "parse_size", "verdict", "EXIT_CODES"]

EXIT_CODES = {"EXACT": 0, "NOT exact": 1, "MISMATCH": 3}
"""Exit code of each verdict (2: bad arguments)."""


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


_DEFAULT_GROUP = {1: "p1m", 2: "p4", 3: "cube"}


def parse_size(text: str) -> int | tuple[int, ...]:
    """``"16"`` -> 16, ``"16,16,16"`` -> ``(16, 16, 16)``.

    Raises:
        ValueError: not one to three positive integers separated by commas.
    """
    parts = [p.strip() for p in str(text).split(",")]
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(
            f"--size must be a positive integer or 2-3 positive integers separated by commas "
            f"(one per spatial axis, e.g. 16,16,16), got {text!r}"
        )
    values = tuple(int(p) for p in parts)
    return values[0] if len(values) == 1 else values


def _group(name: str | None, model: nn.Module, size: int | tuple[int, ...]):
    """The group to measure under and the number of spatial axes."""
    from ..analysis.sizes import model_dims, model_group
    from ..groups import SemidirectProduct, catalogue

    groups = catalogue()
    if name is not None and name not in groups:
        raise ValueError(f"--group {name!r} is not a known group; choose from {sorted(groups)}")
    group = groups[name] if name is not None else model_group(model)
    if group is not None and not isinstance(group, SemidirectProduct):
        raise ValueError(
            f"--group {getattr(group, 'name', name)!r} is not an affine group R^d x| H; "
            f"choose e.g. p4, p4m, p1m, cube, cubem"
        )
    if group is None:
        d = model_dims(model) or (len(size) if isinstance(size, tuple) else 2)
        group = groups[_DEFAULT_GROUP[d]]
    d = group.translation_dim
    if isinstance(size, tuple) and len(size) != d:
        raise ValueError(
            f"--size {','.join(map(str, size))} has {len(size)} axes, but {group.name} acts on "
            f"R^{d}: give one int or {d} ints"
        )
    return group, d


def _channels(model: nn.Module) -> int:
    for m in model.modules():
        c = getattr(m, "in_channels", None)
        if isinstance(c, int):
            return c
    return 1


def verdict(predicted: bool, measured: float | None, tol: float) -> tuple[str, str]:
    """Combine the size rule's prediction with the measured output error.

    Args:
        predicted: whether the size rule predicts exact equivariance.
        measured: the largest relative output error over the non-identity grid-exact elements,
            ``None`` if none could be measured.
        tol: the largest relative error that counts as exact.

    Returns:
        ``(verdict, explanation)`` with verdict ``"EXACT"``, ``"NOT exact"`` or ``"MISMATCH"``
        (see :data:`EXIT_CODES`).
    """
    rule = "the size rule predicts " + ("exact" if predicted else "NOT exact")
    if measured is None:
        return (
            "EXACT" if predicted else "NOT exact",
            f"{rule}; the output error is not measured (no non-identity grid-exact element, "
            "or the output layout is not recognised)",
        )
    within = measured <= tol
    cmp = "<=" if within else ">"
    meas = f"the measured output error {measured:.2e} {cmp} tolerance {tol:.1e}"
    if predicted and within:
        return "EXACT", f"{rule} and {meas}"
    if not predicted and not within:
        return "NOT exact", f"{rule} and {meas}"
    hint = (
        "a subsampling step the analysis does not see (e.g. strided slicing), or a layer "
        "that is not equivariant"
        if predicted
        else "the subsampling layer the rule flags does not affect the output"
    )
    return "MISMATCH", f"prediction and measurement disagree: {rule}, but {meas} ({hint})"


def run(args: argparse.Namespace) -> int:
    """Execute ``gattn check``; returns the exit code (0 EXACT, 1 NOT exact, 2 bad arguments,
    3 MISMATCH between prediction and measurement)."""
    from ..analysis import EquivarianceWarning, equivariance_error, exact_input_sizes
    from ..analysis.sizes import _input_lead

    try:
        n = parse_size(args.size)
        tol = args.tol
        if not tol > 0:
            raise ValueError(f"--tol must be a positive number, got {tol}")
        with warnings.catch_warnings():
            # this command reports the size problem itself, with the measured errors
            warnings.simplefilter("ignore", EquivarianceWarning)
            model = load_model(args.model).eval().double()
            group, d = _group(args.group, model, n)
            channels = args.channels or _channels(model)
            spatial = n if isinstance(n, tuple) else (n,) * d
            lead = (channels, *_input_lead(model)[2:])  # the group axis of group-signal input
            sizes = exact_input_sizes(model, input_shape_hint=(1, *lead, *spatial), group=group)
            why = sizes.explain(n)
            gen = torch.Generator().manual_seed(args.seed)
            x = torch.randn(2, *lead, *spatial, generator=gen, dtype=torch.float64)
            errors = equivariance_error(model, x, group)
    except ValueError as exc:
        print(f"gattn check: error: {exc}", file=sys.stderr)
        return 2
    measured = errors.output_error()
    final, explanation = verdict(why.exact, measured, tol)
    if args.json:
        print(
            json.dumps(
                {
                    "model": args.model,
                    "size": list(n) if isinstance(n, tuple) else n,
                    "group": group.name,
                    "verdict": final,
                    "explanation": explanation,
                    "exact": final == "EXACT",
                    "predicted_exact": why.exact,
                    "measured_output_error": measured,
                    "tolerance": tol,
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
        print()
        print(f"verdict: {final}: {explanation}")
    return EXIT_CODES[final]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``check`` subcommand."""
    p = subparsers.add_parser(
        "check",
        help="which input sizes keep a model exactly equivariant, and measured errors",
        description=__doc__,
    )
    p.add_argument("model", metavar="MODEL", help="zoo name or 'package.module:factory'")
    p.add_argument(
        "--size",
        required=True,
        help="input size: N for every spatial axis, or one int per axis (e.g. 9,10 or 16,16,16)",
    )
    p.add_argument(
        "--group",
        default=None,
        help="group name (default: the model's, else p1m / p4 / cube for 1-D / 2-D / 3-D input)",
    )
    p.add_argument("--channels", type=int, default=None, help="input channels (default: guess)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random input")
    p.add_argument(
        "--tol",
        type=float,
        default=1e-8,
        help="largest relative output error (float64) that counts as exact (default 1e-8)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)

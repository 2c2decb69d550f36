"""``gattn train``, ``gattn evaluate`` and ``gattn table``.

Examples::

    gattn train --model a-p4cnn --data rotmnist-small --epochs 20 --seed 0 --out runs/x
    gattn train --model a-p4cnn --data rotmnist-small --epochs 30 --out runs/x --resume
    gattn train --model af-p4cnn --data rotmnist-small --recalibrate-bn --out runs/y
    torchrun --nproc_per_node 2 -m gattn train --model p4cnn --data rotmnist-small --out runs/d
    gattn evaluate runs/x [--json]
    gattn evaluate runs/x --angle 45 --angle 30 [--no-invariance]
    gattn table runs/*
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings

__all__ = ["register"]


class _HelpFormatter(argparse.HelpFormatter):
    """Help texts with ``(default: ...)`` after every option that has a default worth showing
    (not ``None``, not ``False``), and ``{models}`` / ``{datasets}`` filled with the names of
    the model and dataset registries (imported only when a help text is printed)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help
        if not text:
            return text
        if "{models}" in text:
            from ..models import available_models

            text = text.replace("{models}", ", ".join(available_models()))
        if "{datasets}" in text:
            from ..data import available_datasets

            text = text.replace("{datasets}", ", ".join(available_datasets()))
        default = action.default
        show = not (default is None or default is False or default is argparse.SUPPRESS)
        show = show and not action.required
        if show and action.option_strings and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def _angle(text: str) -> float:
    """``--angle`` value: a finite number of degrees in [-360, 360]."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an angle in degrees (a number), got {text!r}"
        ) from None
    if not math.isfinite(v) or abs(v) > 360:
        raise argparse.ArgumentTypeError(
            f"expected a finite angle in degrees in [-360, 360], got {text!r}"
        )
    return v


def _keyword_options(items: list[str] | None, flag: str = "--model-kw") -> dict:
    """``["dropout=0.1", "channels=12"]`` -> ``{"dropout": 0.1, "channels": 12}`` (values
    parsed as JSON, falling back to plain strings), for the repeatable option ``flag``."""
    out: dict = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} expects KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _check_names(model: str, data: str) -> None:
    from ..data import available_datasets
    from ..models import available_models

    if model not in available_models():
        raise ValueError(f"unknown --model {model!r}; valid names: {', '.join(available_models())}")
    if data not in available_datasets():
        raise ValueError(f"unknown --data {data!r}; valid names: {', '.join(available_datasets())}")


def _run_train(args: argparse.Namespace) -> int:
    from ..train import TrainConfig, train
    from ..train.lock import RunLockedError

    try:
        _check_names(args.model, args.data)
        config = TrainConfig(
            model=args.model,
            data=args.data,
            epochs=args.epochs,
            seed=args.seed,
            data_seed=args.data_seed,
            out=args.out,
            batch_size=args.batch_size,
            lr=args.lr,
            weight_decay=args.weight_decay,
            scheduler=args.scheduler,
            device=args.device,
            limit=args.limit,
            eval_every=args.eval_every,
            quiet=args.quiet,
            num_workers=args.num_workers,
            data_root=args.data_root,
            model_kwargs=_keyword_options(args.model_kw, "--model-kw"),
            data_kwargs=_keyword_options(args.data_kw, "--data-kw"),
            recalibrate_bn=args.recalibrate_bn,
        )
        train(config, resume=args.resume)
    except (ValueError, TypeError, FileExistsError, FileNotFoundError, RunLockedError) as exc:
        print(f"gattn train: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    from ..train import evaluate_run

    try:
        res = evaluate_run(
            args.run,
            device=args.device,
            batch_size=args.batch_size,
            check_invariance=not args.no_invariance,
            angles=args.angle,
        )
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"gattn evaluate: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"run         {res['run']}")
    print(f"model       {res['model']} ({res['params']:,} parameters) on {res['data']}")
    print(f"selected    epoch {res['best_epoch']} (validation error {res['val_error']:.2f}%)")
    print(f"test error  {res['test_error']:.2f}%  (n={res['n_test']})")
    inv = res.get("invariance")
    if inv is not None:
        verdict = ("invariant" if inv["max_relative"] <= 1e-5 else "NOT invariant") + (
            " (as expected)"
            if (inv["max_relative"] <= 1e-5) == inv["expected_invariant"]
            else " (UNEXPECTED)"
        )
        per = ", ".join(f"{e:.1e}" for e in inv["per_element"])
        print(
            f"invariance  max relative change of the logits under the {len(inv['per_element'])} "
            f"grid transformations of {inv['group']} (float32, test set): "
            f"{inv['max_relative']:.2e} -> {verdict}  [per element: {per}]"
        )
        errs = ", ".join(
            f"{name} {err:.2f}%" for name, err in zip(inv["elements"], inv["per_element_error"])
        )
        print(f"rotated     test error on the transformed test images: {errs}")
    for rot in res.get("rotated", []):
        how = "a pixel permutation" if rot["angle"] % 90 == 0 else "bilinear, zeros outside"
        print(
            f"angle       test error on the test images rotated by {rot['angle']:g}° "
            f"({how}): {rot['test_error']:.2f}%  (n={rot['n']})"
        )
    return 0


def _run_table(args: argparse.Namespace) -> int:
    from ..train import results_table

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            table = results_table(args.runs, strict=False)
        for w in caught:
            print(f"gattn table: warning: {w.message}", file=sys.stderr)
        print(table)
    except (ValueError, FileNotFoundError) as exc:
        print(f"gattn table: error: {exc}", file=sys.stderr)
        return 2
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train``, ``evaluate`` and ``table`` subcommands."""
    p = subparsers.add_parser(
        "train",
        help="train a model (validation-selected; resumable; torchrun-aware)",
        description="Train a model on a dataset; the checkpoint with the lowest validation "
        "error is tested at the end. Run under torchrun for data parallelism. See "
        "docs/training.md.",
        formatter_class=_HelpFormatter,
    )
    p.add_argument("--model", required=True, metavar="NAME", help="model name, one of: {models}")
    p.add_argument("--data", required=True, metavar="NAME", help="dataset name, one of: {datasets}")
    p.add_argument("--epochs", type=_positive_int, default=20, help="training epochs")
    p.add_argument("--seed", type=int, default=0, help="initialisation/shuffling/dropout seed")
    p.add_argument("--data-seed", type=int, default=0, help="dataset seed (angles, split)")
    p.add_argument(
        "--out", required=True, help="run folder (locked while a training writes into it)"
    )
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        default=128,
        help="global batch size (split across processes under torchrun)",
    )
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--weight-decay", type=float, default=1e-4, help="Adam (L2) weight decay")
    p.add_argument(
        "--scheduler", choices=("none", "cosine"), default="none", help="learning-rate schedule"
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in OUT from OUT/last.pt (OUT must exist)",
    )
    p.add_argument(
        "--limit", type=_positive_int, default=None, help="max examples per split (default: all)"
    )
    p.add_argument("--eval-every", type=_positive_int, default=1, help="validate every N epochs")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument(
        "--data-root",
        default=None,
        help="where the raw dataset files are (default: the dataset's own, see docs/data.md)",
    )
    p.add_argument(
        "--model-kw",
        action="append",
        metavar="KEY=VALUE",
        help="model builder option, repeatable (e.g. --model-kw dropout=0.0)",
    )
    p.add_argument(
        "--data-kw",
        action="append",
        metavar="KEY=VALUE",
        help="dataset builder option, repeatable (e.g. --data-kw rotate=false --data-kw size=29 "
        "for upright rotmnist-small digits resized to 29 px, see docs/data.md)",
    )
    p.add_argument(
        "--recalibrate-bn",
        action="store_true",
        help="before each validation, re-estimate the batch-norm running statistics over the "
        "training split with dropout off (fixes the dropout/batch-norm variance shift)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    p.set_defaults(func=_run_train)

    e = subparsers.add_parser(
        "evaluate",
        help="test error, parameters and logit invariance of a run",
        description="Load RUN/best.pt (validation-selected), report the test error, the "
        "parameter count and the largest relative change of the logits under the grid "
        "rotations (p4: 4, p4m: 8 with mirrors) over the test set, in float32; with --angle, "
        "also the test error on the test images rotated by arbitrary angles.",
        formatter_class=_HelpFormatter,
    )
    e.add_argument("run", help="run folder written by gattn train")
    e.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    e.add_argument("--batch-size", type=_positive_int, default=256, help="evaluation batch size")
    e.add_argument("--no-invariance", action="store_true", help="skip the invariance check")
    e.add_argument(
        "--angle",
        type=_angle,
        action="append",
        metavar="DEGREES",
        help="also report the test error on the test images rotated by this angle "
        "(counterclockwise, about the image centre, bilinear with zeros outside; repeatable; "
        "see docs/continuous.md)",
    )
    e.add_argument("--json", action="store_true", help="print JSON")
    e.set_defaults(func=_run_evaluate)

    t = subparsers.add_parser(
        "table",
        help="markdown results table over runs (mean ± std over seeds)",
        description="Group finished runs by dataset and model; print mean ± sample std. A "
        "folder given twice (also through another path) is counted once, with a warning.",
    )
    t.add_argument("runs", nargs="+", help="run folders (unfinished ones are skipped)")
    t.set_defaults(func=_run_table)

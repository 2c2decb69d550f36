"""Markdown table of test accuracy on the test digits rotated by each grid element, over seeds.

The "Using and abusing equivariance" table (docs/results.md): for each group of run folders
(e.g. P4CNN trained upright at 28 px, and at 29 px), the validation-selected checkpoint is tested
on the test split transformed by every element of the model's check group (0/90/180/270° for
p4), and the mean ± sample standard deviation over the runs is printed.

Usage::

    python scripts/rotation_table.py "28 px=runs/uae28/*/" "29 px=runs/uae29/*/"
"""

from __future__ import annotations

import glob
import math
import sys
import warnings

from gattn.analysis import EquivarianceWarning
from gattn.train import evaluate_run


def _fmt(values: list[float]) -> str:
    m = sum(values) / len(values)
    if len(values) < 2:
        return f"{m:.2f}"
    s = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))
    return f"{m:.2f} ± {s:.2f}"


def main(argv: list[str]) -> int:
    # 29 px is inexact on purpose: the table measures what the size warning predicts
    warnings.simplefilter("ignore", EquivarianceWarning)
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    header = None
    rows = []
    for spec in argv:
        label, sep, pattern = spec.partition("=")
        if not sep:
            print(f"error: expected LABEL=GLOB, got {spec!r}", file=sys.stderr)
            return 2
        runs = sorted(glob.glob(pattern))
        if not runs:
            print(f"error: no run folder matches {pattern!r}", file=sys.stderr)
            return 2
        results = [evaluate_run(r, device="cpu")["invariance"] for r in runs]
        names = results[0]["elements"]
        header = header or names
        acc = [[100.0 - r["per_element_error"][i] for r in results] for i in range(len(names))]
        inv = max(r["max_relative"] for r in results)
        rows.append(
            f"| {label} | {len(runs)} | " + " | ".join(_fmt(a) for a in acc) + f" | {inv:.1e} |"
        )
    print(
        "| runs | seeds | "
        + " | ".join(f"test acc. at {n} (%)" for n in header)
        + " | max rel. logit change |"
    )
    print("|---|---:|" + "---:|" * len(header) + "---:|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

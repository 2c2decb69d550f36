"""The benchmark suite: every case measured in one run, each in a fresh process, reported as
ratios first (the numbers that matter), then absolute times and memory.

``python -m gattn.bench`` / ``gattn bench`` writes ``benchmarks/results/<device>.json`` and a
markdown table next to it.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .measure import device_name, run_isolated

__all__ = ["Comparison", "default_suite", "run_suite", "to_markdown"]

ROT_MNIST_LAYER = {"batch": 128, "cin": 10, "cout": 10, "size": 28, "kernel": 3}


@dataclass
class Comparison:
    """``case`` measured against ``baseline``; ``targets`` bound the ratios
    (``{"time": 3.0, "memory": 2.0}``)."""

    name: str
    case: tuple[str, dict]
    baseline: tuple[str, dict]
    targets: dict = field(default_factory=dict)
    section: str = "layers"


def default_suite(quick: bool = False) -> list[Comparison]:
    """The comparisons of the issues' targets plus scaling rows (``quick``: smaller shapes)."""
    layer = dict(ROT_MNIST_LAYER)
    if quick:
        layer.update(batch=8, size=16)
    plain = ("group_conv", {"group": "p4", **layer})
    floor = ("conv2d", {"order": 4, **layer})
    rows = [
        Comparison("plain GroupConv vs Conv2d (floor)", plain, floor, {"time": 1.15}),
        Comparison(
            "plain GroupConv vs e2cnn R2Conv",
            plain,
            ("e2cnn_r2conv", {"order": 4, **layer}),
            {"time": 1.0},
        ),
    ]
    for att, targets in (
        ("full", {"time": 3.0, "memory": 2.0}),
        ("input", {"time": 1.3, "memory": 1.5}),
        ("channel", {}),
        ("spatial", {}),
        ("codomain", {}),
    ):
        rows.append(
            Comparison(
                f"attentive GroupConv ({att}) vs plain",
                ("attentive_group_conv", {"attention": att, "group": "p4", **layer}),
                plain,
                targets,
            )
        )
    rows.append(
        Comparison(
            "attentive GroupConv (full, checkpoint=True) vs plain",
            (
                "attentive_group_conv",
                {"attention": "full", "group": "p4", "checkpoint": True, **layer},
            ),
            plain,
            {"time": 3.0, "memory": 2.0},
        )
    )
    for backend in ("eager", "compiled"):  # issue 17: the CPU targets, per backend
        rows.append(
            Comparison(
                f"fused: attentive GroupConv (full, backend={backend}) vs plain",
                (
                    "attentive_group_conv",
                    {"attention": "full", "group": "p4", "backend": backend, **layer},
                ),
                plain,
                {"time": 6.0, "memory": 2.0},
                section="fused",
            )
        )
    rows.append(
        Comparison(
            "fused: attentive GroupConv (input) vs plain",
            ("attentive_group_conv", {"attention": "input", "group": "p4", **layer}),
            plain,
            {"time": 1.2, "memory": 1.2},
            section="fused",
        )
    )
    rows.append(
        Comparison(
            "field-kernel GroupConv on SE2() (8 samples) vs plain p8 GroupConv",
            ("field_group_conv", {"samples": 8, **layer}),
            ("group_conv", {"group": "C8", **layer}),
            {"time": 2.0, "memory": 2.0},
        )
    )
    rows.append(
        Comparison(
            "floor: the 7x7 depthwise spatial-attention correlation alone vs plain",
            ("spatial_attention_floor", {"order": 4, **_without(layer, "cin")}),
            plain,
        )
    )
    rows.append(
        Comparison(
            "full attention, materialising reference vs plain",
            ("attentive_reference", {"group": "p4", **layer}),
            plain,
        )
    )
    for grp in ("p4", "p4m"):
        sa = {"group": grp, "batch": 2 if quick else 8}
        rows.append(
            Comparison(
                f"GSA rot-MNIST training step ({grp}, p=5): lean vs materialising",
                ("gsa_training", sa),
                ("gsa_training", {**sa, "implementation": "materialising"}),
                section="self-attention",
            )
        )
    batch = 16 if quick else 128
    for model in ("p4cnn", "af-p4cnn", "a-p4cnn", "gsa-p4"):
        rows.append(
            Comparison(
                f"training step: {model} vs p4cnn",
                ("model_training", {"model": model, "batch": batch if "gsa" not in model else 8}),
                ("model_training", {"model": "p4cnn", "batch": batch if "gsa" not in model else 8}),
                section="models",
            )
        )
    for backend in ("eager", "compiled"):
        rows.append(
            Comparison(
                f"fused: training step a-p4cnn (backend={backend}) vs p4cnn",
                ("model_training", {"model": "a-p4cnn", "batch": batch, "backend": backend}),
                ("model_training", {"model": "p4cnn", "batch": batch}),
                {"time": 6.0},
                section="fused",
            )
        )
    small = dict(layer, batch=8)
    for order in (4, 8, 16):
        rows.append(
            Comparison(
                f"scaling |H|={order} (batch 8): attentive (full) vs plain",
                ("attentive_group_conv", {"attention": "full", "group": f"C{order}", **small}),
                ("group_conv", {"group": f"C{order}", **small}),
                section="scaling",
            )
        )
    for size in (28, 56, 112):
        lay = dict(small, size=size if not quick else size // 2)
        rows.append(
            Comparison(
                f"scaling size={lay['size']} (batch 8): attentive (full) vs plain",
                ("attentive_group_conv", {"attention": "full", "group": "p4", **lay}),
                ("group_conv", {"group": "p4", **lay}),
                section="scaling",
            )
        )
    return rows


def _without(params: dict, *names: str) -> dict:
    return {k: v for k, v in params.items() if k not in names}


def _key(case: tuple[str, dict]) -> str:
    return case[0] + json.dumps(case[1], sort_keys=True)


def run_suite(
    device: str = "cpu",
    quick: bool = False,
    repeats: int = 5,
    out_dir: str | Path | None = "benchmarks/results",
    select: str | None = None,
    progress: bool = True,
    rounds: int = 1,
) -> dict:
    """Measure every comparison (cases shared between rows are measured once per round).

    With ``rounds > 1`` every case is measured once per round, round-robin (all cases, then all
    cases again), so slow drifts of a shared machine hit case and baseline alike; a row's ratio
    is the median over rounds of the same-round ratios, and its case/baseline numbers are
    per-round medians (``time_ratio_rounds`` lists the per-round ratios).

    Args:
        device: ``"cpu"`` or ``"cuda"``.
        quick: small shapes (a smoke run).
        repeats: timed steps per case.
        out_dir: where to write ``<device>.json`` and ``.md`` (``None``: do not write).
        select: only rows whose name contains this text.
        progress: show a progress bar.
        rounds: measurements of every case (median reported).

    Returns:
        The results dictionary (also written as JSON).
    """
    suite = [c for c in default_suite(quick) if select is None or select in c.name]
    if not suite:
        raise ValueError(f"select={select!r} matches no benchmark row")
    if not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be a positive integer, got {rounds!r}")
    cache: dict[str, list[dict]] = {}
    cases = []
    for row in suite:
        for case in (row.case, row.baseline):
            if _key(case) not in cache:
                cache[_key(case)] = []
                cases.append(case)
    jobs = [case for _ in range(rounds) for case in cases]
    for case in tqdm(jobs, desc="benchmarks", disable=not progress):
        params = dict(case[1], device=device, repeats=repeats)
        cache[_key(case)].append(run_isolated(case[0], params))
    rows = []
    for row in suite:
        runs_a, runs_b = cache[_key(row.case)], cache[_key(row.baseline)]
        a, b = _combine(runs_a), _combine(runs_b)
        entry = {
            "name": row.name,
            "section": row.section,
            "case": a,
            "baseline": b,
            "targets": row.targets,
        }
        if "error" not in a and "error" not in b:
            ratios = [ra["time_s"] / rb["time_s"] for ra, rb in zip(runs_a, runs_b)]
            entry["time_ratio"] = statistics.median(ratios)
            if rounds > 1:
                entry["time_ratio_rounds"] = ratios
            entry["memory_ratio"] = a["peak_mb"] / b["peak_mb"] if b["peak_mb"] > 0 else None
            met = []
            if "time" in row.targets:
                met.append(entry["time_ratio"] <= row.targets["time"])
            if "memory" in row.targets and entry["memory_ratio"] is not None:
                met.append(entry["memory_ratio"] <= row.targets["memory"])
            entry["target_met"] = all(met) if met else None
        rows.append(entry)
    dev = device_name(device)
    result = {
        "device": dev,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "quick": quick,
        "rounds": rounds,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "rows": rows,
    }
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        stem = dev + ("-quick" if quick else "")
        (out / f"{stem}.json").write_text(json.dumps(result, indent=2))
        (out / f"{stem}.md").write_text(to_markdown(result))
    return result


def _combine(runs: list[dict]) -> dict:
    """One case's measurements over rounds -> per-round medians (the first error, if any)."""
    for r in runs:
        if "error" in r:
            return r
    out = dict(runs[-1])
    out["time_s"] = statistics.median(r["time_s"] for r in runs)
    out["peak_mb"] = statistics.median(r["peak_mb"] for r in runs)
    return out


def _fmt(v, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def to_markdown(result: dict) -> str:
    """The results as markdown: ratios first, then absolute numbers."""
    lines = [
        f"# Benchmarks on {result['device']}",
        "",
        f"torch {result['torch']}, {result['threads']} threads, {result['date']}"
        + (" (quick shapes)" if result.get("quick") else "")
        + (
            f"; {result['rounds']} rounds, ratios are medians of same-round ratios"
            if result.get("rounds", 1) > 1
            else ""
        ),
        "",
        "| comparison | time ratio | memory ratio | target | met | case time (s) | "
        "baseline time (s) | case peak (MiB) | baseline peak (MiB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        a, b = r["case"], r["baseline"]
        tgt = ", ".join(f"{k} ≤ {v}×" for k, v in r["targets"].items()) or "-"
        if "error" in a or "error" in b:
            err = a.get("error") or b.get("error")
            lines.append(f"| {r['name']} | error | | {tgt} | | {err[:80]} | | | |")
            continue
        met = {True: "yes", False: "**no**", None: "-"}[r.get("target_met")]
        lines.append(
            f"| {r['name']} | {_fmt(r['time_ratio'], '.2f')}× | "
            f"{_fmt(r['memory_ratio'], '.2f')}{'×' if r['memory_ratio'] else ''} | {tgt} | {met} | "
            f"{a['time_s']:.4f} | {b['time_s']:.4f} | {a['peak_mb']:.1f} | {b['peak_mb']:.1f} |"
        )
    seen: dict[str, float] = {}
    for r in result["rows"]:
        for side in ("case", "baseline"):
            m = r[side]
            images = m.get("extra", {}).get("images") if "error" not in m else None
            if images and r["section"] == "models":
                label = r["name"].split(": ")[-1].split(" vs ")[0 if side == "case" else 1]
                seen[f"{label} (batch {images})"] = images / m["time_s"]
    if seen:
        lines += ["", "Whole-model training throughput (images/s, one optimiser step each):", ""]
        lines += ["| model | images/s |", "|---|---|"]
        lines += [f"| {name} | {ips:.1f} |" for name, ips in seen.items()]
    return "\n".join(lines) + "\n"

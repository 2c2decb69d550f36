"""Forward+backward time and peak memory of attentive vs plain group convolutions (CPU).

Layer shape of rot-MNIST P4CNN: batch 128, 10 -> 10 channels, p4, 28x28, kernel 3, padding 1.
Each configuration runs in a fresh subprocess; peak memory = ``ru_maxrss`` after the timed
steps minus ``ru_maxrss`` after building the inputs (the baseline). Results are written as
ratios to ``benchmarks/results/conv_cpu.json`` and ``.md``.

Usage: ``python benchmarks/bench_conv.py [--repeats 5] [--batch 128]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

CONFIGS = ["conv2d", "plain", "full", "input", "channel", "spatial", "codomain", "e2cnn"]
RESULTS = Path(__file__).parent / "results"


def _build(name: str, batch: int, size: int, c: int):
    import torch

    from gattn.groups import p4
    from gattn.nn import GroupConv
    from gattn.nn.attentive import AttentiveGroupConv

    torch.manual_seed(0)
    if name == "conv2d":
        layer = torch.nn.Conv2d(4 * c, 4 * c, 3, padding=1)
        x = torch.randn(batch, 4 * c, size, size)
        return layer, x
    if name == "e2cnn":
        from e2cnn import gspaces
        from e2cnn import nn as enn

        space = gspaces.Rot2dOnR2(N=4)
        ftype = enn.FieldType(space, c * [space.regular_repr])
        layer = enn.R2Conv(ftype, ftype, 3, padding=1)
        layer.train()
        x = enn.GeometricTensor(torch.randn(batch, 4 * c, size, size), ftype)
        return layer, x
    x = torch.randn(batch, c, 4, size, size)
    if name == "plain":
        return GroupConv(p4(), c, c, 3, padding=1), x
    return AttentiveGroupConv(p4(), c, c, 3, padding=1, attention=name), x


def _step(layer, x):
    y = layer(x)
    if hasattr(y, "tensor"):
        y = y.tensor
    y.square().mean().backward()


def run_one(name: str, batch: int, size: int, c: int, repeats: int) -> dict:
    import torch

    torch.set_num_threads(2)
    layer, x = _build(name, batch, size, c)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _step(layer, x)  # warm-up (also allocates the steady-state memory)
    times = []
    for _ in range(repeats):
        layer.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        _step(layer, x)
        times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times.sort()
    return {"time_s": times[len(times) // 2], "peak_mib": (peak - base) / 1024.0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--configs", nargs="*", default=CONFIGS)
    args = parser.parse_args()
    if args.one:
        res = run_one(args.one, args.batch, args.size, args.channels, args.repeats)
        print(json.dumps(res))
        return
    results = {}
    for name in args.configs:
        cmd = [
            sys.executable,
            __file__,
            "--one",
            name,
            "--repeats",
            str(args.repeats),
            "--batch",
            str(args.batch),
            "--size",
            str(args.size),
            "--channels",
            str(args.channels),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            results[name] = {"error": proc.stderr.strip().splitlines()[-1][:200]}
        else:
            results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(name, results[name], flush=True)
    plain = results["plain"]
    for r in results.values():
        if "time_s" in r:
            r["time_vs_plain"] = r["time_s"] / plain["time_s"]
            r["mem_vs_plain"] = r["peak_mib"] / max(plain["peak_mib"], 1e-9)
    if "time_s" in results.get("conv2d", {}):
        results["plain"]["time_vs_conv2d"] = plain["time_s"] / results["conv2d"]["time_s"]
    if "time_s" in results.get("e2cnn", {}):
        results["plain"]["time_vs_e2cnn"] = plain["time_s"] / results["e2cnn"]["time_s"]
    meta = {
        "shape": f"batch {args.batch}, {args.channels}->{args.channels} channels, p4, "
        f"{args.size}x{args.size}, kernel 3, padding 1, float32, forward+backward",
        "threads": 2,
        "repeats": args.repeats,
        "memory": "ru_maxrss after the steps minus ru_maxrss after building inputs, "
        "fresh subprocess per config",
        "targets": {
            "full": "time <= 3x plain, memory <= 2x plain",
            "input": "time <= 1.3x plain, memory <= 1.5x plain",
            "plain": "time <= 1.15x conv2d 40->40; no slower than e2cnn R2Conv (train)",
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "conv_cpu.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    lines = [
        "# Attentive group convolution, CPU benchmark",
        "",
        meta["shape"] + f"; {meta['threads']} threads; median of {args.repeats}.",
        "",
        "| config | time (ms) | peak (MiB) | time / plain | memory / plain |",
        "|---|---|---|---|---|",
    ]
    for name, r in results.items():
        if "time_s" in r:
            lines.append(
                f"| {name} | {1e3 * r['time_s']:.1f} | {r['peak_mib']:.1f} | "
                f"{r['time_vs_plain']:.2f} | {r['mem_vs_plain']:.2f} |"
            )
        else:
            lines.append(f"| {name} | n/a ({r['error']}) | | | |")
    for key in ("time_vs_conv2d", "time_vs_e2cnn"):
        if key in plain:
            lines.append(f"\nplain GroupConv {key.replace('_', ' ')}: {plain[key]:.2f}")
    (RESULTS / "conv_cpu.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

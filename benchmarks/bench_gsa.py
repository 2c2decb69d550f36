"""Benchmark: one training step (forward, backward, Adam) of the rot-MNIST GroupTransformer.

Measures wall time per step and peak resident memory (``ru_maxrss``, one fresh subprocess per
configuration, so numbers do not contaminate each other) for

* ``lean``: the layers of :mod:`gattn.nn.self_attention` as shipped (default settings);
* ``lean_ckpt``: the same with ``chunk_size=1, checkpoint=True`` (attention recomputed in the
  backward pass, one sample at a time);
* ``materialising``: every attention layer replaced by the straightforward per-pixel
  materialising implementation kept in ``tests/nn/test_self_attention.py``;

and compares with the reference code's figures (SPEC §4, g_selfatt, batch 8, p = 5, 2 CPU
cores: p4 3.7 GB / 12 s, p4m 17.7 GB / 106 s).

Run: ``python benchmarks/bench_gsa.py`` (writes ``benchmarks/results/gsa_cpu.json``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = {"p4": {"peak_gb": 3.7, "step_s": 12.0}, "p4m": {"peak_gb": 17.7, "step_s": 106.0}}


def _load_materialised():
    path = ROOT / "tests" / "nn" / "test_self_attention.py"
    spec = importlib.util.spec_from_file_location("_gsa_test_reference", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.materialised_reference


def run_one(group: str, impl: str, steps: int, batch: int, threads: int) -> dict:
    import torch

    from gattn.models.transformer import count_parameters, gsa_rotmnist
    from gattn.nn.self_attention import GroupSelfAttention, LiftingSelfAttention

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    kw = {"chunk_size": 1, "checkpoint": True} if impl == "lean_ckpt" else {}
    model = gsa_rotmnist(group, **kw)
    if impl == "materialising":
        ref = _load_materialised()
        for mod in model.modules():
            if isinstance(mod, (GroupSelfAttention, LiftingSelfAttention)):
                mod.forward = (lambda m: lambda x: ref(m, x))(mod)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.randn(batch, 1, 28, 28)
    y = torch.randint(10, (batch,))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(steps + 1):  # the first step is a warm-up
        t0 = time.perf_counter()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "group": group,
        "impl": impl,
        "parameters": count_parameters(model),
        "step_s_min": min(times[1:]),
        "step_s_median": sorted(times[1:])[len(times[1:]) // 2],
        "step_s_all": times,
        "peak_rss_gb": peak / 2**20,
        "baseline_rss_gb": base / 2**20,
        "peak_minus_baseline_gb": (peak - base) / 2**20,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", nargs="+", default=["p4", "p4m"])
    ap.add_argument("--impls", nargs="+", default=["lean", "lean_ckpt", "materialising"])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "gsa_cpu.json"))
    ap.add_argument("--child", nargs=2, metavar=("GROUP", "IMPL"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        res = run_one(args.child[0], args.child[1], args.steps, args.batch, args.threads)
        print("RESULT " + json.dumps(res))
        return
    results = []
    for group in args.groups:
        for impl in args.impls:
            cmd = [sys.executable, __file__, "--child", group, impl, "--steps", str(args.steps)]
            cmd += ["--batch", str(args.batch), "--threads", str(args.threads)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode != 0 or not line:
                res = {"group": group, "impl": impl, "error": proc.stderr[-2000:]}
            else:
                res = json.loads(line[-1][7:])
                ref = REFERENCE.get(group)
                if ref:
                    res["memory_ratio_vs_reference"] = ref["peak_gb"] / res["peak_rss_gb"]
                    res["speedup_vs_reference"] = ref["step_s"] / res["step_s_min"]
            results.append(res)
            print(json.dumps({k: v for k, v in res.items() if k != "step_s_all"}), flush=True)
    for group in args.groups:
        by = {r["impl"]: r for r in results if r["group"] == group and "error" not in r}
        if "materialising" in by:
            for impl in ("lean", "lean_ckpt"):
                if impl in by:
                    m, lean = by["materialising"], by[impl]
                    lean["speedup_vs_materialising"] = m["step_s_min"] / lean["step_s_min"]
                    lean["memory_ratio_vs_materialising"] = (
                        m["peak_minus_baseline_gb"] / lean["peak_minus_baseline_gb"]
                    )
    out = {
        "command": "python benchmarks/bench_gsa.py " + " ".join(sys.argv[1:]),
        "batch": args.batch,
        "threads": args.threads,
        "patch_size": 5,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "loadavg_at_end": os.getloadavg(),
        "reference": REFERENCE,
        "results": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print("wrote", args.out)


if __name__ == "__main__":
    main()

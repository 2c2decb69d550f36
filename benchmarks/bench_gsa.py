"""Benchmark: one training step (forward, backward, Adam) of the rot-MNIST GroupTransformer.

Measures wall time per step and peak resident memory (``ru_maxrss``, one fresh subprocess per
configuration, so numbers do not contaminate each other) for

* ``fused``: the layers of :mod:`gattn.nn.self_attention` with ``checkpoint=False`` (fused
  local attention with a hand-written backward; keeps only the softmax probabilities);
* ``fused_recompute``: the same with ``chunk_size=1, checkpoint=True`` (keeps no
  probabilities, recomputes them in the backward pass one sample at a time; what
  ``gsa_rotmnist`` uses by default, up to the chunk size);
* ``materialising``: every attention layer replaced by the straightforward per-pixel
  materialising implementation kept in ``tests/nn/test_self_attention.py``;
* ``flex``: local attention through ``torch.nn.attention.flex_attention``
  (``attention_backend="flex"``, :mod:`gattn.ops.flex`; compiled on CUDA, eager on CPU). On
  CPU torch's flex has no backward pass, so the training step is reported as an error there;
* ``fused_eval`` / ``flex_eval``: the forward pass alone (``eval()``, ``torch.no_grad()``), so
  the two backends are compared where both run (``flex_eval`` is compiled when
  ``--compile-flex`` is given: on CPU the C++ flex kernel, tens of seconds to compile, not
  timed: the first step is a warm-up);

and compares with the reference code's published figures (docs/self_attention.md, g_selfatt,
batch 8, p = 5, 2 CPU cores: p4 3.7 GB / 12 s, p4m 17.7 GB / 106 s).

Each fused configuration is also run with glibc's allocator told to return memory
(``MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=65536``, suffix ``+malloc``): allocator caching is
not the algorithm's memory, both are reported. Step times: wall clock (``step_s``) and process
CPU time (``cpu_s``, robust to other jobs on the machine), medians over the timed steps.

Run: ``python benchmarks/bench_gsa.py`` (writes ``benchmarks/results/gsa_cpu.json`` and
``gsa_cpu.md``). ``--device cuda`` times on the GPU (synchronised; peak memory is
``torch.cuda.max_memory_allocated``, reported in the same columns).
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
MALLOC_ENV = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "65536"}
REFERENCE = {"p4": {"peak_gb": 3.7, "step_s": 12.0}, "p4m": {"peak_gb": 17.7, "step_s": 106.0}}


def _load_materialised():
    path = ROOT / "tests" / "nn" / "test_self_attention.py"
    spec = importlib.util.spec_from_file_location("_gsa_test_reference", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.materialised_reference


def run_one(
    group: str,
    impl: str,
    steps: int,
    batch: int,
    threads: int,
    device: str = "cpu",
    compile_flex: bool = False,
) -> dict:
    import torch

    from gattn.models.transformer import count_parameters, gsa_rotmnist
    from gattn.nn.self_attention import GroupSelfAttention, LiftingSelfAttention
    from gattn.ops import flex as flex_ops

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    kw = {"chunk_size": 1, "checkpoint": True} if impl == "fused_recompute" else {}
    kw = {"checkpoint": False} if impl in ("fused", "fused_eval") else kw
    model = gsa_rotmnist(group, **kw).to(device)
    backend = "flex" if impl.startswith("flex") else "fused"
    for mod in model.modules():
        if isinstance(mod, (GroupSelfAttention, LiftingSelfAttention)):
            mod.attention_backend = backend
    if compile_flex:
        flex_ops.COMPILE_BY_DEVICE[torch.device(device).type] = True
    evaluate = impl.endswith("_eval")
    if impl == "materialising":
        ref = _load_materialised()
        for mod in model.modules():
            if isinstance(mod, (GroupSelfAttention, LiftingSelfAttention)):
                mod.forward = (lambda m: lambda x: ref(m, x))(mod)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.randn(batch, 1, 28, 28, device=device)
    y = torch.randint(10, (batch,), device=device)
    cuda = device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    if evaluate:
        model.eval()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated() / 2**10  # KiB, like ru_maxrss
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times, cpu = [], []
    for _ in range(steps + 1):  # the first step is a warm-up (and compiles flex)
        sync()
        t0, c0 = time.perf_counter(), time.process_time()
        if evaluate:
            with torch.no_grad():
                model(x)
        else:
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        sync()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    if cuda:
        peak = torch.cuda.max_memory_allocated() / 2**10
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "group": group,
        "impl": impl,
        "device": device,
        "memory": "cuda max_memory_allocated" if cuda else "ru_maxrss",
        "parameters": count_parameters(model),
        "step_s_min": min(times[1:]),
        "step_s_median": sorted(times[1:])[len(times[1:]) // 2],
        "step_s_all": times,
        "cpu_s_median": sorted(cpu[1:])[len(cpu[1:]) // 2],
        "cpu_s_all": cpu,
        "peak_rss_gb": peak / 2**20,
        "baseline_rss_gb": base / 2**20,
        "peak_minus_baseline_gb": (peak - base) / 2**20,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", nargs="+", default=["p4", "p4m"])
    ap.add_argument(
        "--impls",
        nargs="+",
        default=[
            "fused",
            "fused_recompute",
            "materialising",
            "fused+malloc",
            "fused_recompute+malloc",
            "flex",
            "fused_eval",
            "flex_eval",
        ],
    )
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument(
        "--compile-flex", action="store_true", help="CPU: compile flex_eval (C++ flex kernel)"
    )
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "gsa_cpu.json"))
    ap.add_argument("--child", nargs=2, metavar=("GROUP", "IMPL"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        res = run_one(
            args.child[0],
            args.child[1],
            args.steps,
            args.batch,
            args.threads,
            args.device,
            args.compile_flex,
        )
        print("RESULT " + json.dumps(res))
        return
    results = []
    for group in args.groups:
        for label in args.impls:
            impl, _, extra = label.partition("+")
            env = dict(os.environ, **(MALLOC_ENV if extra == "malloc" else {}))
            cmd = [sys.executable, __file__, "--child", group, impl, "--steps", str(args.steps)]
            cmd += ["--batch", str(args.batch), "--threads", str(args.threads)]
            cmd += ["--device", args.device] + (["--compile-flex"] if args.compile_flex else [])
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode != 0 or not line:
                res = {"group": group, "impl": label, "error": proc.stderr[-2000:]}
            else:
                res = json.loads(line[-1][7:])
                res["impl"] = label
                ref = REFERENCE.get(group)
                if ref and args.device == "cpu" and not label.endswith("_eval"):
                    res["memory_ratio_vs_reference"] = ref["peak_gb"] / res["peak_rss_gb"]
                    res["speedup_vs_reference"] = ref["step_s"] / res["step_s_median"]
                    res["cpu_speedup_vs_reference"] = ref["step_s"] / (
                        res["cpu_s_median"] / args.threads
                    )
            results.append(res)
            print(json.dumps({k: v for k, v in res.items() if not k.endswith("_all")}), flush=True)
    for group in args.groups:
        by = {r["impl"]: r for r in results if r["group"] == group and "error" not in r}
        if "fused_eval" in by and "flex_eval" in by:
            f, x = by["fused_eval"], by["flex_eval"]
            x["time_ratio_vs_fused_eval"] = x["step_s_median"] / f["step_s_median"]
            x["memory_ratio_vs_fused_eval"] = x["peak_rss_gb"] / f["peak_rss_gb"]
        if "fused" in by and "flex" in by:
            f, x = by["fused"], by["flex"]
            x["time_ratio_vs_fused"] = x["step_s_median"] / f["step_s_median"]
            x["memory_ratio_vs_fused"] = x["peak_rss_gb"] / f["peak_rss_gb"]
        if "materialising" in by:
            m = by["materialising"]
            for label, res in by.items():
                if label != "materialising" and not label.endswith("_eval"):
                    res["speedup_vs_materialising"] = m["step_s_median"] / res["step_s_median"]
                    res["cpu_speedup_vs_materialising"] = m["cpu_s_median"] / res["cpu_s_median"]
                    res["memory_ratio_vs_materialising"] = m["peak_rss_gb"] / res["peak_rss_gb"]
                    res["memory_above_baseline_ratio_vs_materialising"] = (
                        m["peak_minus_baseline_gb"] / res["peak_minus_baseline_gb"]
                    )
    out = {
        "command": "python benchmarks/bench_gsa.py " + " ".join(sys.argv[1:]),
        "batch": args.batch,
        "threads": args.threads,
        "device": args.device,
        "patch_size": 5,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "loadavg_at_end": os.getloadavg(),
        "reference": REFERENCE,
        "results": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    Path(args.out).with_suffix(".md").write_text(_markdown(out))
    print("wrote", args.out)


def _markdown(out: dict) -> str:
    """A table of the results (the JSON has every step)."""
    rows = [
        f"# GSA training step, rot-MNIST model, batch {out['batch']}, p = 5, "
        f"{out['threads']} threads",
        "",
        f"Command: `{out['command']}`; load average at the end {out['loadavg_at_end']}.",
        "Reference (docs/self_attention.md): p4 3.7 GB / 12 s, p4m 17.7 GB / 106 s. "
        "Medians over the timed steps. `cpu/2` = process CPU time per step divided by the "
        "thread count (OpenMP "
        "threads spin while waiting, so under contention it inflates with wall time; compare "
        "`cpu/2` with `wall`: where they differ little the run had both cores). `+malloc`: "
        "`MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=65536` (allocator returns memory; not "
        "the algorithm's memory, slower).",
        "",
        f"| group | impl | step wall (s) | cpu/{out['threads']} (s) | peak RSS (GB) "
        "| peak − baseline (GB) "
        f"| × ref memory | × ref time (wall) | × ref time (cpu/{out['threads']}) "
        "| × materialising time (wall) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in out["results"]:
        if "error" in r:
            last = [ln for ln in r["error"].strip().splitlines() if ln.strip()] or ["error"]
            msg = last[-1][:160].replace("|", "/")
            rows.append(f"| {r['group']} | {r['impl']} | error: {msg} | | | | | | | |")
            continue

        def f(key, fmt="{:.2f}", r=r):
            return fmt.format(r[key]) if key in r else "—"

        rows.append(
            f"| {r['group']} | {r['impl']} | {f('step_s_median')} | "
            f"{r['cpu_s_median'] / out['threads']:.2f} | {f('peak_rss_gb')} | "
            f"{f('peak_minus_baseline_gb')} | {f('memory_ratio_vs_reference', '{:.1f}')} | "
            f"{f('speedup_vs_reference', '{:.1f}')} | {f('cpu_speedup_vs_reference', '{:.1f}')} | "
            f"{f('speedup_vs_materialising', '{:.1f}')} |"
        )
    for r in out["results"]:
        for key, other in (
            ("time_ratio_vs_fused", "fused"),
            ("time_ratio_vs_fused_eval", "fused_eval"),
        ):
            if key in r:
                mem = r[key.replace("time", "memory")]
                rows.append(
                    f"\n{r['group']}: `{r['impl']}` takes {r[key]:.2f}× the time and {mem:.2f}× "
                    f"the peak memory of `{other}` (same run)."
                )
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    main()

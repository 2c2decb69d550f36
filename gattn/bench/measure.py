"""Timing and peak-memory measurement of forward+backward passes.

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` around the measured step; on the CPU
the growth of the process's resident-set high-water mark (``ru_maxrss``) over one
forward+backward, measured in a fresh subprocess per case (see :func:`run_isolated`) so that
cases do not share a high-water mark.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

__all__ = ["Measurement", "measure_step", "run_isolated", "device_name"]


@dataclass
class Measurement:
    """One case's result.

    Attributes:
        time_s: median wall time of one step (forward + backward, or as the case defines).
        peak_mb: peak memory of one step above the state before it, in MiB.
        repeats: number of timed steps.
        extra: case-specific numbers (e.g. images per second).
    """

    time_s: float
    peak_mb: float
    repeats: int
    extra: dict

    def to_dict(self) -> dict:
        return asdict(self)


def device_name(device: torch.device | str) -> str:
    """A file-name friendly name of the device (``cpu-<model>`` or the CUDA device name)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device).replace(" ", "-")
    return f"cpu-{os.cpu_count()}cores"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure_step(
    step: Callable[[], object],
    device: torch.device | str = "cpu",
    repeats: int = 5,
    warmup: int = 1,
    min_seconds: float = 2.0,
) -> Measurement:
    """Measure ``step`` (a closure running forward + backward) on ``device``.

    The first call is the memory probe (it also warms up); then ``warmup - 1`` untimed and at
    least ``repeats`` timed calls — more for cheap steps, up to ``min_seconds`` of timed work
    (at most 50 calls). The reported time is the median.
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        step()
        _sync(device)
        peak = (torch.cuda.max_memory_allocated(device) - base) / 2**20
    else:
        base = _rss_mb()
        step()
        peak = max(_rss_mb() - base, 0.0)
    for _ in range(max(warmup - 1, 0)):
        step()
    _sync(device)
    t0 = time.perf_counter()
    step()
    _sync(device)
    first = time.perf_counter() - t0
    # cheap steps are noisy: repeat them until about min_seconds of timed work (at most 50)
    repeats = max(repeats, min(50, int(min_seconds / max(first, 1e-6))))
    times = [first]
    for _ in range(repeats - 1):
        t0 = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return Measurement(statistics.median(times), peak, repeats, {})


def run_isolated(case: str, params: dict, timeout: float = 900.0) -> dict:
    """Run one case of :mod:`gattn.bench.cases` in a fresh Python process; returns its JSON
    result (``{"error": ...}`` if it failed)."""
    cmd = [sys.executable, "-m", "gattn.bench.worker", case, json.dumps(params)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": " | ".join(tail) or f"exit code {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])

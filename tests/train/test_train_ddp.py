"""Two-process DistributedDataParallel training (gloo, CPU) through ``torchrun``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest


@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun not on PATH")
def test_torchrun_two_processes(tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "gattn", "train", "--model", "p4cnn", "--data", "rotmnist-small", "--epochs", "1",
        "--limit", "64", "--batch-size", "32", "--device", "cpu", "--quiet", "--out", str(out),
    ]  # fmt: skip
    env_threads = {"OMP_NUM_THREADS": "1"}
    import os

    env = {**os.environ, **env_threads}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    if proc.returncode != 0 and "terminate called without an active exception" in proc.stderr:
        # a gloo worker thread torn down at interpreter exit aborted once (seen 1 in ~10 runs
        # on a loaded 2-core machine); that is a process-exit race, not a training failure:
        # run the whole job once more from scratch
        shutil.rmtree(out, ignore_errors=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (out / ".lock").exists()  # rank 0 took the run-folder lock and released it
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2
    assert summary["n_test"] == 64  # shards of the test split add up to the whole split
    assert proc.stdout.count("best validation error") == 1  # only rank 0 prints
    records = (out / "metrics.jsonl").read_text().splitlines()
    assert (
        len(records) == 1 and json.loads(records[0])["step"] == 2
    )  # 32 per process, batch 16 each

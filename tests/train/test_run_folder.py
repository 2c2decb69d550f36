"""Run folders: the lock, ``--resume`` of a missing folder, atomic metrics rewrite, training
time across resumes, device errors, ``train --help`` and duplicate runs in ``gattn table``."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import types

import pytest
import torch
from tiny_runs import random_splits as _splits
from tiny_runs import tiny_config as _config

from gattn.cli import main
from gattn.train import (
    RunLock,
    RunLockedError,
    load_checkpoint,
    read_metrics,
    resolve_device,
    results_table,
    train,
)
from gattn.train import loop as loop_module


# -- the lock ------------------------------------------------------------------------------
def test_second_training_on_a_locked_folder_refuses(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    with RunLock(run):
        with pytest.raises(RunLockedError, match=f"in use by process {os.getpid()}") as info:
            train(_config(run), splits=_splits())
        assert "--out" in str(info.value)
        assert not (run / "last.pt").exists()  # it wrote nothing
    train(_config(run), splits=_splits())  # free again
    assert (run / "summary.json").is_file() and not (run / ".lock").exists()


def test_lock_held_by_another_process(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    code = (
        "import sys, time; from gattn.train import RunLock; "
        "lock = RunLock(sys.argv[1]).acquire(); print('locked', flush=True); time.sleep(60)"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(run)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=f"process {child.pid}"):
            RunLock(run).acquire()
    finally:
        child.kill()
        child.wait()
    # the owner died without releasing: its stale lock file does not block
    assert (run / ".lock").exists()
    with RunLock(run) as lock:
        assert lock.held and (run / ".lock").read_text().startswith(f"{os.getpid()}@")
    assert not (run / ".lock").exists()


def test_stale_lock_file_is_taken_over(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").write_text("999999999@somewhere\n")  # nobody holds it
    train(_config(run), splits=_splits())
    assert (run / "summary.json").is_file() and not (run / ".lock").exists()


def test_cli_train_on_locked_folder(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    argv = ["train", "--model", "p4cnn", "--data", "rotmnist-small", "--out", str(run)]
    argv += ["--device", "cpu", "--quiet", "--limit", "16"]
    with RunLock(run):
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("gattn train: error:") and "in use" in err and str(run) in err


# -- resume --------------------------------------------------------------------------------
def test_resume_of_a_missing_folder_is_an_error(tmp_path, capsys):
    typo = tmp_path / "rnu"
    with pytest.raises(FileNotFoundError, match="no such run folder"):
        train(_config(typo), resume=True, splits=_splits())
    assert not typo.exists()
    argv = ["train", "--model", "p4cnn", "--data", "rotmnist-small", "--out", str(typo)]
    assert main([*argv, "--device", "cpu", "--resume"]) == 2
    assert "no such run folder" in capsys.readouterr().err
    assert not typo.exists()


def test_resume_of_a_folder_that_is_no_run_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        train(_config(tmp_path), resume=True, splits=_splits())
    assert not (tmp_path / "last.pt").exists()


def test_resume_before_first_epoch_ended_starts_at_zero(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    _config(run).save(run / "config.json")  # a run killed during its first epoch
    summary = train(_config(run), resume=True, splits=_splits())
    assert summary["best_epoch"] == 1 and load_checkpoint(run / "last.pt")["epoch"] == 1


class _DiskFull:
    """A text file whose ``write`` writes half of the data, then fails (disk full)."""

    def __init__(self, fh) -> None:
        self.fh = fh

    def write(self, data: str) -> int:
        self.fh.write(data[: len(data) // 2])
        self.fh.flush()
        raise OSError(28, "No space left on device")

    def __getattr__(self, name):
        return getattr(self.fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.fh.close()


def test_metrics_rewrite_at_resume_is_atomic(tmp_path, monkeypatch):
    run = tmp_path / "run"
    train(_config(run), splits=_splits())
    before = (run / "metrics.jsonl").read_text()
    real_open = io.open

    def flaky_open(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        if "w" in mode and os.path.basename(str(file)).startswith("metrics.jsonl"):
            return _DiskFull(fh)
        return fh

    monkeypatch.setattr(io, "open", flaky_open)
    monkeypatch.setattr("builtins.open", flaky_open)
    with pytest.raises(OSError, match="No space"):
        train(_config(run, 2), resume=True, splits=_splits())
    monkeypatch.undo()
    assert (run / "metrics.jsonl").read_text() == before  # the old log, whole
    assert not (run / ".lock").exists()


def test_train_time_counts_every_segment(tmp_path, monkeypatch):
    run = tmp_path / "run"
    clock = iter(range(0, 10**9, 1000))  # first segment: every reading 1000 s later
    fake = types.SimpleNamespace(perf_counter=lambda: float(next(clock)))
    monkeypatch.setattr(loop_module, "time", fake)  # the loop's clock only
    train(_config(run), splits=_splits())
    monkeypatch.undo()
    first = load_checkpoint(run / "last.pt")["train_time_s"]
    assert first >= 1000
    summary = train(_config(run, 2), resume=True, splits=_splits())
    assert first < summary["train_time_s"] < first + 600  # + the real (short) second segment
    assert json.loads((run / "summary.json").read_text())["train_time_s"] == summary["train_time_s"]


def test_read_metrics_drops_an_interrupted_last_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"epoch": 1}\n{"epoch": 2, "tra')
    with pytest.warns(UserWarning, match="cut short"):
        assert read_metrics(path) == [{"epoch": 1}]
    path.write_text('{"epoch": 1}\n{"epoch": 2, "tra\n{"epoch": 3}\n')
    with pytest.raises(ValueError, match="line 2"):
        read_metrics(path)


# -- device --------------------------------------------------------------------------------
@pytest.mark.parametrize("device", ["cuda", "cuda:0"], ids=["bare", "indexed"])  # not "cuda":
# that id would be taken for the conftest's ``cuda`` marker and skip the test on CPU machines
def test_cuda_device_without_cuda_is_a_clear_error(tmp_path, capsys, monkeypatch, device):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device(device)
    argv = ["train", "--model", "p4cnn", "--data", "rotmnist-small", "--out", str(tmp_path / "r")]
    assert main([*argv, "--device", device]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gattn train: error:") and "--device cpu" in err
    run = tmp_path / "done"
    run.mkdir()
    _config(run).save(run / "config.json")
    assert main(["evaluate", str(run), "--device", device]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_cuda_index_out_of_range(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match="only 1 CUDA device"):
        resolve_device("cuda:3")


# -- CLI -----------------------------------------------------------------------------------
def test_train_help_shows_defaults_and_names(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # undo the line wrapping
    assert "(default: 128)" in text and "(default: 20)" in text and "(default: 0.001)" in text
    assert "(default: False)" not in text and "(default: None)" not in text
    from gattn.data import available_datasets
    from gattn.models import available_models

    assert ", ".join(available_models()) in text
    assert ", ".join(available_datasets()) in text


def _finished(run, seed: int = 0) -> None:
    run.mkdir()
    summary = {"model": "p4cnn", "data": "rotmnist-small", "seed": seed, "epochs": 1}
    summary.update(params=10, val_error=1.0 + seed, test_error=2.0 + seed)
    (run / "summary.json").write_text(json.dumps(summary))


def test_table_counts_a_folder_given_twice_once(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    _finished(a, 0)
    _finished(b, 1)
    (tmp_path / "link").symlink_to(a)
    aliases = [str(a), str(a), str(tmp_path / "b" / ".." / "a"), str(tmp_path / "link")]
    with pytest.warns(UserWarning) as caught:
        table = results_table([*aliases, str(b)])
    assert len(caught) == 3 and "given twice" in str(caught[0].message)
    assert "same folder as" in str(caught[1].message)
    assert "| 0,1 |" in table and "0.50" not in table  # seeds 0 and 1, mean 1.50
    assert main(["table", str(a), str(a), str(b)]) == 0
    out = capsys.readouterr()
    assert "gattn table: warning:" in out.err and "given twice" in out.err
    assert "| 0,1 | 1.50 ± 0.71 |" in out.out


def test_table_warns_about_a_repeated_seed(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _finished(a, 0)
    _finished(b, 0)  # e.g. a copy of a
    with pytest.warns(UserWarning, match="seed"):
        table = results_table([a, b])
    assert "| 0,0 |" in table

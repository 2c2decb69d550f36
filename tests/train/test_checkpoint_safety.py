"""Checkpoints: loading runs no code, damaged files give one clear error, RNG states are plain."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest
import torch
from tiny_runs import random_splits as _splits
from tiny_runs import tiny_config as _config

from gattn.cli import main
from gattn.train import (
    CheckpointError,
    capture_rng,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
    train,
)


class _Payload:
    """Unpickling this creates ``marker`` (what a malicious checkpoint would do)."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _malicious(path, marker, zipped: bool = True) -> None:
    state = {"model": {}, "epoch": 1, "val_error": 0.0, "x": _Payload(marker)}
    if zipped:  # what torch.save writes
        torch.save(state, path)
    else:  # a bare pickle
        path.write_bytes(pickle.dumps(state))


@pytest.mark.parametrize("zipped", [True, False])
def test_malicious_checkpoint_is_refused_unrun(tmp_path, zipped):
    marker = tmp_path / "pwned"
    path = tmp_path / "best.pt"
    _malicious(path, marker, zipped)
    with pytest.raises(CheckpointError, match="refused") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value) and "gattn checkpoint" in str(info.value)
    assert not marker.exists()


def test_evaluate_refuses_malicious_best(tmp_path, capsys):
    run, marker = tmp_path / "run", tmp_path / "pwned"
    run.mkdir()
    _config(run).save(run / "config.json")
    _malicious(run / "best.pt", marker)
    assert main(["evaluate", str(run), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gattn evaluate: error:") and err.count("\n") == 1
    assert str(run / "best.pt") in err and "refused" in err
    assert not marker.exists()


def test_resume_refuses_malicious_last(tmp_path):
    run, marker = tmp_path / "run", tmp_path / "pwned"
    train(_config(run), splits=_splits())
    _malicious(run / "last.pt", marker)
    with pytest.raises(CheckpointError, match="refused"):
        train(_config(run, 2), resume=True, splits=_splits())
    assert not marker.exists()
    assert not (run / ".lock").exists()  # released on the error


def _valid_checkpoint(path) -> bytes:
    save_checkpoint(path, {"model": {"w": torch.randn(64, 64)}, "epoch": 3, "val_error": 1.0})
    return path.read_bytes()


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage", "text"])
def test_damaged_checkpoint_gives_one_clear_error(tmp_path, damage):
    path = tmp_path / "last.pt"
    good = _valid_checkpoint(path)
    bad = {
        "truncated": good[: len(good) // 2],
        "empty": b"",
        "garbage": bytes(random.Random(0).randrange(256) for _ in range(500)),
        "text": b"not a checkpoint\n",
    }[damage]
    path.write_bytes(bad)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    msg = str(info.value)
    assert str(path) in msg and "delete it" in msg


def test_damaged_zip_member_gives_clear_error(tmp_path):
    """Still a zip archive, but the pickled data inside is overwritten."""
    path = tmp_path / "best.pt"
    good = bytearray(_valid_checkpoint(path))
    at = good.index(b"data.pkl") + 40  # inside the first member's bytes
    good[at : at + 30] = b"\xff" * 30
    path.write_bytes(bytes(good))
    with pytest.raises(CheckpointError, match="best.pt"):
        load_checkpoint(path)


def test_evaluate_truncated_best_is_one_line_error(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    _config(run).save(run / "config.json")
    good = _valid_checkpoint(run / "best.pt")
    (run / "best.pt").write_bytes(good[:100])
    assert main(["evaluate", str(run), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gattn evaluate: error:") and err.count("\n") == 1
    assert str(run / "best.pt") in err


def test_not_a_gattn_checkpoint(tmp_path):
    path = tmp_path / "x.pt"
    torch.save([torch.ones(2)], path)
    with pytest.raises(CheckpointError, match="not a gattn checkpoint"):
        load_checkpoint(path)
    save_checkpoint(path, {"weights": torch.ones(2)})
    with pytest.raises(CheckpointError, match="'model'"):
        load_checkpoint(path, required=("model",))


def test_rng_state_loads_with_weights_only_and_round_trips(tmp_path):
    gen = torch.Generator().manual_seed(5)
    state = capture_rng(gen)
    path = tmp_path / "rng.pt"
    torch.save({"rng": [state]}, path)
    loaded = torch.load(path, weights_only=True)["rng"][0]  # no allow-list needed

    def draws():
        numpy = np.random.rand(3).tolist()  # noqa: NPY002
        return (random.random(), numpy, torch.rand(3), torch.rand(2, generator=gen))

    restore_rng(loaded, gen)
    a = draws()
    restore_rng(loaded, gen)
    b = draws()
    assert a[:2] == b[:2] and torch.equal(a[2], b[2]) and torch.equal(a[3], b[3])


def test_checkpoint_of_older_format_still_resumes_rng(tmp_path):
    """Checkpoints written before this change hold NumPy's state as a (uint32 array) tuple."""
    numpy = np.random.get_state()  # noqa: NPY002
    old = {"python": random.getstate(), "numpy": numpy, "torch": torch.get_rng_state()}
    path = tmp_path / "old.pt"
    torch.save({"rng": [old]}, path)
    expected = np.random.rand(4)  # noqa: NPY002
    restore_rng(load_checkpoint(path)["rng"][0])
    assert np.array_equal(np.random.rand(4), expected)  # noqa: NPY002

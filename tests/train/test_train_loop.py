"""Training loop: bit-for-bit resume, validation-only selection, run-folder artefacts."""

from __future__ import annotations

import json

import pytest
import torch
from tiny_runs import tiny_config as _config
from torch.utils.data import TensorDataset

from gattn.data import Splits
from gattn.train import TrainConfig, Trainer, load_checkpoint, results_table, train
from gattn.train import loop as loop_module


def _splits(n: int = 48, seed: int = 0) -> Splits:
    g = torch.Generator().manual_seed(seed)

    def ds(k: int) -> TensorDataset:
        return TensorDataset(
            torch.rand(k, 1, 28, 28, generator=g), torch.randint(0, 10, (k,), generator=g)
        )

    return Splits(ds(n), ds(16), ds(16))


def _final_state(run) -> dict:
    return load_checkpoint(run / "last.pt")


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_is_bit_for_bit(tmp_path):
    data = _splits()
    train(_config(tmp_path / "straight", 2), splits=data)
    train(_config(tmp_path / "resumed", 1), splits=data)
    train(_config(tmp_path / "resumed", 2), resume=True, splits=data)
    a, b = _final_state(tmp_path / "straight"), _final_state(tmp_path / "resumed")
    assert (a["epoch"], a["step"]) == (b["epoch"], b["step"]) == (2, 6)
    _assert_same(a["model"], b["model"])
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        _assert_same(sa, sb)
    lines = (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(s)["epoch"] for s in lines] == [1, 2]


def test_resume_without_rng_restore_differs(tmp_path, monkeypatch):
    """The resume test can fail: dropping the RNG states changes the weights."""
    data = _splits()
    train(_config(tmp_path / "straight", 2), splits=data)
    train(_config(tmp_path / "broken", 1), splits=data)
    monkeypatch.setattr(loop_module, "restore_rng", lambda state, gen=None: None)
    train(_config(tmp_path / "broken", 2), resume=True, splits=data)
    a, b = _final_state(tmp_path / "straight"), _final_state(tmp_path / "broken")
    assert not all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_run_folder_and_selection_on_validation(tmp_path):
    data = _splits()
    summary = train(_config(tmp_path / "r", 3), splits=data)
    run = tmp_path / "r"
    for name in (
        "config.json",
        "metrics.jsonl",
        "curves.png",
        "last.pt",
        "best.pt",
        "summary.json",
    ):
        assert (run / name).is_file(), name
    assert not list(run.glob("*.tmp"))
    records = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    val = [r["val_error"] for r in records]
    assert summary["best_epoch"] == 1 + val.index(min(val))
    assert summary["val_error"] == min(val)
    assert "test_error" not in records[0]  # test split never evaluated during training
    assert json.loads((run / "summary.json").read_text())["test_error"] == summary["test_error"]
    assert "| p4cnn channels=4 |" in results_table([run])


def test_refuses_to_overwrite_and_checks_resume_config(tmp_path):
    data = _splits()
    train(_config(tmp_path / "r", 1), splits=data)
    with pytest.raises(FileExistsError, match="resume"):
        train(_config(tmp_path / "r", 1), splits=data)
    with pytest.raises(ValueError, match="lr"):
        train(_config(tmp_path / "r", 2, lr=0.1), resume=True, splits=data)


@pytest.mark.parametrize(
    "field,value", [("epochs", 0), ("batch_size", -1), ("lr", 0.0), ("scheduler", "step")]
)
def test_config_validation(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(model="p4cnn", data="rotmnist-small", **{field: value})


def test_trainer_defaults_follow_spec(tmp_path):
    cfg = TrainConfig(model="p4cnn", data="rotmnist-small")
    assert (cfg.lr, cfg.weight_decay, cfg.batch_size) == (1e-3, 1e-4, 128)
    t = Trainer(_config(tmp_path / "d", 1), splits=_splits())
    assert isinstance(t.optimizer, torch.optim.Adam)

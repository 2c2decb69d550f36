"""Runs written by gattn < 0.2 (attentive zoo models in the plain form) are rebuilt as they
were trained, and never resumed into the residual form their weights were not trained for."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from gattn import __version__
from gattn.train import TrainConfig, train
from gattn.train.evaluation import load_run_model


def _tiny_run(tmp_path, model="af-p4cnn"):
    cfg = TrainConfig(
        model=model,
        data="rotmnist-small",
        epochs=1,
        limit=8,
        batch_size=8,
        device="cpu",
        quiet=True,
        out=str(tmp_path / "run"),
        model_kwargs={"channels": 2},
    )
    train(cfg)
    return tmp_path / "run"


def _make_old(run):
    path = run / "config.json"
    cfg = json.loads(path.read_text())
    del cfg["gattn_version"]  # what gattn < 0.2 wrote
    path.write_text(json.dumps(cfg))


def test_new_runs_record_the_version(tmp_path):
    run = _tiny_run(tmp_path)
    assert json.loads((run / "config.json").read_text())["gattn_version"] == __version__
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no compatibility warning for a current run
        model, _ = load_run_model(run, device="cpu")
    assert all(m.residual for m in model.modules() if hasattr(m, "residual"))


def test_old_attentive_run_is_rebuilt_in_the_plain_form(tmp_path):
    run = _tiny_run(tmp_path)
    current, _ = load_run_model(run, device="cpu")
    _make_old(run)
    with pytest.warns(UserWarning, match="gattn < 0.2.*residual=False"):
        old, _ = load_run_model(run, device="cpu")
    flags = [m.residual for m in old.modules() if hasattr(m, "residual")]
    assert flags and not any(flags)
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        assert not torch.allclose(old(x), current(x))  # same weights, other function


def test_old_plain_model_runs_are_unaffected(tmp_path):
    run = _tiny_run(tmp_path, model="p4cnn")
    _make_old(run)
    assert not TrainConfig.load(run / "config.json").trained_in_plain_form()


def test_old_attentive_run_is_not_resumed(tmp_path):
    run = _tiny_run(tmp_path)
    _make_old(run)
    cfg = TrainConfig.load(run / "config.json")
    cfg = TrainConfig.from_dict({**cfg.to_dict(), "epochs": 2, "gattn_version": None})
    with pytest.raises(ValueError, match="gattn < 0.2"):
        train(cfg, resume=True)

"""``gattn train`` / ``evaluate`` / ``table`` end to end on a tiny subset."""

from __future__ import annotations

import json

import pytest

from gattn.cli import main


def test_train_evaluate_table(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--model", "p4cnn", "--data", "rotmnist-small", "--epochs", "1"]
    args += ["--limit", "32", "--batch-size", "16", "--device", "cpu", "--quiet", "--out", str(run)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "test error of that checkpoint" in out and "selected on validation" in out

    assert main(["evaluate", str(run), "--json", "--device", "cpu"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["params"] == 24_610 and res["n_test"] == 32
    inv = res["invariance"]
    assert inv["group"] == "p4" and len(inv["per_element"]) == 4
    assert inv["max_relative"] <= 1e-5  # float32, grid rotations of 28-px digits

    assert main(["evaluate", str(run), "--device", "cpu"]) == 0
    assert "invariant (as expected)" in capsys.readouterr().out

    assert main(["table", str(run)]) == 0
    table = capsys.readouterr().out
    assert "| rotmnist-small | p4cnn | 24,610 |" in table


@pytest.mark.parametrize(
    "flag,value,valid", [("--model", "p5cnn", "p4cnn"), ("--data", "mnist-rot", "rotmnist-small")]
)
def test_unknown_names_list_valid_ones(tmp_path, capsys, flag, value, valid):
    args = {"--model": "p4cnn", "--data": "rotmnist-small"}
    args[flag] = value
    argv = ["train", "--model", args["--model"], "--data", args["--data"], "--out", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert value in err and valid in err


def test_evaluate_missing_run(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nope")]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_table_of_unfinished_run(tmp_path, capsys):
    assert main(["table", str(tmp_path)]) == 2
    assert "no finished run" in capsys.readouterr().err


def test_model_kw_must_be_key_value(tmp_path, capsys):
    argv = ["train", "--model", "p4cnn", "--data", "rotmnist-small", "--out", str(tmp_path)]
    assert main([*argv, "--model-kw", "dropout"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err

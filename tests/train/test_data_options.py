"""Dataset options (``--data-kw``) and the per-rotation test errors of ``gattn evaluate``: the
pieces of the "Using and abusing equivariance" experiment (upright digits at 28 / 29 px, tested
on the test digits rotated by 0/90/180/270°)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from gattn.cli import main
from gattn.data import get_dataset
from gattn.groups import p4
from gattn.train import TrainConfig
from gattn.train.evaluation import invariance_error


def test_upright_resized_digits():
    up = get_dataset("rotmnist-small", rotate=False, limit=4)
    big = get_dataset("rotmnist-small", rotate=False, size=29, limit=4)
    assert up.train.tensors[0].shape[-2:] == (28, 28)
    assert big.train.tensors[0].shape[-2:] == (29, 29)
    assert torch.equal(up.train.tensors[1], big.train.tensors[1])  # same digits, same order
    # bilinear resize keeps the mass roughly (29/28)^2 and the range [0, 1]
    ratio = big.train.tensors[0].sum() / up.train.tensors[0].sum()
    assert 1.0 < ratio < 1.15 and big.train.tensors[0].max() <= 1.0


@pytest.mark.parametrize("kw", [{"size": 0}, {"size": 2.5}, {"rotate": "no"}])
def test_bad_dataset_options(kw):
    with pytest.raises((TypeError, ValueError), match=next(iter(kw))):
        get_dataset("rotmnist-small", limit=2, **kw)


def test_unknown_dataset_option_lists_the_options():
    with pytest.raises(TypeError, match=r"no option 'sizes'.*limit, rotate, size"):
        get_dataset("rotmnist-small", sizes=29)


def test_config_validates_data_kwargs():
    with pytest.raises(ValueError, match="data_kwargs"):
        TrainConfig(model="p4cnn", data="rotmnist-small", data_kwargs=["size", 29])


class _Flat(nn.Module):
    """Not rotation invariant: a linear classifier of the raw pixels."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(49, 3)

    def forward(self, x):
        return self.fc(x.flatten(1))


def test_per_rotation_errors_count_the_rotated_images():
    torch.manual_seed(0)
    x, y = torch.randn(20, 1, 7, 7), torch.randint(0, 3, (20,))
    model = _Flat()
    res = invariance_error(model, DataLoader(TensorDataset(x, y), batch_size=8), p4(), "cpu")
    assert res["elements"] == ["0°", "+90°", "+180°", "+270°"]
    with torch.no_grad():
        expected = [
            100.0 * (model(torch.rot90(x, k, dims=(-2, -1))).argmax(1) != y).float().mean().item()
            for k in range(4)
        ]
    assert res["per_element_error"] == pytest.approx(expected)
    assert res["n"] == 20 and res["max_relative"] > 1e-3  # not invariant, and it says so


def test_train_with_data_kw_and_evaluate_per_rotation(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--model", "p4cnn", "--data", "rotmnist-small", "--epochs", "1"]
    args += ["--data-kw", "rotate=false", "--data-kw", "size=29", "--limit", "16"]
    args += ["--batch-size", "16", "--device", "cpu", "--quiet", "--out", str(run)]
    assert main(args) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["data_kwargs"] == {"rotate": False, "size": 29}
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json", "--device", "cpu"]) == 0
    inv = json.loads(capsys.readouterr().out)["invariance"]
    assert len(inv["per_element_error"]) == 4
    assert inv["max_relative"] > 1e-5  # 29 px: P4CNN is only approximately invariant
    assert main(["evaluate", str(run), "--device", "cpu"]) == 0
    assert "rotated     test error" in capsys.readouterr().out


def test_data_kw_must_be_key_value(tmp_path, capsys):
    argv = ["train", "--model", "p4cnn", "--data", "rotmnist-small", "--out", str(tmp_path)]
    assert main([*argv, "--data-kw", "size"]) == 2
    assert "--data-kw expects KEY=VALUE" in capsys.readouterr().err

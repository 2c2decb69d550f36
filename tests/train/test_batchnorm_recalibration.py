"""Batch-norm recalibration with dropout off (``recalibrate_batchnorm``, ``--recalibrate-bn``)
and the reference dropout placement of the rot-MNIST CNNs."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from tiny_runs import random_splits, tiny_config
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from gattn.data import Splits
from gattn.models import get_model
from gattn.nn import GroupBatchNorm, SpatialPool
from gattn.train import TrainConfig, load_checkpoint, recalibrate_batchnorm, results_table, train

torch.set_num_threads(1)


# -- the utility on a tiny float64 model ---------------------------------------------------
def _tiny() -> nn.Sequential:
    """conv -> BN -> ReLU -> dropout -> conv -> BN -> ReLU -> linear: the second BN sees
    dropped-out activations whenever dropout is active."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, bias=False),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Conv2d(4, 3, 3, bias=False),
        nn.BatchNorm2d(3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(3 * 4 * 4, 5),
    ).double()
    with torch.no_grad():  # non-trivial affine parameters and stale running statistics
        for bn in (model[1], model[5]):
            bn.weight.uniform_(0.5, 2.0)
            bn.bias.uniform_(-1.0, 1.0)
            bn.running_mean.fill_(7.0)
            bn.running_var.fill_(0.01)
    return model


def _batches(n_batches: int = 4, size: int = 8) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    return [
        (
            torch.randn(size, 2, 8, 8, generator=g, dtype=torch.float64) * 3 + 1,
            torch.randint(0, 5, (size,), generator=g),
        )
        for _ in range(n_batches)
    ]


def _expected_stats(model: nn.Sequential, batches) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Independent functional computation: per batch, the inputs of both BN layers with
    dropout off and BN normalising with the batch statistics; torch's cumulative average
    (momentum=None) is the plain average of the batch means and unbiased batch variances."""
    conv1, bn1, conv2 = model[0], model[1], model[4]
    dims = (0, 2, 3)
    sums = [[0.0, 0.0], [0.0, 0.0]]
    with torch.no_grad():
        for x, _ in batches:
            h1 = conv1(x)
            mu, var = h1.mean(dims, keepdim=True), h1.var(dims, unbiased=False, keepdim=True)
            z = (h1 - mu) / torch.sqrt(var + bn1.eps)
            z = z * bn1.weight.view(1, -1, 1, 1) + bn1.bias.view(1, -1, 1, 1)
            h2 = conv2(F.relu(z))  # dropout off: identity
            for k, h in enumerate((h1, h2)):
                sums[k][0] = sums[k][0] + h.mean(dims)
                sums[k][1] = sums[k][1] + h.var(dims, unbiased=True)
    n = len(batches)
    return [(m / n, v / n) for m, v in sums]


def test_recalibrated_statistics_are_exact():
    model, batches = _tiny(), _batches()
    expected = _expected_stats(model, batches)
    # equal-size batches: the average of the batch means is the exact mean over all inputs
    all_x = torch.cat([x for x, _ in batches])
    assert torch.allclose(expected[0][0], model[0](all_x).detach().mean((0, 2, 3)), atol=1e-12)
    out = recalibrate_batchnorm(model, batches, "cpu")
    assert out is model
    for bn, (mean, var) in zip((model[1], model[5]), expected):
        assert bn.running_mean.dtype == torch.float64
        torch.testing.assert_close(bn.running_mean, mean, rtol=0, atol=1e-10)
        torch.testing.assert_close(bn.running_var, var, rtol=0, atol=1e-10)
        assert int(bn.num_batches_tracked) == len(batches)


def test_dropout_is_really_off_during_recalibration():
    """The test above can fail: with dropout active the second BN's statistics differ."""
    model, batches = _tiny(), _batches()
    expected = _expected_stats(model, batches)
    for bn in (model[1], model[5]):
        bn.reset_running_stats()
        bn.momentum = None
    model.train()  # what training does: dropout on
    with torch.no_grad():
        for x, _ in batches:
            model(x)
    assert not torch.allclose(model[5].running_var, expected[1][1], atol=1e-3)


def test_max_batches_and_dataloader_input():
    model, batches = _tiny(), _batches()
    expected = _expected_stats(model, batches[:2])
    xs, ys = torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches])
    loader = DataLoader(TensorDataset(xs, ys), batch_size=8, shuffle=False)
    recalibrate_batchnorm(model, loader, torch.device("cpu"), max_batches=2)
    for bn, (mean, var) in zip((model[1], model[5]), expected):
        torch.testing.assert_close(bn.running_mean, mean, rtol=0, atol=1e-10)
        torch.testing.assert_close(bn.running_var, var, rtol=0, atol=1e-10)
        assert int(bn.num_batches_tracked) == 2
    with pytest.raises(ValueError, match="max_batches"):
        recalibrate_batchnorm(model, loader, "cpu", max_batches=0)


@pytest.mark.parametrize("start_training", [True, False])
def test_flags_momentum_and_parameters_restored(start_training):
    model, batches = _tiny(), _batches()
    model.train(start_training)
    model[3].eval()  # a mixed state must come back exactly
    model[1].momentum, model[5].momentum = 0.3, None
    flags = [m.training for m in model.modules()]
    params = {k: v.clone() for k, v in model.named_parameters()}
    recalibrate_batchnorm(model, batches, "cpu")
    assert [m.training for m in model.modules()] == flags
    assert (model[1].momentum, model[5].momentum) == (0.3, None)
    for k, v in model.named_parameters():
        assert torch.equal(v, params[k]) and v.grad is None, k


def test_group_batchnorm_and_wrapped_batchnorm():
    """GroupBatchNorm subclasses BatchNorm3d; a BN inside another module is a submodule."""

    class Wrapper(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = nn.BatchNorm3d(2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x)

    g = torch.Generator().manual_seed(2)
    data = [torch.randn(4, 3, 2, 5, 5, generator=g, dtype=torch.float64) for _ in range(3)]
    model = nn.Sequential(
        GroupBatchNorm(3), nn.Dropout(0.5), nn.Conv3d(3, 2, 1, bias=False), Wrapper()
    ).double()
    recalibrate_batchnorm(model, data, "cpu")  # plain tensors as batches
    dims = (0, 2, 3, 4)
    gbn = model[0]
    torch.testing.assert_close(gbn.running_mean, torch.cat(data).mean(dims), rtol=0, atol=1e-10)
    with torch.no_grad():
        inner = [model[2](F.batch_norm(x, None, None, training=True, eps=gbn.eps)) for x in data]
    torch.testing.assert_close(
        model[3].inner.running_mean, torch.cat(inner).mean(dims), rtol=0, atol=1e-10
    )


def test_errors_no_batchnorm_and_empty_loader():
    with pytest.raises(ValueError, match="no batch-norm"):
        recalibrate_batchnorm(
            nn.Sequential(nn.Linear(2, 2), nn.Dropout()), [torch.ones(1, 2)], "cpu"
        )
    untracked = nn.Sequential(nn.BatchNorm1d(2, track_running_stats=False))
    with pytest.raises(ValueError, match="no batch-norm"):
        recalibrate_batchnorm(untracked, [torch.ones(4, 2)], "cpu")

    model = _tiny()
    model.train()
    model[1].momentum = 0.2
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="no batch"):
        recalibrate_batchnorm(model, [], "cpu")
    empty = DataLoader(TensorDataset(torch.zeros(0, 2, 8, 8, dtype=torch.float64)), batch_size=4)
    with pytest.raises(ValueError, match="no batch"):
        recalibrate_batchnorm(model, empty, "cpu")
    # the old statistics, momentum and flags are put back
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert model[1].momentum == 0.2 and all(m.training for m in model.modules())


# -- the training option ---------------------------------------------------------------------
def _splits() -> Splits:
    return random_splits(n_eval=8)


def _config(out, epochs: int, **kw) -> TrainConfig:
    return tiny_config(out, epochs, channels=2, **kw)


def _bn_stats(state: dict) -> dict:
    return {k: v for k, v in state.items() if "running_" in k}


def test_train_with_recalibration(tmp_path):
    data = _splits()
    plain, recal = tmp_path / "plain", tmp_path / "recal"
    train(_config(plain, 2), splits=data)
    summary = train(_config(recal, 2, recalibrate_bn=True), splits=data)

    assert json.loads((recal / "config.json").read_text())["recalibrate_bn"] is True
    assert summary["recalibrate_bn"] is True
    assert "| p4cnn channels=2 recalibrate-bn |" in results_table([recal])
    assert "| p4cnn channels=2 |" in results_table([plain])

    # no training RNG consumed: the weights and Adam moments follow the plain run exactly,
    # only the running statistics differ
    a, b = load_checkpoint(plain / "last.pt"), load_checkpoint(recal / "last.pt")
    model = get_model("p4cnn", channels=2)
    for name, _ in model.named_parameters():
        assert torch.equal(a["model"][name], b["model"][name]), name
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(v, b["model"][k]) for k, v in _bn_stats(a["model"]).items())

    # best.pt holds the statistics recalibrated for its weights (training split, in order,
    # dropout off)
    best = load_checkpoint(recal / "best.pt")
    model.load_state_dict(best["model"])
    recalibrate_batchnorm(model, DataLoader(data.train, batch_size=16), "cpu")
    for k, v in _bn_stats(model.state_dict()).items():
        torch.testing.assert_close(v, best["model"][k], rtol=1e-6, atol=1e-7)

    # a config.json written before the option existed loads with False and still resumes;
    # switching the option on for such a run is refused (it is a resume key)
    cfg = json.loads((plain / "config.json").read_text())
    del cfg["recalibrate_bn"]
    (plain / "config.json").write_text(json.dumps(cfg))
    assert TrainConfig.load(plain / "config.json").recalibrate_bn is False
    with pytest.raises(ValueError, match="recalibrate_bn"):
        train(_config(plain, 3, recalibrate_bn=True), resume=True, splits=data)
    train(_config(plain, 2), resume=True, splits=data)  # nothing left to train: just finishes


def test_resume_with_recalibration_is_bit_for_bit(tmp_path):
    data = _splits()
    train(_config(tmp_path / "straight", 2, recalibrate_bn=True), splits=data)
    train(_config(tmp_path / "resumed", 1, recalibrate_bn=True), splits=data)
    train(_config(tmp_path / "resumed", 2, recalibrate_bn=True), resume=True, splits=data)
    a = load_checkpoint(tmp_path / "straight" / "last.pt")
    b = load_checkpoint(tmp_path / "resumed" / "last.pt")
    assert (a["epoch"], a["step"]) == (b["epoch"], b["step"]) == (2, 4)
    for k, v in a["model"].items():  # weights and running statistics
        assert torch.equal(v, b["model"][k]), k
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_recalibration_needs_batchnorm(tmp_path):
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
    with pytest.raises(ValueError, match="no batch-norm"):
        train(_config(tmp_path / "r", 1, recalibrate_bn=True), splits=_splits(), model=model)
    with pytest.raises(ValueError, match="recalibrate_bn"):
        TrainConfig(model="p4cnn", data="rotmnist-small", recalibrate_bn="yes")


def test_cli_flag(tmp_path, monkeypatch):
    import gattn.train as train_pkg
    from gattn.cli import main

    seen = []
    monkeypatch.setattr(train_pkg, "train", lambda config, resume=False: seen.append(config))
    argv = ["train", "--model", "p4cnn", "--data", "rotmnist-small", "--out", str(tmp_path)]
    assert main(argv) == 0 and main([*argv, "--recalibrate-bn"]) == 0
    assert [c.recalibrate_bn for c in seen] == [False, True]


# -- dropout placement of the rot-MNIST CNNs -------------------------------------------------
@pytest.mark.parametrize("name,params", [("p4cnn", 24_610), ("z2cnn", 21_620)])
def test_rotmnist_cnn_dropout_placement(name, params):
    model = get_model(name)
    assert sum(p.numel() for p in model.parameters()) == params
    feats = model.features
    drops = [m for m in feats.modules() if isinstance(m, nn.Dropout)]
    assert len(drops) == 5 and all(d.p == 0.3 for d in drops)
    pool = next(i for i, m in enumerate(feats) if isinstance(m, SpatialPool))
    assert pool == 2  # layers 1, 2, then the 2x2 max-pool
    before_pool = feats[pool - 1]
    assert not any(isinstance(m, nn.Dropout) for m in before_pool.modules())
    assert isinstance(before_pool[-1], nn.ReLU)
    blocks = [m for i, m in enumerate(feats) if i != pool]
    assert len(blocks) == 6
    # dropout closes layers 1, 3, 4, 5, 6 (after their ReLU)
    assert [isinstance(b[-1], nn.Dropout) for b in blocks] == [True, False, True, True, True, True]

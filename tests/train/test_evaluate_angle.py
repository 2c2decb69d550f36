"""``gattn evaluate RUN --angle A``: the test error on test images rotated by any angle."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from tiny_runs import random_splits, tiny_config
from torch.utils.data import DataLoader

from gattn.cli import main
from gattn.data.rotate import rotate_images
from gattn.train import TrainConfig, train
from gattn.train.evaluation import evaluate_run, load_run_model, rotated_error


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished one-epoch P4CNN run (2 channels) on random 28x28 splits."""
    out = tmp_path_factory.mktemp("angle") / "run"
    train(tiny_config(out, channels=2), splits=random_splits(n_train=16, n_eval=16))
    return out


@pytest.fixture(autouse=True)
def _random_data(monkeypatch):
    """The run is evaluated on the same random splits (no dataset on disk needed)."""
    monkeypatch.setattr(TrainConfig, "splits", lambda self: random_splits(n_train=16, n_eval=16))


def _by_hand(model, rotate):
    """Error (%) and mean loss of ``model`` on the rotated test split, computed directly."""
    x, y = random_splits(n_train=16, n_eval=16).test.tensors
    with torch.no_grad():
        logits = model(rotate(x))
    err = 100.0 * (logits.argmax(1) != y).double().mean().item()
    return err, F.cross_entropy(logits, y).item()


def test_rotated_error_matches_a_direct_rotation(run):
    res = evaluate_run(run, device="cpu", check_invariance=False, angles=[0, 90, 45, -30])
    rot = res["rotated"]
    assert [r["angle"] for r in rot] == [0.0, 90.0, 45.0, -30.0]
    assert all(r["n"] == res["n_test"] == 16 for r in rot)
    # 0°: the plain test numbers
    assert rot[0]["test_error"] == pytest.approx(res["test_error"])
    assert rot[0]["test_loss"] == pytest.approx(res["test_loss"], rel=1e-6)
    model, _ = load_run_model(run, "cpu")
    # 90°: a gather, exactly rot90 (counterclockwise as displayed)
    err, loss = _by_hand(model, lambda x: torch.rot90(x, 1, dims=(-2, -1)))
    assert rot[1]["test_error"] == pytest.approx(err)
    assert rot[1]["test_loss"] == pytest.approx(loss, rel=1e-5)
    # 45° and -30°: the data package's bilinear rotation (same convention, float32 rounding)
    for r, deg in ((rot[2], 45.0), (rot[3], -30.0)):
        _, loss = _by_hand(model, lambda x, d=deg: rotate_images(x, math.radians(d)))
        assert r["test_loss"] == pytest.approx(loss, rel=1e-4)


def _pixel_model() -> torch.nn.Module:
    """A linear classifier of the raw pixels: far from rotation invariant."""
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))
    with torch.no_grad():
        m[1].weight.mul_(30.0)
    return m


@pytest.mark.parametrize("deg", [45.0, 30.0, -7.5])
def test_off_grid_angles_rotate_like_the_data_package(deg):
    """Off the grid the images are rotated bilinearly, counterclockwise (as rotate_images
    does), not left as they are, not rotated the other way."""
    model = _pixel_model()
    x, y = random_splits(n_train=16, n_eval=16).test.tensors
    (r,) = rotated_error(model, DataLoader(list(zip(x, y)), batch_size=6), [deg], "cpu")
    _, want = _by_hand(model, lambda x: rotate_images(x, math.radians(deg)))
    _, upright = _by_hand(model, lambda x: x)
    _, other_way = _by_hand(model, lambda x: rotate_images(x, -math.radians(deg)))
    assert r["test_loss"] == pytest.approx(want, rel=1e-4)
    assert abs(r["test_loss"] - upright) > 1e-2 * upright
    assert abs(r["test_loss"] - other_way) > 1e-2 * other_way
    assert r["n"] == 16


def test_rotated_error_restores_training_mode(run):
    model, _ = load_run_model(run, "cpu")
    model.train()
    x, y = random_splits(n_train=16, n_eval=16).test.tensors
    rotated_error(model, DataLoader(list(zip(x, y)), batch_size=8), [45], "cpu")
    assert model.training


def test_cli_angle_json_and_text(run, capsys):
    argv = ["evaluate", str(run), "--device", "cpu", "--no-invariance"]
    assert main([*argv, "--angle", "45", "--angle", "-30", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert [r["angle"] for r in res["rotated"]] == [45.0, -30.0]
    assert all(0.0 <= r["test_error"] <= 100.0 for r in res["rotated"])
    assert main([*argv, "--angle", "45"]) == 0
    out = capsys.readouterr().out
    assert "rotated by 45°" in out and f"{res['rotated'][0]['test_error']:.2f}%" in out
    assert main(argv) == 0  # no --angle: no rotated line
    assert "rotated by" not in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "abc", "400", "-361"])
def test_cli_bad_angle_is_a_clear_error(run, capsys, bad):
    with pytest.raises(SystemExit) as info:
        main(["evaluate", str(run), "--device", "cpu", f"--angle={bad}"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--angle" in err and repr(bad) in err and "degrees" in err


@pytest.mark.parametrize(
    "angles, exc, match",
    [
        ([float("nan")], ValueError, "finite"),
        ([720.0], ValueError, r"\[-360, 360\]"),
        ([], ValueError, "at least one"),
        (["45"], TypeError, "real number"),
        ([True], TypeError, "real number"),
        (45.0, TypeError, "iterable"),
    ],
)
def test_api_bad_angles(run, angles, exc, match):
    with pytest.raises(exc, match=match):
        evaluate_run(run, device="cpu", check_invariance=False, angles=angles)


def test_bad_angle_is_refused_before_loading(tmp_path):
    """A bad angle is reported as such even for a folder that is no run."""
    with pytest.raises(ValueError, match="angle"):
        evaluate_run(tmp_path / "nope", angles=[math.inf])

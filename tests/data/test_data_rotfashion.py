"""Tests for the rotfashion dataset (small subsets; skipped without the Debian files)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from gattn.data import get_dataset
from gattn.data.idx import write_idx
from gattn.data.rotfashion import FASHION_ROOT, find_fashion_files

HAVE_FASHION = all(
    (FASHION_ROOT / f"{s}.gz").is_file() or (FASHION_ROOT / s).is_file()
    for s in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte")
)
needs_fashion = pytest.mark.skipif(
    not HAVE_FASHION,
    reason=f"Fashion-MNIST not installed in {FASHION_ROOT} (apt-get install dataset-fashion-mnist)",
)


def test_missing_files_message(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist") as info:
        get_dataset("rotfashion", root=tmp_path)
    assert "root=" in str(info.value) and str(tmp_path) in str(info.value)
    assert "--data rotfashion --data-root PATH" in str(info.value)  # what a CLI user runs


def _fake_fashion(root: Path, n_train: int = 10_010, n_test: int = 20, gz: bool = False) -> Path:
    rng = np.random.default_rng(0)
    sfx = ".gz" if gz else ""
    root.mkdir(parents=True, exist_ok=True)
    write_idx(
        root / f"train-images-idx3-ubyte{sfx}", rng.integers(0, 256, (n_train, 28, 28), np.uint8)
    )
    write_idx(root / f"train-labels-idx1-ubyte{sfx}", rng.integers(0, 10, n_train, np.uint8))
    write_idx(
        root / f"t10k-images-idx3-ubyte{sfx}", rng.integers(0, 256, (n_test, 28, 28), np.uint8)
    )
    write_idx(root / f"t10k-labels-idx1-ubyte{sfx}", rng.integers(0, 10, n_test, np.uint8))
    return root


@pytest.mark.parametrize("gz", [False, True])
def test_user_root_with_fake_files(tmp_path: Path, gz: bool) -> None:
    root = _fake_fashion(tmp_path, gz=gz)
    assert set(find_fashion_files(root)) == {
        "train_images", "train_labels", "test_images", "test_labels"
    }  # fmt: skip
    splits = get_dataset("rotfashion", root=root, seed=0, limit=6)
    assert splits.sizes == (6, 6, 6)
    full = get_dataset("rotfashion", root=root, seed=0, progress=False)
    assert full.sizes == (10, 10_000, 20)
    for a, b in zip(splits, full):
        assert torch.equal(a.tensors[0], b.tensors[0][:6])
        assert torch.equal(a.tensors[1], b.tensors[1][:6])


def test_cache_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _fake_fashion(tmp_path / "src", n_train=10_003, n_test=4)
    monkeypatch.setenv("GATTN_CACHE", str(tmp_path / "cache"))
    first = get_dataset("rotfashion", root=root, seed=2, cache=True)
    files = list((tmp_path / "cache").glob("*.pt"))
    assert len(files) == 1 and "seed2" in files[0].name
    assert not list((tmp_path / "cache").glob("*.part"))
    second = get_dataset("rotfashion", root=root, seed=2, cache=True)
    for a, b in zip(first, second):
        assert torch.equal(a.tensors[0], b.tensors[0])
    get_dataset("rotfashion", root=root, seed=3, cache=True)
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 2


def test_corrupted_idx_is_reported(tmp_path: Path) -> None:
    root = _fake_fashion(tmp_path, n_train=10_001, n_test=2)
    path = root / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte"):
        get_dataset("rotfashion", root=root, limit=1)


@needs_fashion
def test_debian_subset() -> None:
    a = get_dataset("rotfashion", seed=0, limit=64)
    b = get_dataset("rotfashion", seed=0, limit=64)
    c = get_dataset("rotfashion", seed=1, limit=64)
    assert a.sizes == (64, 64, 64)
    for sa, sb, sc in zip(a, b, c):
        xa, ya = sa.tensors
        assert xa.dtype == torch.float32 and xa.shape == (64, 1, 28, 28)
        assert ya.dtype == torch.int64 and 0 <= ya.min() and ya.max() <= 9
        assert 0 <= xa.min() and xa.max() <= 1
        assert torch.equal(xa, sb.tensors[0]) and not torch.equal(xa, sc.tensors[0])
    # the test split is the official test set in order (only rotated)
    up = get_dataset("rotfashion", seed=0, limit=64, rotate=False)
    from gattn.data.idx import read_idx

    labels = read_idx(find_fashion_files()["test_labels"])[:64]
    assert up.test.tensors[1].tolist() == labels.tolist()


@needs_fashion
@pytest.mark.slow
def test_debian_full() -> None:
    splits = get_dataset("rotfashion", seed=0, progress=False)
    assert splits.sizes == (50_000, 10_000, 10_000)
    assert torch.bincount(splits.test.tensors[1]).tolist() == [1000] * 10


def test_corrupted_cache_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _fake_fashion(tmp_path / "src", n_train=10_002, n_test=3)
    monkeypatch.setenv("GATTN_CACHE", str(tmp_path / "cache"))
    first = get_dataset("rotfashion", root=root, seed=0, cache=True)
    (entry,) = (tmp_path / "cache").glob("*.pt")
    entry.write_bytes(b"not a torch file")
    again = get_dataset("rotfashion", root=root, seed=0, cache=True)
    assert torch.equal(first.val.tensors[0], again.val.tensors[0])
    torch.save({"train_x": torch.zeros(1)}, entry)  # incomplete entry
    again = get_dataset("rotfashion", root=root, seed=0, cache=True)
    assert torch.equal(first.val.tensors[0], again.val.tensors[0])

"""Tests for the rotmnist (MNIST-rot .amat) dataset with small synthetic files."""

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from gattn.data import MNIST_ROT_URL, get_dataset
from gattn.data.rotmnist import MNIST_ROT_FILES

TV, TEST = MNIST_ROT_FILES["train_valid"], MNIST_ROT_FILES["test"]


def _rows(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.random((n, 784)), rng.integers(0, 10, (n, 1))], axis=1)


def make_root(root: Path, n_tv: int = 12, n_test: int = 5) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    np.savetxt(root / TV, _rows(n_tv, 0), fmt="%.6f")
    np.savetxt(root / TEST, _rows(n_test, 1), fmt="%.6f")
    return root


def test_splits(tmp_path: Path) -> None:
    root = make_root(tmp_path / "amat")
    s = get_dataset("rotmnist", root=root, n_val=2, cache=False)
    assert s.sizes == (10, 2, 5)
    rows = _rows(12, 0)
    x, y = s.train.tensors
    assert x.shape == (10, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    np.testing.assert_allclose(x.reshape(10, -1).numpy(), rows[:10, :784], atol=1e-6)
    assert y.tolist() == rows[:10, 784].astype(int).tolist()
    assert s.val.tensors[1].tolist() == rows[10:, 784].astype(int).tolist()
    assert get_dataset("rotmnist", root=root, n_val=2, limit=3, cache=False).sizes == (3, 2, 3)
    # pre-rotated data: the seed changes nothing
    other = get_dataset("rotmnist", root=root, seed=5, n_val=2, cache=False)
    assert torch.equal(other.test.tensors[0], s.test.tensors[0])


def test_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_root(tmp_path / "amat")
    monkeypatch.setenv("GATTN_CACHE", str(tmp_path / "cache"))
    a = get_dataset("rotmnist", root=root, n_val=2)
    assert len(list((tmp_path / "cache").glob("rotmnist-*.pt"))) == 1
    b = get_dataset("rotmnist", root=root, n_val=2)
    assert torch.equal(a.train.tensors[0], b.train.tensors[0])


def test_too_few_rows(tmp_path: Path) -> None:
    root = make_root(tmp_path / "amat", n_tv=3)
    with pytest.raises(ValueError, match="n_val=2000"):
        get_dataset("rotmnist", root=root, cache=False)


def test_missing_file_message(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        get_dataset("rotmnist", root=tmp_path, cache=False)
    msg = str(info.value)
    assert MNIST_ROT_URL in msg and str(tmp_path / TV) in msg


def test_malformed_file_reports_line(tmp_path: Path) -> None:
    root = make_root(tmp_path / "amat")
    lines = (root / TEST).read_text().splitlines()
    lines[3] = lines[3].rsplit(" ", 1)[0] + " 11"
    (root / TEST).write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"{TEST}, line 4: expected an integer label"):
        get_dataset("rotmnist", root=root, n_val=2, cache=False)


def test_download_from_loopback(tmp_path: Path, loopback_server: tuple[str, Path]) -> None:
    url, www = loopback_server
    src = make_root(tmp_path / "src")
    archive = www / "mnist_rotation_new.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(src / TV, f"mnist_rotation_new/{TV}")
        zf.write(src / TEST, TEST)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    dest = tmp_path / "dl"
    s = get_dataset(
        "rotmnist", root=dest, n_val=2, cache=False, download=True,
        url=f"{url}/mnist_rotation_new.zip", sha256=digest,
    )  # fmt: skip
    assert s.sizes == (10, 2, 5)
    assert (dest / TV).is_file() and (dest / TEST).is_file()

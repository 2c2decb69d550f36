"""Tests for gattn.data.arrays."""

from pathlib import Path

import numpy as np
import pytest
import torch

from gattn.data.arrays import load_array_folder, to_image_tensor


def test_npy_folder(tmp_path: Path) -> None:
    images = np.arange(4 * 28 * 28, dtype=np.int64).reshape(4, 28, 28) % 256
    np.save(tmp_path / "images.npy", images.astype(np.uint8))
    np.save(tmp_path / "labels.npy", np.array([0, 1, 2, 3], np.uint8))
    x, y = load_array_folder(tmp_path)
    assert x.shape == (4, 1, 28, 28) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and y.tolist() == [0, 1, 2, 3]
    torch.testing.assert_close(x[:, 0], torch.from_numpy(images / 255.0).float())


@pytest.mark.parametrize("as_dir", [False, True])
def test_npz(tmp_path: Path, as_dir: bool) -> None:
    images = np.random.default_rng(0).random((3, 784)).astype(np.float32)
    np.savez(tmp_path / "data.npz", images=images, labels=np.array([5, 6, 7]))
    x, y = load_array_folder(tmp_path if as_dir else tmp_path / "data.npz")
    assert x.shape == (3, 1, 28, 28) and y.tolist() == [5, 6, 7]
    torch.testing.assert_close(x.reshape(3, -1), torch.from_numpy(images))


@pytest.mark.parametrize(
    ("images", "labels", "match"),
    [
        (np.zeros((3, 28, 28), np.uint8), np.zeros(2, np.int64), "3 images but 2 labels"),
        (np.zeros((3, 28, 28), np.uint8), np.zeros((3, 1), np.int64), r"labels of shape \(N,\)"),
        (np.zeros((3, 2, 28, 28), np.uint8), np.zeros(3, np.int64), "expected images of shape"),
        (np.zeros((3, 780), np.uint8), np.zeros(3, np.int64), "square number of pixels"),
        (np.full((3, 28, 28), 2.0), np.zeros(3, np.int64), r"must be in \[0, 1\]"),
        (np.full((3, 28, 28), 300), np.zeros(3, np.int64), r"must be in 0..255"),
        (np.zeros((3, 28, 28), "U1"), np.zeros(3, np.int64), "dtype"),
        (np.zeros((3, 28, 28), np.uint8), np.array([0.5, 1, 2]), "integer labels"),
        (np.zeros((3, 28, 28), np.uint8), np.array([0, -1, 2]), "non-negative"),
    ],
)
def test_mismatches(tmp_path: Path, images: np.ndarray, labels: np.ndarray, match: str) -> None:
    np.savez(tmp_path / "d.npz", images=images, labels=labels)
    with pytest.raises(ValueError, match=match):
        load_array_folder(tmp_path / "d.npz")


def test_missing_key_and_files(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", images=np.zeros((1, 28, 28)))
    with pytest.raises(ValueError, match=r"missing arrays \['labels'\]"):
        load_array_folder(tmp_path / "d.npz")
    with pytest.raises(FileNotFoundError):
        load_array_folder(tmp_path / "absent")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="images.npy"):
        load_array_folder(empty)


def test_not_an_array_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="bad.npz"):
        load_array_folder(bad)


def test_to_image_tensor_accepts_channel_dim() -> None:
    x = to_image_tensor(np.ones((2, 1, 5, 5), np.float64))
    assert x.shape == (2, 1, 5, 5) and x.dtype == torch.float32

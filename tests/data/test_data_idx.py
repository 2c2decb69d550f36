"""Tests for gattn.data.idx."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from gattn.data.idx import read_idx, write_idx


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_round_trip(tmp_path: Path, dtype: str, name: str) -> None:
    rng = np.random.default_rng(0)
    arr = (rng.random((5, 3, 4)) * 100).astype(dtype)
    path = write_idx(tmp_path / name, arr)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


def test_labels_1d(tmp_path: Path) -> None:
    labels = np.arange(10, dtype=np.uint8)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "l", labels)), labels)


def test_header_layout(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "x", np.zeros((2, 3), np.uint8))
    assert path.read_bytes()[:12] == bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3])


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "bad-idx"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x00\x00", r"expected at least 4 bytes, found 2"),
        (b"\x01\x02\x08\x01" + b"\x00" * 8, r"magic.*found 0x01 0x02"),
        (bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 0]), r"dtype code.*found 0x07"),
        (bytes([0, 0, 8, 0]), r"0 dimensions"),
        (bytes([0, 0, 8, 2, 0, 0, 0, 2]), r"expected 12 bytes .* found 8"),
        (bytes([0, 0, 8, 1, 0, 0, 0, 4, 1, 2]), r"truncated.*expected 4 data bytes.*found 2"),
        (bytes([0, 0, 8, 1, 0, 0, 0, 1, 1, 2]), r"trailing.*expected 1 data bytes.*found 2"),
    ],
)
def test_corrupted(tmp_path: Path, data: bytes, match: str) -> None:
    path = _write(tmp_path, data)
    with pytest.raises(ValueError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_truncated_real_sized_file(tmp_path: Path) -> None:
    full = write_idx(tmp_path / "full", np.ones((10, 28, 28), np.uint8)).read_bytes()
    path = _write(tmp_path, full[:-100])
    with pytest.raises(ValueError, match=r"expected 7840 data bytes for shape \(10, 28, 28\)"):
        read_idx(path)


def test_truncated_gzip(tmp_path: Path) -> None:
    blob = gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 200]) + bytes(range(200)))
    path = _write(tmp_path, blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")


def test_write_rejects_bad_dtype(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="dtype"):
        write_idx(tmp_path / "x", np.zeros(3, np.complex64))

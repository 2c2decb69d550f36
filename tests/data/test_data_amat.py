"""Tests for gattn.data.amat (synthetic files)."""

from pathlib import Path

import numpy as np
import pytest

from gattn.data.amat import read_amat


def write_amat(path: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    rows = np.concatenate([images.reshape(len(images), -1), labels[:, None]], axis=1)
    np.savetxt(path, rows, fmt="%.8e")
    return path


def test_read_row_major(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = rng.random((6, 28, 28)).astype(np.float32)
    labels = np.arange(6) % 10
    x, y = read_amat(write_amat(tmp_path / "a.amat", images, labels))
    assert x.shape == (6, 28, 28) and x.dtype == np.float32
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_allclose(x, images, atol=1e-7)  # row-major, no transposition


def test_blank_lines_and_small_images(tmp_path: Path) -> None:
    path = tmp_path / "s.amat"
    path.write_text("0 0.5 1 0.25 3\n\n1 1 1 1 9\n")
    x, y = read_amat(path, image_size=2)
    np.testing.assert_array_equal(y, [3, 9])
    np.testing.assert_array_equal(x[0], [[0, 0.5], [1, 0.25]])


def _lines(n: int = 3) -> list[str]:
    return [" ".join(["0.5"] * 4 + [str(i)]) for i in range(n)]


@pytest.mark.parametrize(
    ("bad_line", "match"),
    [
        ("0.5 0.5 0.5 1", r"line 2: expected 5 columns .* found 4"),
        ("0.5 0.5 0.5 0.5 1 7", r"line 2: expected 5 columns .* found 6"),
        ("0.5 abc 0.5 0.5 1", r"line 2, column 2: expected a number, found 'abc'"),
        ("0.5 0.5 0.5 0.5 10", r"line 2: expected an integer label in 0..9, found 10"),
        ("0.5 0.5 0.5 0.5 -1", r"line 2: expected an integer label in 0..9"),
        ("0.5 0.5 0.5 0.5 2.5", r"line 2: expected an integer label in 0..9, found 2.5"),
        ("0.5 0.5 nan 0.5 2", r"line 2: expected finite pixel values in \[0, 1\]"),
        ("0.5 0.5 3.0 0.5 2", r"line 2: expected finite pixel values in \[0, 1\]"),
    ],
)
def test_malformed_rows(tmp_path: Path, bad_line: str, match: str) -> None:
    lines = _lines()
    lines[1] = bad_line
    path = tmp_path / "bad.amat"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=match) as info:
        read_amat(path, image_size=2)
    assert str(path) in str(info.value)


def test_wrong_width_everywhere(tmp_path: Path) -> None:
    path = tmp_path / "narrow.amat"
    path.write_text("0 0 1\n0 0 2\n")
    with pytest.raises(ValueError, match=r"line 1: expected 785 columns"):
        read_amat(path)


def test_empty_and_missing(tmp_path: Path) -> None:
    empty = tmp_path / "empty.amat"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty"):
        read_amat(empty)
    with pytest.raises(FileNotFoundError, match="nope.amat"):
        read_amat(tmp_path / "nope.amat")


@pytest.mark.parametrize(
    ("blob", "line", "what"),
    [
        (b"\xff\xfe0.5 0.5 0.5 0.5 1\n", 1, "undecodable byte 0xff"),  # no NUL byte
        (b"0.5 0.5 0.5 0.5 1\n\x89PNG\r\n\x1a\n\x00\x00\n", 2, "undecodable byte 0x89"),
        (b"0.5 0.5 0.5 0.5 1\n0.5 0.5 0.5 0.5 1\n0.5 \x00 0.5 0.5 1\n", 3, "NUL byte"),
    ],
)
def test_binary_bytes(tmp_path: Path, blob: bytes, line: int, what: str) -> None:
    path = tmp_path / "binary.amat"
    path.write_bytes(blob)
    with pytest.raises(ValueError, match=what) as info:
        read_amat(path, image_size=2)
    msg = str(info.value)
    assert f"{path}, line {line}:" in msg and "not a MNIST-rot .amat text file" in msg
    assert not isinstance(info.value, UnicodeDecodeError)


def test_expected_rows(tmp_path: Path) -> None:
    path = tmp_path / "rows.amat"
    path.write_text("\n".join(_lines(3)) + "\n")
    assert read_amat(path, image_size=2, expected_rows=3)[0].shape == (3, 2, 2)
    assert read_amat(path, image_size=2)[0].shape == (3, 2, 2)  # default: any count
    with pytest.raises(ValueError, match=r"expected 4 rows, found 3.*truncated") as info:
        read_amat(path, image_size=2, expected_rows=4)
    assert str(path) in str(info.value) and "expected_rows=None" in str(info.value)
    with pytest.raises(ValueError, match=r"expected 2 rows, found 3; .* not the original"):
        read_amat(path, image_size=2, expected_rows=2)

"""Tests for the rotmnist (MNIST-rot .amat) dataset with small synthetic files."""

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from gattn.data import MNIST_ROT_URL, get_dataset
from gattn.data.rotmnist import MNIST_ROT_FILES, MNIST_ROT_ROWS

TV, TEST = MNIST_ROT_FILES["train_valid"], MNIST_ROT_FILES["test"]
ANY = {"expected_rows": None}  # the synthetic files are much smaller than the real ones


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
    s = get_dataset("rotmnist", root=root, n_val=2, cache=False, **ANY)
    assert s.sizes == (10, 2, 5)
    rows = _rows(12, 0)
    x, y = s.train.tensors
    assert x.shape == (10, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    np.testing.assert_allclose(x.reshape(10, -1).numpy(), rows[:10, :784], atol=1e-6)
    assert y.tolist() == rows[:10, 784].astype(int).tolist()
    assert s.val.tensors[1].tolist() == rows[10:, 784].astype(int).tolist()
    limited = get_dataset("rotmnist", root=root, n_val=2, limit=3, cache=False, **ANY)
    assert limited.sizes == (3, 2, 3)
    # pre-rotated data: the seed changes nothing
    other = get_dataset("rotmnist", root=root, seed=5, n_val=2, cache=False, **ANY)
    assert torch.equal(other.test.tensors[0], s.test.tensors[0])


def test_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_root(tmp_path / "amat")
    monkeypatch.setenv("GATTN_CACHE", str(tmp_path / "cache"))
    a = get_dataset("rotmnist", root=root, n_val=2, **ANY)
    assert len(list((tmp_path / "cache").glob("rotmnist-*.pt"))) == 1
    b = get_dataset("rotmnist", root=root, n_val=2, **ANY)
    assert torch.equal(a.train.tensors[0], b.train.tensors[0])


def test_too_few_rows(tmp_path: Path) -> None:
    root = make_root(tmp_path / "amat", n_tv=3)
    with pytest.raises(ValueError, match="n_val=2000"):
        get_dataset("rotmnist", root=root, cache=False, **ANY)


def test_missing_file_message(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        get_dataset("rotmnist", root=tmp_path, cache=False)
    msg = str(info.value)
    assert MNIST_ROT_URL in msg and str(tmp_path / TV) in msg and str(tmp_path / TEST) in msg
    # tells command-line users what to run (the CLI has no download option) ...
    assert "gattn train --model MODEL --data rotmnist --data-root PATH" in msg
    # ... and Python users how to download
    assert "download=True" in msg and "sha256=" in msg and "allow_unverified=True" in msg


def test_missing_message_lists_only_missing_files(tmp_path: Path) -> None:
    root = make_root(tmp_path / "amat")
    (root / TEST).unlink()
    with pytest.raises(FileNotFoundError) as info:
        get_dataset("rotmnist", root=root, cache=False, **ANY)
    assert f"not found: {root / TEST}." in str(info.value)


def test_malformed_file_reports_line(tmp_path: Path) -> None:
    root = make_root(tmp_path / "amat")
    lines = (root / TEST).read_text().splitlines()
    lines[3] = lines[3].rsplit(" ", 1)[0] + " 11"
    (root / TEST).write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"{TEST}, line 4: expected an integer label"):
        get_dataset("rotmnist", root=root, n_val=2, cache=False, **ANY)


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
        url=f"{url}/mnist_rotation_new.zip", sha256=digest, **ANY,
    )  # fmt: skip
    assert s.sizes == (10, 2, 5)
    assert (dest / TV).is_file() and (dest / TEST).is_file()


def _archive(tmp_path: Path, www: Path) -> Path:
    src = make_root(tmp_path / "src")
    archive = www / "mnist_rotation_new.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(src / TV, f"mnist_rotation_new/{TV}")
        zf.write(src / TEST, TEST)
    return archive


def test_known_row_counts() -> None:
    assert dict(MNIST_ROT_ROWS) == {"train_valid": 12_000, "test": 50_000}


@pytest.mark.parametrize("cache", [False, True])
def test_truncated_file_is_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: bool
) -> None:
    monkeypatch.setenv("GATTN_CACHE", str(tmp_path / "cache"))
    root = make_root(tmp_path / "amat", n_tv=2050, n_test=5)
    if cache:  # a cache entry written with the check off does not bypass it
        get_dataset("rotmnist", root=root, cache=True, **ANY)
        assert len(list((tmp_path / "cache").glob("rotmnist-*.pt"))) == 1
    with pytest.raises(ValueError, match=r"expected 12000 rows, found 2050") as info:
        get_dataset("rotmnist", root=root, cache=cache)
    msg = str(info.value)
    assert str(root / TV) in msg and "truncated" in msg and "expected_rows=None" in msg


def test_expected_rows_override(tmp_path: Path) -> None:
    root = make_root(tmp_path / "amat")
    s = get_dataset(
        "rotmnist", root=root, n_val=2, cache=False, expected_rows={"train_valid": 12, "test": 5}
    )
    assert s.sizes == (10, 2, 5)
    # only the train_valid count given: the test file may hold any number of rows
    s = get_dataset("rotmnist", root=root, n_val=2, cache=False, expected_rows={"train_valid": 12})
    assert s.sizes == (10, 2, 5)
    with pytest.raises(ValueError, match=rf"{TEST}: expected 6 rows, found 5"):
        get_dataset("rotmnist", root=root, n_val=2, cache=False, expected_rows={"test": 6})


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        ({"train": 5}, ValueError, r"unknown keys \['train'\]"),
        ({"test": 0}, ValueError, r"expected_rows\['test'\] must be positive"),
        ({"test": 2.5}, TypeError, r"expected_rows\['test'\] must be an int"),
        (12000, TypeError, "expected_rows must be None or a mapping"),
    ],
)
def test_expected_rows_validated(tmp_path: Path, value: object, error: type, match: str) -> None:
    root = make_root(tmp_path / "amat")
    with pytest.raises(error, match=match):
        get_dataset("rotmnist", root=root, n_val=2, cache=False, expected_rows=value)


def test_binary_file_names_file(tmp_path: Path) -> None:
    root = make_root(tmp_path / "amat")
    (root / TEST).write_bytes(b"PK\x03\x04\x14\x00\xff\xfe" + bytes(range(256)))
    with pytest.raises(ValueError, match=r"not a MNIST-rot \.amat text file") as info:
        get_dataset("rotmnist", root=root, n_val=2, cache=False, **ANY)
    assert f"{root / TEST}, line 1" in str(info.value)


def test_download_without_checksum_is_refused(
    tmp_path: Path, loopback_server: tuple[str, Path]
) -> None:
    url, www = loopback_server
    _archive(tmp_path, www)
    dest = tmp_path / "dl"
    with pytest.raises(ValueError, match="refusing to download") as info:
        get_dataset(
            "rotmnist", root=dest, n_val=2, cache=False, download=True,
            url=f"{url}/mnist_rotation_new.zip", **ANY,
        )  # fmt: skip
    msg = str(info.value)
    assert "no pinned SHA-256" in msg and "plain http" in msg
    assert "--data-root PATH" in msg and "sha256=" in msg and "allow_unverified=True" in msg
    assert not dest.exists()  # refused before anything was fetched or written


def test_download_unverified_opt_in_reports_digest(
    tmp_path: Path, loopback_server: tuple[str, Path]
) -> None:
    url, www = loopback_server
    digest = hashlib.sha256(_archive(tmp_path, www).read_bytes()).hexdigest()
    dest = tmp_path / "dl"
    with pytest.warns(UserWarning, match=f"UNVERIFIED.*sha256 is {digest}"):
        s = get_dataset(
            "rotmnist", root=dest, n_val=2, cache=False, download=True,
            url=f"{url}/mnist_rotation_new.zip", allow_unverified=True, **ANY,
        )  # fmt: skip
    assert s.sizes == (10, 2, 5)


def test_download_checksum_mismatch(tmp_path: Path, loopback_server: tuple[str, Path]) -> None:
    url, www = loopback_server
    _archive(tmp_path, www)
    with pytest.raises(ValueError, match="checksum mismatch"):
        get_dataset(
            "rotmnist", root=tmp_path / "dl", cache=False, download=True,
            url=f"{url}/mnist_rotation_new.zip", sha256="0" * 64, **ANY,
        )  # fmt: skip
    assert not (tmp_path / "dl" / TV).exists()


@pytest.mark.parametrize(
    ("sha256", "error"), [("abc", ValueError), ("g" * 64, ValueError), (123, TypeError)]
)
def test_malformed_sha256(tmp_path: Path, sha256: object, error: type) -> None:
    with pytest.raises(error, match="sha256 must be .*64 hex"):
        get_dataset(
            "rotmnist", root=tmp_path, download=True, sha256=sha256, url="http://127.0.0.1:9/y.zip"
        )


def test_download_bad_archive(tmp_path: Path, loopback_server: tuple[str, Path]) -> None:
    url, www = loopback_server
    (www / "page.zip").write_bytes(b"<html>not found</html>")
    with zipfile.ZipFile(www / "other.zip", "w") as zf:
        zf.writestr("readme.txt", "hello")
    for name, match in [("page.zip", "not a valid zip archive"), ("other.zip", "does not contain")]:
        blob = (www / name).read_bytes()
        with pytest.raises(ValueError, match=match) as info:
            get_dataset(
                "rotmnist", root=tmp_path / name, cache=False, download=True,
                url=f"{url}/{name}", sha256=hashlib.sha256(blob).hexdigest(),
            )  # fmt: skip
        assert name in str(info.value)

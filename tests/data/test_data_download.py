"""Tests for gattn.data.download against a loopback-only HTTP server."""

import hashlib
from pathlib import Path

import pytest

from gattn.data.download import download, sha256sum

PAYLOAD = bytes(range(256)) * 1000


@pytest.fixture
def server(loopback_server: tuple[str, Path]) -> str:
    url, www = loopback_server
    (www / "blob.bin").write_bytes(PAYLOAD)
    return url


def test_good_checksum(server: str, tmp_path: Path) -> None:
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    dest = download(f"{server}/blob.bin", tmp_path / "out" / "b.bin", sha256=digest, progress=False)
    assert dest.read_bytes() == PAYLOAD and sha256sum(dest) == digest
    assert not list(dest.parent.glob("*.part"))


def test_no_checksum_and_directory_dest(server: str, tmp_path: Path) -> None:
    dest = download(f"{server}/blob.bin", tmp_path, progress=True)
    assert dest == tmp_path / "blob.bin" and dest.read_bytes() == PAYLOAD


def test_bad_checksum_removes_file(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "b.bin"
    wrong = "0" * 64
    with pytest.raises(ValueError, match=f"expected sha256 {wrong}") as info:
        download(f"{server}/blob.bin", dest, sha256=wrong, progress=False)
    assert hashlib.sha256(PAYLOAD).hexdigest() in str(info.value)
    assert not dest.exists() and list(tmp_path.iterdir()) == [tmp_path / "www"]


def test_existing_file_kept_or_replaced(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "b.bin"
    dest.write_bytes(b"old")
    assert download(f"{server}/blob.bin", dest, progress=False).read_bytes() == b"old"
    good = hashlib.sha256(PAYLOAD).hexdigest()
    assert download(f"{server}/blob.bin", dest, sha256=good, progress=False).read_bytes() == PAYLOAD


def test_http_error(server: str, tmp_path: Path) -> None:
    import urllib.error

    with pytest.raises(urllib.error.HTTPError):
        download(f"{server}/missing.bin", tmp_path / "m.bin", progress=False)
    assert not (tmp_path / "m.bin").exists()

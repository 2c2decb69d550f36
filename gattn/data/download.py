"""HTTP(S) download with atomic writes, SHA-256 verification and a tqdm progress bar."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

__all__ = ["download", "sha256sum"]

_CHUNK = 1 << 16


def sha256sum(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 digest of a file.

    Args:
        path: File to hash.

    Returns:
        64-character lowercase hex string.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def download(
    url: str,
    dest: str | os.PathLike[str],
    sha256: str | None = None,
    progress: bool = True,
    *,
    timeout: float = 60.0,
    overwrite: bool = False,
) -> Path:
    """Download ``url`` to ``dest`` atomically, optionally verifying a SHA-256 checksum.

    Data is streamed into a temporary file next to ``dest`` and moved into place with
    ``os.replace`` only after the checksum matched, so ``dest`` is never left half-written.
    An existing ``dest`` is kept (no request is made) unless ``overwrite`` is true or its
    checksum does not match ``sha256``.

    Args:
        url: Source URL (``http``, ``https`` or ``file``).
        dest: Destination file, or an existing directory (the URL's file name is used).
        sha256: Expected hex SHA-256 digest; ``None`` skips verification.
        progress: Show a tqdm progress bar.
        timeout: Socket timeout in seconds.
        overwrite: Download even if ``dest`` exists.

    Returns:
        Path of the downloaded file.

    Raises:
        ValueError: If the checksum does not match (expected and actual digests are in the
            message; nothing is written to ``dest``).
        urllib.error.URLError: On network / HTTP errors.
    """
    dest = Path(dest)
    if dest.is_dir():
        name = Path(urllib.parse.urlparse(url).path).name
        if not name:
            raise ValueError(f"cannot derive a file name from {url!r}; pass a file path as dest")
        dest = dest / name
    expected = sha256.lower() if sha256 is not None else None
    if dest.is_file() and not overwrite:
        if expected is None or sha256sum(dest) == expected:
            return dest
    dest.parent.mkdir(parents=True, exist_ok=True)

    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            with tqdm(
                total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress
            ) as bar:
                for block in iter(lambda: resp.read(_CHUNK), b""):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
        actual = digest.hexdigest()
        if expected is not None and actual != expected:
            raise ValueError(
                f"checksum mismatch for {url}: expected sha256 {expected}, got {actual}; "
                f"the downloaded file was removed"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest

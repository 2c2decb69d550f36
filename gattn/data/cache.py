"""On-disk cache of tensors (``.pt`` files) with atomic writes."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

__all__ = ["cache_dir", "cached_tensors", "files_fingerprint"]


def cache_dir() -> Path:
    """Directory for cached datasets: ``$GATTN_CACHE`` if set, else ``~/.cache/gattn``.

    Returns:
        The directory path (not created).
    """
    env = os.environ.get("GATTN_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gattn"


def files_fingerprint(files: dict[str, Path]) -> str:
    """A short hash of the source files' paths, sizes and modification times (a cache key part
    that changes when the data files do)."""
    h = hashlib.sha1()
    for key in sorted(files):
        st = files[key].stat()
        h.update(f"{files[key].resolve()}|{st.st_size}|{st.st_mtime_ns};".encode())
    return h.hexdigest()[:12]


def cached_tensors(
    key: str,
    build: Callable[[], dict[str, torch.Tensor]],
    *,
    enabled: bool = True,
    directory: str | os.PathLike[str] | None = None,
    keys: Iterable[str] = (),
) -> dict[str, torch.Tensor]:
    """Return ``build()``, memoised on disk as ``<directory>/<key>.pt``.

    A cache file that cannot be read is rebuilt. Writes go to a temporary file in the same
    directory followed by ``os.replace``, so concurrent readers never see partial files; a
    failure to write (e.g. read-only directory) is ignored.

    Args:
        key: File stem; must identify everything the tensors depend on (name, seed, version).
        build: Function computing a ``dict`` of tensors.
        enabled: If false, just call ``build()``.
        directory: Cache directory; defaults to :func:`cache_dir`.
        keys: Entries a valid cache file must contain (otherwise it is rebuilt).

    Returns:
        The dictionary of tensors.
    """
    if not enabled:
        return build()
    root = Path(directory) if directory is not None else cache_dir()
    path = root / f"{key}.pt"
    if path.is_file():
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(data, dict) and all(isinstance(data.get(k), torch.Tensor) for k in keys):
                return data
        except Exception:  # noqa: BLE001 - unreadable cache entries are simply rebuilt
            pass
    data = build()
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{key}.", suffix=".part", dir=root)
        os.close(fd)
        try:
            torch.save(data, tmp_name)
            os.replace(tmp_name, path)
        finally:
            Path(tmp_name).unlink(missing_ok=True)
    except OSError:
        pass
    return data

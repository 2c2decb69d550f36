"""Reader and writer for the idx format used by (Fashion-)MNIST.

Layout: a 4-byte magic number ``0x00 0x00 <dtype code> <ndim>``, then ``ndim`` big-endian
uint32 dimension sizes, then the data in big-endian row-major order. Files may be gzipped
(detected from the content, not the file name).
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = ["IDX_DTYPES", "read_idx", "write_idx"]

#: idx dtype code -> big-endian numpy dtype
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(
            f"{path}: corrupted gzip stream (expected a complete gzip file): {err}"
        ) from err


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an idx file (plain or gzipped) into a numpy array.

    Args:
        path: File to read.

    Returns:
        Array with the shape stored in the header and a native-endian dtype (``uint8`` for
        MNIST images ``(N, 28, 28)`` and labels ``(N,)``).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is corrupted or truncated; the message names the file, what
            was expected and what was found.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(
            f"{path}: truncated idx header (expected at least 4 bytes, found {len(data)})"
        )
    if data[0] != 0 or data[1] != 0:
        raise ValueError(
            f"{path}: bad idx magic number (expected first two bytes 0x00 0x00, "
            f"found 0x{data[0]:02x} 0x{data[1]:02x})"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        valid = ", ".join(f"0x{c:02x}" for c in IDX_DTYPES)
        raise ValueError(
            f"{path}: unknown idx dtype code (expected one of {valid}, found 0x{code:02x})"
        )
    if ndim == 0:
        raise ValueError(f"{path}: idx header has 0 dimensions (expected at least 1)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(
            f"{path}: truncated idx header (expected {header} bytes for {ndim} dimensions, "
            f"found {len(data)})"
        )
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header
    if found != expected:
        what = "truncated" if found < expected else "trailing data in"
        raise ValueError(
            f"{path}: {what} idx file (expected {expected} data bytes for shape {dims} of "
            f"{dtype.newbyteorder('=').name}, found {found})"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def write_idx(
    path: str | os.PathLike[str], array: np.ndarray, *, compress: bool | None = None
) -> Path:
    """Write ``array`` as an idx file.

    Args:
        path: Destination file.
        array: Array of shape ``(d1, ..., dk)``, ``k >= 1``, with a dtype in ``IDX_DTYPES``
            (uint8, int8, int16, int32, float32, float64).
        compress: gzip the output; ``None`` means "if ``path`` ends in ``.gz``".

    Returns:
        The path written.
    """
    path = Path(path)
    array = np.asarray(array)
    if array.ndim < 1 or array.ndim > 255:
        raise ValueError(f"idx needs 1..255 dimensions, got array of shape {array.shape}")
    codes = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise ValueError(f"dtype {array.dtype} cannot be stored in idx (valid: {list(codes)})")
    header = bytes([0, 0, codes[native], array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[codes[native]]).tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        payload = gzip.compress(payload)
    path.write_bytes(payload)
    return path

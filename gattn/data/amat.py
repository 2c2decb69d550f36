"""Reader for the ``.amat`` text files of the MNIST-rot benchmark (Larochelle et al., 2007).

Each non-blank line holds ``784`` floats (a 28x28 image, intensities in ``[0, 1]``) followed
by the class label. Pixels are read **row-major** (``reshape(28, 28)``) without any
transposition; whether the original release stores images transposed is not corrected here.
See docs/data.md.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

__all__ = ["check_row_count", "read_amat"]


def _line_of_row(path: Path, row: int) -> int:
    """1-based line number of the ``row``-th (0-based) non-blank line of ``path``."""
    seen = -1
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.strip() and not line.lstrip().startswith("#"):
                seen += 1
                if seen == row:
                    return lineno
    return -1


def _not_text(path: Path, lineno: int | None, n_cols: int, what: str) -> ValueError:
    where = f"{path}, line {lineno}" if lineno is not None else str(path)
    return ValueError(
        f"{where}: {what}; this is not a MNIST-rot .amat text file (expected "
        f"plain-text lines of {n_cols} numbers: {n_cols - 1} pixels, then the label). Pass the "
        f"unzipped .amat file, not the archive or a binary file"
    )


def _scan_for_error(path: Path, n_cols: int) -> None:
    """Slow line-by-line validation; raises a ``ValueError`` naming the first bad line.

    The file is read as bytes, so undecodable (binary) content is reported with its line
    instead of escaping as a bare ``UnicodeDecodeError``.
    """
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if b"\x00" in raw:
                raise _not_text(path, lineno, n_cols, "found a NUL byte (binary data)")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise _not_text(
                    path, lineno, n_cols, f"found undecodable byte 0x{raw[err.start]:02x}"
                ) from None
            tokens = line.split()
            if not tokens or tokens[0].startswith("#"):
                continue
            if len(tokens) != n_cols:
                raise ValueError(
                    f"{path}, line {lineno}: expected {n_cols} columns "
                    f"({n_cols - 1} pixels + label), found {len(tokens)}"
                )
            for col, tok in enumerate(tokens, start=1):
                try:
                    float(tok)
                except ValueError:
                    raise ValueError(
                        f"{path}, line {lineno}, column {col}: expected a number, found {tok!r}"
                    ) from None


def check_row_count(
    path: str | os.PathLike[str], found: int, expected: int | None, *, override: str
) -> None:
    """Raise if a data file holds a different number of rows than expected.

    Args:
        path: The file (for the message).
        found: Number of rows read.
        expected: Required number of rows; ``None`` accepts any count.
        override: How the caller can accept another count (quoted in the message), e.g.
            ``"expected_rows=None"``.

    Raises:
        ValueError: If ``expected`` is not ``None`` and differs from ``found``; the message
            names the file, both counts and ``override``.
    """
    if expected is not None and found != expected:
        why = "truncated (cut at a row boundary) or not" if found < expected else "not"
        raise ValueError(
            f"{path}: expected {expected} rows, found {found}; the file is probably {why} "
            f"the original release (see docs/data.md). Pass {override} to accept any row count"
        )


def read_amat(
    path: str | os.PathLike[str], *, image_size: int = 28, expected_rows: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read an ``.amat`` file of flattened images with a trailing label column.

    Args:
        path: The ``.amat`` file.
        image_size: Side length ``S`` of the square images (each row has ``S*S + 1`` values).
        expected_rows: Required number of rows (images); ``None`` (default) accepts any
            number. The MNIST-rot loader (docs/data.md) passes the known counts.

    Returns:
        ``(images, labels)``: float32 array ``(N, S, S)`` read row-major, values in ``[0, 1]``,
        and int64 array ``(N,)`` with values in ``0..9``.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: For binary / undecodable content, a wrong number of columns, a
            non-numeric entry, a non-finite or out-of-range pixel, or a label that is not an
            integer in ``0..9`` (the message names file and line); or if ``expected_rows``
            is given and the file holds a different number of rows.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"amat file not found: {path}")
    n_cols = image_size * image_size + 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
            data = np.loadtxt(path, dtype=np.float64, ndmin=2, comments="#", encoding="utf-8")
    except ValueError as err:  # includes UnicodeDecodeError
        _scan_for_error(path, n_cols)
        if isinstance(err, UnicodeDecodeError):
            raise _not_text(path, None, n_cols, f"undecodable content ({err.reason})") from None
        raise ValueError(f"{path}: could not parse amat file: {err}") from err
    if data.shape[0] == 0:
        raise ValueError(f"{path}: empty amat file (expected rows of {n_cols} numbers)")
    if data.shape[1] != n_cols:
        _scan_for_error(path, n_cols)
        raise ValueError(f"{path}: expected {n_cols} columns, found {data.shape[1]}")

    pixels, raw_labels = data[:, :-1], data[:, -1]
    bad = ~np.isfinite(pixels).all(axis=1) | (pixels.min(axis=1) < -1e-6)
    bad |= pixels.max(axis=1) > 1 + 1e-6
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(
            f"{path}, line {_line_of_row(path, row)}: expected finite pixel values in [0, 1], "
            f"found min {float(pixels[row].min()):g}, max {float(pixels[row].max()):g}"
        )
    bad = ~np.isin(raw_labels, np.arange(10))
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(
            f"{path}, line {_line_of_row(path, row)}: expected an integer label in 0..9, "
            f"found {float(raw_labels[row]):g}"
        )
    check_row_count(path, data.shape[0], expected_rows, override="expected_rows=None")
    images = np.clip(pixels, 0.0, 1.0).astype(np.float32).reshape(-1, image_size, image_size)
    return images, raw_labels.astype(np.int64)

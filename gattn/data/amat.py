"""Reader for the ``.amat`` text files of the MNIST-rot benchmark (Larochelle et al., 2007).

Each non-blank line holds ``784`` floats (a 28x28 image, intensities in ``[0, 1]``) followed
by the class label. Pixels are read **row-major** (``reshape(28, 28)``) without any
transposition; whether the original release stores images transposed is not corrected here.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

__all__ = ["read_amat"]


def _line_of_row(path: Path, row: int) -> int:
    """1-based line number of the ``row``-th (0-based) non-blank line of ``path``."""
    seen = -1
    with path.open("r") as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.strip() and not line.lstrip().startswith("#"):
                seen += 1
                if seen == row:
                    return lineno
    return -1


def _scan_for_error(path: Path, n_cols: int) -> None:
    """Slow line-by-line validation; raises a ``ValueError`` naming the first bad line."""
    with path.open("r") as fh:
        for lineno, line in enumerate(fh, start=1):
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


def read_amat(
    path: str | os.PathLike[str], *, image_size: int = 28
) -> tuple[np.ndarray, np.ndarray]:
    """Read an ``.amat`` file of flattened images with a trailing label column.

    Args:
        path: The ``.amat`` file.
        image_size: Side length ``S`` of the square images (each row has ``S*S + 1`` values).

    Returns:
        ``(images, labels)``: float32 array ``(N, S, S)`` read row-major, values in ``[0, 1]``,
        and int64 array ``(N,)`` with values in ``0..9``.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: For a wrong number of columns, a non-numeric entry, a non-finite or
            out-of-range pixel, or a label outside ``0..9``; the message names file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"amat file not found: {path}")
    n_cols = image_size * image_size + 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
            data = np.loadtxt(path, dtype=np.float64, ndmin=2, comments="#")
    except ValueError as err:
        _scan_for_error(path, n_cols)
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
    images = np.clip(pixels, 0.0, 1.0).astype(np.float32).reshape(-1, image_size, image_size)
    return images, raw_labels.astype(np.int64)

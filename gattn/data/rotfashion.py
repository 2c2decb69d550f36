"""``rotfashion``: Fashion-MNIST with every image randomly rotated."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import torch

from .arrays import to_image_tensor
from .cache import cached_tensors, files_fingerprint
from .idx import read_idx
from .registry import register_dataset
from .rotate import random_angles, rotate_images
from .splits import Splits, make_tensor_dataset, take

__all__ = ["FASHION_FILES", "FASHION_ROOT", "find_fashion_files", "load_rotfashion"]

#: Default location of the Debian package ``dataset-fashion-mnist``.
FASHION_ROOT = Path("/usr/share/datasets/fashion-mnist")
#: Logical name -> idx file stem (the file may also carry a ``.gz`` suffix).
FASHION_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
#: Bump when the preprocessing changes so stale cache files are not reused.
_CACHE_VERSION = 1
_N_VAL = 10_000


def find_fashion_files(root: str | os.PathLike[str] | None = None) -> dict[str, Path]:
    """Locate the four Fashion-MNIST idx files (plain or ``.gz``) in ``root``.

    Args:
        root: Directory; defaults to :data:`FASHION_ROOT`.

    Returns:
        Mapping from the keys of :data:`FASHION_FILES` to existing paths.

    Raises:
        FileNotFoundError: If a file is missing; the message says how to get them.
    """
    root = Path(root) if root is not None else FASHION_ROOT
    found: dict[str, Path] = {}
    for key, stem in FASHION_FILES.items():
        for candidate in (root / stem, root / f"{stem}.gz"):
            if candidate.is_file():
                found[key] = candidate
                break
        else:
            raise FileNotFoundError(
                f"Fashion-MNIST file {stem}[.gz] not found in {root}. Install it with "
                f"`apt-get install dataset-fashion-mnist` (files go to {FASHION_ROOT}) or pass "
                f"root= pointing to a directory with the four idx files (command line: "
                f"gattn train --model MODEL --data rotfashion --data-root PATH). "
                f"See docs/data.md"
            )
    return found


@functools.lru_cache(maxsize=4)
def _read_cached(path: str, size: int, mtime_ns: int) -> np.ndarray:
    """``read_idx`` memoised in-process (keyed by path, size and mtime); read-only result."""
    arr = read_idx(path)
    arr.setflags(write=False)
    return arr


def _read(path: Path) -> np.ndarray:
    st = path.stat()
    return _read_cached(str(path), st.st_size, st.st_mtime_ns)


def _build(
    files: dict[str, Path], seed: int, limit: int | None, rotate: bool, progress: bool | None
) -> dict[str, torch.Tensor]:
    x_train = to_image_tensor(_read(files["train_images"]), source=str(files["train_images"]))
    y_train = torch.from_numpy(_read(files["train_labels"]).astype("int64"))
    x_test = to_image_tensor(_read(files["test_images"]), source=str(files["test_images"]))
    y_test = torch.from_numpy(_read(files["test_labels"]).astype("int64"))
    for x, y, key in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if x.shape[0] != y.shape[0]:
            raise ValueError(
                f"{files[key + '_labels']}: {y.shape[0]} labels for {x.shape[0]} images "
                f"in {files[key + '_images']}"
            )
    n_train, n_test = x_train.shape[0], x_test.shape[0]
    if n_train <= _N_VAL:
        raise ValueError(
            f"{files['train_images']}: expected more than {_N_VAL} training images, found {n_train}"
        )

    gen = torch.Generator().manual_seed(int(seed))
    angles = random_angles(n_train + n_test, gen)
    perm = torch.randperm(n_train, generator=gen)
    tr, va = perm[: n_train - _N_VAL], perm[n_train - _N_VAL :]
    te = torch.arange(n_test)
    tr, va, te = (p[: take(len(p), limit)] for p in (tr, va, te))

    xs = torch.cat([x_train[tr], x_train[va], x_test[te]])
    if rotate:
        xs = rotate_images(
            xs,
            torch.cat([angles[tr], angles[va], angles[n_train + te]]),
            progress=progress,
            desc="rotating Fashion-MNIST",
        )
    x_tr, x_va, x_te = torch.split(xs, [len(tr), len(va), len(te)])
    return {
        "train_x": x_tr, "train_y": y_train[tr],
        "val_x": x_va, "val_y": y_train[va],
        "test_x": x_te, "test_y": y_test[te],
    }  # fmt: skip


@register_dataset("rotfashion")
def load_rotfashion(
    root: str | os.PathLike[str] | None = None,
    seed: int = 0,
    *,
    limit: int | None = None,
    rotate: bool = True,
    cache: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
) -> Splits:
    """Load Fashion-MNIST with seeded random rotations: 50k train / 10k val / 10k test.

    With ``g = torch.Generator().manual_seed(seed)``: 70,000 angles are drawn uniformly from
    ``[0, 2*pi)`` (60k official training images first, then the 10k test images), then a
    permutation of the 60k training images puts 50k in ``train`` and 10k in ``val``. The
    official test set (in file order) is ``test``.

    Args:
        root: Directory with the idx files; defaults to :data:`FASHION_ROOT`.
        seed: Seed for angles and split.
        limit: Keep at most this many items per split; only those are rotated. The result
            is a prefix of each full split for the same seed (handy in tests).
        rotate: If false, return upright images (same splits).
        cache: Store / reuse the full rotated tensors (about 220 MB per seed) as a ``.pt``
            file keyed by seed and source files; never used together with ``limit``.
        cache_dir: Cache directory; defaults to ``$GATTN_CACHE`` or ``~/.cache/gattn``.
        progress: tqdm bar while rotating (``None``: only for large inputs).

    Returns:
        :class:`Splits` with images float32 ``(N, 1, 28, 28)`` in ``[0, 1]``, labels int64.

    Raises:
        FileNotFoundError: If the idx files are missing (mentions
            ``apt-get install dataset-fashion-mnist`` and ``root=``).
        ValueError: If an idx file is corrupted.
    """
    files = find_fashion_files(root)
    key = (
        f"rotfashion-v{_CACHE_VERSION}-seed{int(seed)}-rot{int(rotate)}-{files_fingerprint(files)}"
    )
    data = cached_tensors(
        key,
        lambda: _build(files, seed, limit, rotate, progress),
        enabled=cache and limit is None,
        directory=cache_dir,
        keys=[f"{s}_{t}" for s in ("train", "val", "test") for t in "xy"],
    )
    splits = [make_tensor_dataset(data[f"{s}_x"], data[f"{s}_y"]) for s in ("train", "val", "test")]
    info = {
        "name": "rotfashion",
        "seed": int(seed),
        "rotated": rotate,
        "root": str(files["train_images"].parent),
    }
    return Splits(*splits, info=info)

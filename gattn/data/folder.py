"""``arrays``: user-provided splits stored as ``.npy`` / ``.npz`` arrays."""

from __future__ import annotations

import os
from pathlib import Path

from .arrays import load_array_folder
from .registry import register_dataset
from .splits import Splits, make_tensor_dataset, take

__all__ = ["SPLIT_NAMES", "load_arrays_dataset"]

#: split attribute -> accepted file / folder stems under ``root``
SPLIT_NAMES = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}


def _locate(root: Path, stems: tuple[str, ...]) -> Path:
    for stem in stems:
        for candidate in (root / stem, root / f"{stem}.npz"):
            if candidate.exists():
                return candidate
    tried = ", ".join(f"{s}/ or {s}.npz" for s in stems)
    raise FileNotFoundError(f"{root}: no split found (tried {tried})")


@register_dataset("arrays")
def load_arrays_dataset(
    root: str | os.PathLike[str] | None = None,
    seed: int = 0,
    *,
    limit: int | None = None,
) -> Splits:
    """Load ready-made splits from ``root/{train,val,test}`` (folders or ``.npz`` files).

    Each split is read with :func:`~gattn.data.arrays.load_array_folder` (``images.npy`` +
    ``labels.npy`` in a folder, or an ``.npz`` with ``images`` / ``labels``). The validation
    split may also be called ``valid`` or ``validation``. Nothing is shuffled.

    Args:
        root: Directory containing the three splits (required).
        seed: Accepted for API uniformity; unused.
        limit: Keep at most this many items per split (prefix).

    Returns:
        :class:`Splits` with images float32 ``(N, 1, H, W)`` in ``[0, 1]``, labels int64.

    Raises:
        FileNotFoundError: If ``root`` is ``None`` / missing or a split is absent.
        ValueError: On malformed arrays.
    """
    if root is None:
        raise FileNotFoundError(
            "dataset 'arrays' needs root= (a directory with train/val/test); command line: "
            "gattn train --model MODEL --data arrays --data-root PATH. See docs/data.md"
        )
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset 'arrays': directory not found: {root}")
    splits = []
    for stems in SPLIT_NAMES.values():
        x, y = load_array_folder(_locate(root, stems))
        n = take(len(x), limit)
        splits.append(make_tensor_dataset(x[:n], y[:n]))
    return Splits(*splits, info={"name": "arrays", "seed": int(seed), "root": str(root)})

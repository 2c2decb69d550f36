"""The :class:`Splits` container and helpers to build it from tensors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import TensorDataset

__all__ = ["Splits", "make_tensor_dataset", "take"]


def make_tensor_dataset(images: torch.Tensor, labels: torch.Tensor) -> TensorDataset:
    """Validate and wrap images and labels in a ``TensorDataset``.

    Args:
        images: float32 tensor ``(N, 1, H, W)``.
        labels: int64 tensor ``(N,)``.

    Returns:
        ``TensorDataset(images, labels)``; ``ds.tensors`` gives the tensors back.
    """
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"images must have shape (N, 1, H, W), got {tuple(images.shape)}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}")
    return TensorDataset(images.to(torch.float32).contiguous(), labels.to(torch.int64).contiguous())


def take(n: int, limit: int | None) -> int:
    """Number of items to keep from a split of size ``n`` under an optional ``limit``.

    Args:
        n: Split size.
        limit: Maximum number of items, or ``None`` for all.

    Returns:
        ``min(n, limit)`` (or ``n``).
    """
    if limit is None:
        return n
    if limit < 0:
        raise ValueError(f"limit must be non-negative, got {limit}")
    return min(n, int(limit))


@dataclass
class Splits:
    """Train / validation / test splits of one dataset.

    Each split is a ``TensorDataset`` of images (float32 ``(N, 1, 28, 28)`` in ``[0, 1]``)
    and labels (int64 ``(N,)``). Model selection must use ``val`` only; ``test`` is for the
    final report.

    Attributes:
        train: Training split.
        val: Validation split.
        test: Test split.
        info: Free-form metadata (dataset name, seed, source paths, ...).
    """

    train: TensorDataset
    val: TensorDataset
    test: TensorDataset
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def sizes(self) -> tuple[int, int, int]:
        """``(len(train), len(val), len(test))``."""
        return len(self.train), len(self.val), len(self.test)

    def __iter__(self):
        """Iterate over ``(train, val, test)`` so that ``tr, va, te = splits`` works."""
        return iter((self.train, self.val, self.test))

    def __repr__(self) -> str:
        name = self.info.get("name", "?")
        tr, va, te = self.sizes
        return f"Splits(name={name!r}, train={tr}, val={va}, test={te})"

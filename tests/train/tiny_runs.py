"""Tiny training runs shared by the tests of this folder: random 28×28 splits and a
seconds-long P4CNN configuration."""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from gattn.data.splits import Splits
from gattn.train import TrainConfig


def random_splits(n_train: int = 32, n_eval: int = 16) -> Splits:
    """Seeded random images ``(N, 1, 28, 28)`` and labels: train / val / test sizes
    ``n_train`` / ``n_eval`` / ``n_eval``."""
    g = torch.Generator().manual_seed(0)

    def ds(k: int) -> TensorDataset:
        return TensorDataset(
            torch.rand(k, 1, 28, 28, generator=g), torch.randint(0, 10, (k,), generator=g)
        )

    return Splits(ds(n_train), ds(n_eval), ds(n_eval))


def tiny_config(out, epochs: int = 1, channels: int = 4, **kw) -> TrainConfig:
    """A P4CNN with ``channels`` channels, batch 16, on the CPU, quiet; ``kw`` overrides."""
    base = dict(
        model="p4cnn",
        data="rotmnist-small",
        epochs=epochs,
        out=str(out),
        batch_size=16,
        quiet=True,
        device="cpu",
        model_kwargs={"channels": channels},
    )
    base.update(kw)
    return TrainConfig(**base)

"""Classification metrics, the JSON-lines metrics log and learning-curve plots."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from .distributed import all_reduce_sum

__all__ = ["MetricsLog", "evaluate_classifier", "plot_curves", "read_metrics"]


@torch.no_grad()
def evaluate_classifier(
    model: nn.Module, loader: DataLoader | Iterable, device: torch.device | str
) -> dict[str, float]:
    r"""Mean cross-entropy and error rate of ``model`` over ``loader`` (eval mode).

    In a distributed run each process passes its own shard and the sums are all-reduced, so
    every process gets the totals of the whole split.

    Returns:
        ``{"loss": mean CE, "error": % misclassified, "n": number of examples}``.
    """
    was_training = model.training
    model.eval()
    sums = torch.zeros(3, dtype=torch.float64, device=device)
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        logits = model(x)
        sums[0] += F.cross_entropy(logits, y, reduction="sum").double()
        sums[1] += (logits.argmax(1) != y).sum()
        sums[2] += y.numel()
    model.train(was_training)
    loss, wrong, n = all_reduce_sum(sums).tolist()
    n = max(n, 1.0)
    return {"loss": loss / n, "error": 100.0 * wrong / n, "n": int(n)}


class MetricsLog:
    """Append-only JSON-lines log (one record per line, ``metrics.jsonl``).

    Args:
        path: file to append to (created with its folder).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict[str, Any]) -> None:
        """Append ``record`` as one JSON line (flushed)."""
        with open(self.path, "a") as fh:
            fh.write(json.dumps(record) + "\n")

    def rewrite(self, records: Iterable[dict[str, Any]]) -> None:
        """Replace the whole log by ``records``, atomically (tmp file, fsync, ``os.replace``):
        a crash leaves either the old log or the new one.

        Args:
            records: the records to keep, in order.
        """
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as fh:
            fh.write("".join(json.dumps(r) + "\n" for r in records))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


def read_metrics(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Records of a ``metrics.jsonl`` file, in order (``[]`` if it does not exist).

    A last line cut short by a crash while it was appended (no final newline, not valid JSON)
    is dropped with a warning.

    Args:
        path: the log file.

    Returns:
        The records.

    Raises:
        ValueError: a line other than an interrupted last one is not a JSON object (the
            message names the file and the line).
    """
    path = Path(path)
    if not path.is_file():
        return []
    text = path.read_text()
    lines = text.splitlines()
    out: list[dict[str, Any]] = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            if i == len(lines) - 1 and not text.endswith("\n"):
                warnings.warn(
                    f"{str(path)!r}: dropped its last line, cut short by an interrupted write",
                    stacklevel=2,
                )
                continue
            raise ValueError(f"{str(path)!r} line {i + 1} is not valid JSON: {exc}") from None
        if not isinstance(record, dict):
            raise ValueError(f"{str(path)!r} line {i + 1} is not a JSON object: {line[:80]!r}")
        out.append(record)
    return out


def plot_curves(records: list[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Learning curves (loss and error % per epoch, train and validation) as a PNG.

    Args:
        records: epoch records with ``epoch``, ``train_loss``, ``train_error``, ``val_loss``,
            ``val_error``.
        path: the PNG to write (atomically).

    Returns:
        ``Path(path)``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    epochs = [r["epoch"] for r in records]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, key in zip(axes, ("loss", "error")):
        for split in ("train", "val"):
            vals = [r.get(f"{split}_{key}") for r in records]
            if any(v is not None for v in vals):
                ax.plot(epochs, vals, marker="o", label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel("cross-entropy" if key == "loss" else "error (%)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return path

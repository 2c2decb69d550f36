"""Load a trained model and its test images from a ``gattn train`` run folder.

A run folder holds ``config.json`` (a :class:`gattn.train.TrainConfig`: model name, model
keyword arguments, dataset name, data seed, limit) and ``best.pt`` (a checkpoint dictionary with
the validation-selected weights under ``"model"``); ``last.pt`` is used when ``best.pt`` is
missing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["LoadedRun", "load_run"]


@dataclass
class LoadedRun:
    """A trained model with what is needed to show it its data.

    Attributes:
        model: the network with the checkpoint's weights, eval mode, on the CPU.
        config: the run's ``config.json`` as a dictionary.
        checkpoint: path of the weights that were loaded.
    """

    model: nn.Module
    config: dict[str, Any]
    checkpoint: Path

    def test_image(self, index: int, split: str = "test") -> tuple[Tensor, int]:
        """Image ``index`` of the run's dataset split (same dataset, seed and limit as training).

        Args:
            index: position in the split.
            split: ``"train"``, ``"val"`` or ``"test"``.

        Returns:
            ``(image (C, Y, X), label)``.

        Raises:
            ValueError: unknown ``split`` or ``index`` out of range.
        """
        from ..train.config import TrainConfig

        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
        splits = TrainConfig.from_dict(self.config).splits()
        data = getattr(splits, split)
        if not isinstance(index, int) or not 0 <= index < len(data):
            raise ValueError(
                f"image index must be in 0..{len(data) - 1} for the {split} split of "
                f"{self.config['data']!r}, got {index!r}"
            )
        x, y = data[index]
        return x, int(y)


def load_run(run: str | os.PathLike[str]) -> LoadedRun:
    """Rebuild the model of a run folder and load its best-validation weights.

    Args:
        run: a folder written by ``gattn train``.

    Returns:
        A :class:`LoadedRun`.

    Raises:
        FileNotFoundError: ``run`` is not a folder with ``config.json`` and ``best.pt`` /
            ``last.pt``.
        ValueError: the checkpoint holds no ``"model"`` state dict, or the config names no model.
    """
    from ..models import get_model
    from ..train import load_checkpoint

    folder = Path(run)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{str(folder)!r} is not a run folder (no config.json)")
    config = json.loads(config_path.read_text())
    if not isinstance(config.get("model"), str) or not isinstance(config.get("data"), str):
        raise ValueError(f"{str(config_path)!r} names no model and dataset: {config!r}")
    for name in ("best.pt", "last.pt"):
        path = folder / name
        if path.is_file():
            break
    else:
        raise FileNotFoundError(f"{str(folder)!r} has no best.pt or last.pt checkpoint")
    state = load_checkpoint(path, map_location="cpu")
    weights = state.get("model") if isinstance(state, dict) else None
    if not isinstance(weights, dict):
        raise ValueError(f"checkpoint {str(path)!r} holds no 'model' state dict")
    from ..train.config import TrainConfig

    model = get_model(config["model"], **TrainConfig.from_dict(config).build_model_kwargs())
    model.load_state_dict(weights)
    return LoadedRun(model.to(torch.device("cpu")).eval(), config, path)

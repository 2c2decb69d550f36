"""The training configuration (saved as ``config.json`` in every run folder)."""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = ["RESUME_KEYS", "TrainConfig"]

#: fields that must match between a run and its ``--resume`` (``epochs`` may grow)
RESUME_KEYS = (
    "model",
    "data",
    "seed",
    "data_seed",
    "batch_size",
    "lr",
    "weight_decay",
    "limit",
    "scheduler",
    "model_kwargs",
    "data_kwargs",
    "recalibrate_bn",
)

_SCHEDULERS = ("none", "cosine")


@dataclass
class TrainConfig:
    """Everything that defines a training run (defaults: the rot-MNIST settings of
    docs/training.md).

    Attributes:
        model: a name of :func:`gattn.models.available_models`.
        data: a name of :func:`gattn.data.available_datasets`.
        epochs: number of passes over the training split.
        seed: seed of initialisation, shuffling and dropout.
        data_seed: seed of the dataset (rotation angles, split); fixed across model seeds.
        out: run folder (checkpoints, ``metrics.jsonl``, ``curves.png``, ``config.json``,
            ``summary.json``).
        batch_size: global batch size (split across processes under ``torchrun``).
        lr, weight_decay: Adam's learning rate and (L2) weight decay.
        scheduler: ``"none"`` (constant learning rate) or ``"cosine"`` (per epoch).
        device: ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        limit: keep at most this many examples per split (smoke tests).
        eval_every: validate every this many epochs (and after the last one).
        log_every: update the progress bar's loss every this many steps.
        quiet: no progress bar and no per-epoch lines (the final summary is still printed).
        num_workers: DataLoader workers.
        data_root: where the dataset's raw files are (dataset default if ``None``).
        model_kwargs: extra keyword arguments of the model builder.
        gattn_version: the gattn version that wrote the run (set when training starts;
            ``None`` in runs of gattn < 0.2, see :meth:`build_model_kwargs`).
        data_kwargs: extra keyword arguments of the dataset builder (e.g. ``rotate=False``,
            ``size=29`` for ``rotmnist-small``: upright digits resized to 29 px).
        recalibrate_bn: before every validation, re-estimate the batch-norm running
            statistics over the training split with dropout off
            (:func:`gattn.train.recalibrate_batchnorm`; see :class:`gattn.train.Trainer`).
            A resume key: validation errors measured with and without it are not comparable,
            so one run uses one setting (``config.json`` files written before this field
            existed load with ``False``).
    """

    model: str
    data: str
    epochs: int = 20
    seed: int = 0
    data_seed: int = 0
    out: str = "runs/run"
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    scheduler: str = "none"
    device: str = "auto"
    limit: int | None = None
    eval_every: int = 1
    log_every: int = 20
    quiet: bool = False
    num_workers: int = 0
    data_root: str | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    data_kwargs: dict[str, Any] = field(default_factory=dict)
    gattn_version: str | None = None
    recalibrate_bn: bool = False

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_every", "log_every"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 1):
            raise ValueError(f"limit must be a positive int or None, got {self.limit!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.scheduler not in _SCHEDULERS:
            raise ValueError(f"scheduler must be one of {_SCHEDULERS}, got {self.scheduler!r}")
        if not isinstance(self.recalibrate_bn, bool):
            raise ValueError(f"recalibrate_bn must be a bool, got {self.recalibrate_bn!r}")
        for name in ("model_kwargs", "data_kwargs"):
            kw = getattr(self, name)
            if not isinstance(kw, dict) or not all(isinstance(k, str) for k in kw):
                raise ValueError(f"{name} must be a dict with string keys, got {kw!r}")
        if self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers!r}")

    def trained_in_plain_form(self) -> bool:
        """Whether this is a run of gattn < 0.2 (no ``gattn_version``) of a model with a
        ``residual`` option it did not set: gattn < 0.2 built the attentive zoo models in the
        plain form :math:`\alpha \tilde f`, gattn >= 0.2 in the paper's residual form
        :math:`(1 - \alpha)\tilde f` (docs/attention.md). The weights fit both; only the
        recorded version tells which function they were trained for."""
        if self.gattn_version is not None or "residual" in self.model_kwargs:
            return False
        from ..models import get_model

        try:
            model = get_model(self.model, **self.model_kwargs)
        except (ValueError, TypeError):
            return False
        return any(getattr(m, "residual", None) is True for m in model.modules())

    def build_model_kwargs(self) -> dict[str, Any]:
        """The keyword arguments that rebuild the run's model as it was trained:
        ``model_kwargs``, plus ``residual=False`` (with a warning) for a run trained in the
        plain form by gattn < 0.2 (:meth:`trained_in_plain_form`)."""
        kw = dict(self.model_kwargs)
        if self.trained_in_plain_form():
            warnings.warn(
                f"this {self.model!r} run was written by gattn < 0.2, whose attentive models "
                "were the plain (non-residual) form: rebuilding it with residual=False",
                stacklevel=2,
            )
            kw["residual"] = False
        return kw

    def splits(self) -> Any:
        """The run's dataset: :func:`gattn.data.get_dataset` with this configuration's name,
        root, seed, limit and ``data_kwargs`` (a :class:`gattn.data.Splits`)."""
        from ..data import get_dataset

        return get_dataset(
            self.data,
            root=self.data_root,
            seed=self.data_seed,
            limit=self.limit,
            **self.data_kwargs,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dictionary of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict` (unknown keys are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``config.json`` atomically."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrainConfig:
        """Read a ``config.json``."""
        return cls.from_dict(json.loads(Path(path).read_text()))

"""Training: the loop (:func:`train`, :class:`Trainer`), its configuration, atomic
checkpoints with RNG state (loaded with ``weights_only=True``), the run-folder lock, metrics
logs and plots, and ``torchrun`` data parallelism."""

from .batchnorm import recalibrate_batchnorm
from .checkpoint import (
    CheckpointError,
    capture_rng,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from .config import RESUME_KEYS, TrainConfig
from .distributed import init_distributed, is_main, rank, world_size
from .evaluation import evaluate_run, invariance_error, results_table
from .lock import RunLock, RunLockedError
from .loop import Trainer, count_parameters, resolve_device, seed_everything, train
from .metrics import MetricsLog, evaluate_classifier, plot_curves, read_metrics

__all__ = [
    "RESUME_KEYS",
    "CheckpointError",
    "MetricsLog",
    "TrainConfig",
    "Trainer",
    "capture_rng",
    "count_parameters",
    "evaluate_classifier",
    "evaluate_run",
    "init_distributed",
    "invariance_error",
    "is_main",
    "load_checkpoint",
    "plot_curves",
    "rank",
    "RunLock",
    "RunLockedError",
    "read_metrics",
    "recalibrate_batchnorm",
    "resolve_device",
    "restore_rng",
    "results_table",
    "save_checkpoint",
    "seed_everything",
    "train",
    "world_size",
]

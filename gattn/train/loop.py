"""The training loop: :class:`Trainer` and :func:`train`.

Adam (lr 1e-3, weight decay 1e-4), batch 128, cross-entropy, validation every
``eval_every`` epochs; the checkpoint with the lowest *validation* error is kept as
``best.pt`` and the test split is evaluated once, at the end, with that checkpoint. (Both
reference repositories picked the best epoch on the test set, which biases the reported
errors downwards; we never look at the test split before the end.)

``last.pt`` is written atomically after every epoch with the model, optimiser, scheduler,
epoch, step, best-so-far and the RNG states of every process (Python, NumPy, torch and the
DataLoader's generator), so ``resume=True`` continues bit-for-bit where the run stopped
(at epoch granularity: an interrupted epoch is redone from its start). ``last.pt`` also holds
the training time so far, so ``summary.json``'s ``train_time_s`` counts every segment of a
resumed run. Checkpoints are loaded with ``weights_only=True`` (:func:`load_checkpoint`).

While it trains, a run holds the lock ``<out>/.lock`` (:class:`~gattn.train.lock.RunLock`,
taken by rank 0 only): a second training on the same folder refuses to start.

With ``recalibrate_bn`` the batch-norm running statistics are re-estimated over the training
split with dropout off before every validation (:func:`~gattn.train.recalibrate_batchnorm`,
the dropout / batch-norm "variance shift"); see :class:`Trainer`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler, Subset

from .. import __version__
from .batchnorm import recalibrate_batchnorm
from .checkpoint import capture_rng, load_checkpoint, restore_rng, save_checkpoint
from .config import RESUME_KEYS, TrainConfig
from .distributed import (
    all_gather_objects,
    all_reduce_sum,
    barrier,
    cleanup,
    init_distributed,
    is_main,
    rank,
    world_size,
)
from .lock import RunLock, RunLockedError
from .metrics import MetricsLog, evaluate_classifier, plot_curves, read_metrics

__all__ = ["Trainer", "count_parameters", "resolve_device", "seed_everything", "train"]


def count_parameters(model: nn.Module) -> int:
    """Number of scalar parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA (this process's ``LOCAL_RANK`` GPU) if available, else CPU.

    Args:
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` (or another torch device).

    Returns:
        The device.

    Raises:
        ValueError: ``device`` is not a device name, or names a CUDA device that this torch
            build / machine does not have (CPU-only build, no GPU visible, index too large).
    """
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}"
        ) from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = (
                "this torch build has no CUDA support"
                if torch.version.cuda is None
                else "no CUDA GPU is visible"
            )
            raise ValueError(
                f"device {device!r} requested but CUDA is not available ({why}); "
                f"use --device cpu or --device auto"
            )
        n = torch.cuda.device_count()
        if dev.index is not None and dev.index >= n:
            raise ValueError(
                f"device {device!r} requested but only {n} CUDA device(s) are visible "
                f"(cuda:0 .. cuda:{n - 1})"
            )
    return dev


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (third-party code uses the global state)
    torch.manual_seed(seed)


#: keys of a ``last.pt`` written by :meth:`Trainer.state_dict` that resuming needs
_LAST_KEYS = ("model", "optimizer", "scheduler", "epoch", "step", "best", "rng", "world_size")


def _shard(ds: Dataset) -> Dataset:
    """This process's disjoint share of an evaluation split (every ``world_size``-th item)."""
    if world_size() == 1:
        return ds
    return Subset(ds, range(rank(), len(ds), world_size()))  # type: ignore[arg-type]


class Trainer:
    """Trains one model on one dataset as described by a :class:`TrainConfig`.

    Args:
        config: the run's configuration.
        splits: optional pre-built ``Splits`` (train / val / test datasets of
            ``(image, label)``); by default ``gattn.data.get_dataset(config.data, ...)``.
        model: optional pre-built model; by default ``gattn.models.get_model(config.model)``.

    Batch-norm recalibration (``config.recalibrate_bn``): before every validation the running
    statistics of every batch-norm layer are recomputed over the whole training split, in
    order (a separate non-shuffled loader with the training batch size), with dropout off
    (:func:`~gattn.train.recalibrate_batchnorm`). The validation error, the selection of
    ``best.pt`` and ``best.pt`` itself therefore use the recalibrated statistics. Training
    then goes on with them as its running statistics (harmless: in training mode batch norm
    normalises with the batch statistics, and the running ones are only updated), so they are
    also what ``last.pt`` holds after a validated epoch. The recalibration draws no random
    number from the training generators (its loader has its own generator, and the global RNG
    states are saved and restored around it), so the weights follow exactly the trajectory
    of the same run without recalibration, and ``resume`` stays bit-for-bit. It costs one
    forward pass over the training split per validation. In a distributed run every process
    recalibrates its own replica over the *whole* training split (no communication): the
    replicas hold the same weights and see the same batches, so they compute the same
    statistics (and DDP broadcasts rank 0's buffers again at the next training step);
    ``best.pt`` is written by rank 0.
    """

    def __init__(self, config: TrainConfig, splits: Any = None, model: nn.Module | None = None):
        if config.gattn_version is None:  # this code trains it: record which (see TrainConfig)
            config = dataclasses.replace(config, gattn_version=__version__)
        self.config = config
        self.device = resolve_device(config.device)
        self.distributed = init_distributed(self.device)
        if self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.out = Path(config.out)
        self.splits = splits = config.splits() if splits is None else splits
        seed_everything(config.seed)  # identical initialisation on every process
        if model is None:
            from ..models import get_model

            model = get_model(config.model, **config.model_kwargs)
        self.model = model.to(self.device)
        self.n_params = count_parameters(self.model)
        if config.recalibrate_bn and not any(
            isinstance(m, _BatchNorm) and m.track_running_stats for m in self.model.modules()
        ):
            raise ValueError(
                f"recalibrate_bn: model {config.model!r} has no batch-norm layer with running "
                f"statistics to recalibrate"
            )
        torch.manual_seed(config.seed + 1_000_003 * rank())  # per-process dropout streams
        self.net: nn.Module = self.model
        if self.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        if config.scheduler == "cosine":
            self.scheduler: Any = torch.optim.lr_scheduler.CosineAnnealingLR(
                self.optimizer, T_max=config.epochs
            )
        else:
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda _: 1.0)
        self.generator = torch.Generator().manual_seed(config.seed)
        per_proc = max(1, config.batch_size // world_size())
        if self.distributed:
            self.sampler: Any = DistributedSampler(
                splits.train, shuffle=True, seed=config.seed, drop_last=False
            )
        else:
            self.sampler = RandomSampler(splits.train, generator=self.generator)
        self.train_loader = DataLoader(
            splits.train,
            batch_size=per_proc,
            sampler=self.sampler,
            num_workers=config.num_workers,
            generator=self.generator,
        )
        self.val_loader = DataLoader(_shard(splits.val), batch_size=2 * per_proc)
        self.test_loader = DataLoader(_shard(splits.test), batch_size=2 * per_proc)
        # in order, own generator: iterating it must not draw from the training RNGs
        self.recal_loader = (
            DataLoader(
                splits.train,
                batch_size=per_proc,
                shuffle=False,
                num_workers=config.num_workers,
                generator=torch.Generator().manual_seed(config.seed),
            )
            if config.recalibrate_bn
            else None
        )
        self.epoch = 0
        self.step = 0
        self.best: dict[str, Any] = {"epoch": None, "val_error": float("inf")}
        self.train_time_s = 0.0  # of the earlier segments of a resumed run
        self._segment_start: float | None = None

    # -- state ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Full training state (collective in a distributed run: gathers every RNG)."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "best": dict(self.best),
            "rng": all_gather_objects(capture_rng(self.generator)),
            "world_size": world_size(),
            "config": self.config.to_dict(),
            "n_params": self.n_params,
            "train_time_s": self._elapsed(),
        }

    def _elapsed(self) -> float:
        """Training time so far: the earlier segments plus this one (seconds)."""
        now = 0.0 if self._segment_start is None else time.perf_counter() - self._segment_start
        return self.train_time_s + now

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (same world size required for the RNG streams)."""
        if state["world_size"] != world_size():
            raise ValueError(
                f"checkpoint was written by {state['world_size']} processes, this run has "
                f"{world_size()}: resume with the same number of processes"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.step, self.best = state["epoch"], state["step"], dict(state["best"])
        self.train_time_s = float(state.get("train_time_s", 0.0))  # absent in old checkpoints
        restore_rng(state["rng"][rank()], self.generator)

    def _check_resumable(self) -> None:
        path = self.out / "config.json"
        if not path.is_file():
            raise FileNotFoundError(
                f"cannot resume {str(self.out)!r}: it has no config.json, so it is not a run "
                f"folder written by gattn train (drop --resume to start a new run elsewhere)"
            )
        try:
            saved = TrainConfig.load(path).to_dict()
        except (ValueError, TypeError) as exc:
            raise ValueError(
                f"cannot resume {str(self.out)!r}: {str(path)!r} is invalid: {exc}"
            ) from exc
        if TrainConfig.from_dict(saved).trained_in_plain_form():
            raise ValueError(
                f"cannot resume {str(self.out)!r}: it was trained by gattn < 0.2, whose "
                f"attentive models were the plain form; gattn >= 0.2 builds the paper's "
                f"residual form (docs/attention.md). Evaluate it as it is, or train anew"
            )
        now = self.config.to_dict()
        for key in RESUME_KEYS:
            if saved.get(key) != now.get(key):
                raise ValueError(
                    f"cannot resume {str(self.out)!r}: {key} was {saved.get(key)!r}, "
                    f"now {now.get(key)!r}"
                )

    # -- loop ----------------------------------------------------------------------------
    def _recalibrate_bn(self) -> None:
        """Re-estimate the batch-norm statistics over the training split, dropout off, without
        touching any random-number generator state (see the class docstring)."""
        rng = capture_rng()
        try:
            recalibrate_batchnorm(self.model, self.recal_loader, self.device)
        finally:
            restore_rng(rng)

    def _say(self, msg: str) -> None:
        if is_main() and not self.config.quiet:
            print(msg, flush=True)

    def _train_epoch(self) -> dict[str, float]:
        from tqdm.auto import tqdm

        cfg = self.config
        self.net.train()
        if isinstance(self.sampler, DistributedSampler):
            self.sampler.set_epoch(self.epoch)
        sums = torch.zeros(3, dtype=torch.float64, device=self.device)
        bar = tqdm(
            self.train_loader,
            desc=f"epoch {self.epoch + 1}/{cfg.epochs}",
            disable=cfg.quiet or not is_main() or not sys.stderr.isatty(),
            leave=False,
        )
        for i, (x, y) in enumerate(bar):
            x, y = x.to(self.device), y.to(self.device)
            logits = self.net(x)
            loss = F.cross_entropy(logits, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.step += 1
            with torch.no_grad():
                sums[0] += loss.detach().double() * y.numel()
                sums[1] += (logits.argmax(1) != y).sum()
                sums[2] += y.numel()
            if not bar.disable and i % cfg.log_every == 0:
                bar.set_postfix(loss=f"{loss.item():.4f}")
        bar.close()
        self.scheduler.step()
        loss_sum, wrong, n = all_reduce_sum(sums).tolist()
        return {"train_loss": loss_sum / max(n, 1), "train_error": 100.0 * wrong / max(n, 1)}

    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train to ``config.epochs``, then test the validation-selected checkpoint.

        The run folder is locked for the whole call (``<out>/.lock``, by rank 0; released on
        return and on any exception).

        Args:
            resume: continue from ``<out>/last.pt``. The folder must exist; a run folder
                without ``last.pt`` (stopped during its first epoch) starts from epoch 0.

        Returns:
            The summary (also written to ``<out>/summary.json``): model, data, seed, epochs,
            ``best_epoch``, ``val_error``, ``test_error`` (% ; of the best-validation
            checkpoint), ``test_loss``, ``params``, ``train_time_s`` (of every segment of a
            resumed run), ``world_size``, ``recalibrate_bn``.

        Raises:
            FileExistsError: ``out`` already holds a run and ``resume`` is false.
            FileNotFoundError: ``resume`` and ``out`` does not exist or is not a run folder.
            RunLockedError: another live training holds ``out``'s lock.
            CheckpointError: ``last.pt`` (on resume) or ``best.pt`` cannot be loaded.
            ValueError: resuming with a configuration that differs in a :data:`RESUME_KEYS`.
        """
        if resume and not self.out.is_dir():
            raise FileNotFoundError(
                f"cannot resume {str(self.out)!r}: no such run folder (check --out; drop "
                f"--resume to start a new run)"
            )
        lock = RunLock(self.out)
        refused = None
        if is_main():
            self.out.mkdir(parents=True, exist_ok=True)
            try:
                lock.acquire()
            except RunLockedError as exc:
                refused = str(exc)
        refused = all_gather_objects(refused)[0]  # every process stops if rank 0 could not lock
        if refused is not None:
            raise RunLockedError(refused)
        try:
            return self._fit_locked(resume)
        finally:
            lock.release()

    def _fit_locked(self, resume: bool) -> dict[str, Any]:
        cfg = self.config
        last = self.out / "last.pt"
        metrics_path = self.out / "metrics.jsonl"
        if resume:
            self._check_resumable()
            if last.is_file():
                state = load_checkpoint(last, map_location=self.device, required=_LAST_KEYS)
                self.load_state_dict(state)
                self._say(f"resuming {self.out} after epoch {self.epoch}")
            else:
                self._say(f"resuming {self.out}: no last.pt (no epoch finished), from epoch 0")
        elif last.is_file():
            raise FileExistsError(
                f"{str(self.out)!r} already holds a run (last.pt); pass resume=True / --resume "
                f"or choose another out"
            )
        if is_main():
            cfg.save(self.out / "config.json")
            kept = [r for r in read_metrics(metrics_path) if r.get("epoch", 0) <= self.epoch]
            MetricsLog(metrics_path).rewrite(kept)  # atomic, like the checkpoints
        barrier()
        log = MetricsLog(metrics_path)
        self._say(
            f"training {cfg.model} ({self.n_params:,} parameters) on {cfg.data} "
            f"[{len(self.splits.train)}/{len(self.splits.val)}/{len(self.splits.test)}] "
            f"for {cfg.epochs} epochs, device {self.device}, {world_size()} process(es)"
        )
        self._segment_start = time.perf_counter()
        while self.epoch < cfg.epochs:
            t0 = time.perf_counter()
            record: dict[str, Any] = self._train_epoch()
            self.epoch += 1
            record = {"epoch": self.epoch, "step": self.step, **record}
            if self.epoch % cfg.eval_every == 0 or self.epoch == cfg.epochs:
                if self.recal_loader is not None:
                    self._recalibrate_bn()
                val = evaluate_classifier(self.net, self.val_loader, self.device)
                record.update(val_loss=val["loss"], val_error=val["error"])
                if val["error"] < self.best["val_error"]:
                    self.best = {"epoch": self.epoch, "val_error": val["error"]}
                    if is_main():
                        save_checkpoint(
                            self.out / "best.pt",
                            {
                                "model": self.model.state_dict(),
                                "epoch": self.epoch,
                                "val_error": val["error"],
                                "config": cfg.to_dict(),
                            },
                        )
            record.update(lr=self.optimizer.param_groups[0]["lr"], time_s=time.perf_counter() - t0)
            state = self.state_dict()  # collective: every process takes part
            if is_main():
                log.write(record)
                save_checkpoint(last, state)
            self._say(
                f"epoch {self.epoch}/{cfg.epochs}: train loss {record['train_loss']:.4f} "
                f"error {record['train_error']:.2f}%"
                + (
                    f" | val loss {record['val_loss']:.4f} error {record['val_error']:.2f}%"
                    if "val_error" in record
                    else ""
                )
                + f" | {record['time_s']:.1f} s"
            )
        barrier()
        return self._finish(self._elapsed())

    def _finish(self, train_time: float) -> dict[str, Any]:
        best = load_checkpoint(
            self.out / "best.pt", map_location=self.device, required=("model", "epoch", "val_error")
        )
        self.model.load_state_dict(best["model"])
        test = evaluate_classifier(self.net, self.test_loader, self.device)
        cfg = self.config
        summary = {
            "model": cfg.model,
            "model_kwargs": cfg.model_kwargs,
            "data": cfg.data,
            "data_kwargs": cfg.data_kwargs,
            "seed": cfg.seed,
            "data_seed": cfg.data_seed,
            "epochs": cfg.epochs,
            "limit": cfg.limit,
            "best_epoch": best["epoch"],
            "val_error": best["val_error"],
            "test_error": test["error"],
            "test_loss": test["loss"],
            "n_test": test["n"],
            "params": self.n_params,
            "train_time_s": train_time,
            "world_size": world_size(),
            "recalibrate_bn": cfg.recalibrate_bn,
        }
        if is_main():
            plot_curves(read_metrics(self.out / "metrics.jsonl"), self.out / "curves.png")
            path = self.out / "summary.json"
            tmp = path.with_name("summary.json.tmp")
            tmp.write_text(json.dumps(summary, indent=2) + "\n")
            tmp.replace(path)
            print(
                f"{cfg.model} on {cfg.data} (seed {cfg.seed}, {self.n_params:,} parameters): "
                f"best validation error {best['val_error']:.2f}% at epoch {best['epoch']}; "
                f"test error of that checkpoint {test['error']:.2f}% "
                f"(n={test['n']}; selected on validation, never on test)",
                flush=True,
            )
        return summary


def train(
    config: TrainConfig, resume: bool = False, splits: Any = None, model: nn.Module | None = None
) -> dict[str, Any]:
    """Build a :class:`Trainer`, run :meth:`Trainer.fit` and leave the process group.

    Args:
        config: the run configuration.
        resume: continue from ``<out>/last.pt``.
        splits, model: optional pre-built data splits / model (see :class:`Trainer`).

    Returns:
        The run summary (see :meth:`Trainer.fit`).
    """
    try:
        return Trainer(config, splits=splits, model=model).fit(resume=resume)
    finally:
        cleanup()

"""Evaluating finished runs: test error of the validation-selected checkpoint, invariance of
the logits under grid rotations, the test error on the test images rotated by arbitrary angles,
and the markdown results table over runs."""

from __future__ import annotations

import json
import math
import numbers
import os
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..groups import SE2, SemidirectProduct, apply_group_element, planar_label, transform_image
from .checkpoint import load_checkpoint
from .config import TrainConfig
from .loop import count_parameters, resolve_device
from .metrics import evaluate_classifier

__all__ = [
    "check_angles",
    "evaluate_run",
    "invariance_error",
    "load_run_model",
    "results_table",
    "rotated_error",
]


@torch.no_grad()
def invariance_error(
    model: nn.Module, loader: Iterable, group: SemidirectProduct, device: torch.device | str
) -> dict[str, Any]:
    r"""Largest relative change of the logits under the stabiliser's grid transformations.

    .. math:: \max_{x,\ h \in H} \frac{\|\Phi(L_h x) - \Phi(x)\|_\infty}{\|\Phi(x)\|_\infty}

    per example, maximised over the loader (eval mode, the model's dtype), and the
    classification error on the transformed test images :math:`L_h x` for each :math:`h`
    (the "Using and abusing equivariance" test: an exactly invariant network has the same error
    for every grid rotation; docs/analysis.md).

    Args:
        model: images ``(B, C, S, S)`` -> logits ``(B, K)``.
        loader: ``(images, labels)`` batches.
        group: :math:`\mathbb{R}^2 \rtimes H` with finite :math:`H` (p4: 4 rotations, p4m: 8).
        device: where to compute.

    Returns:
        ``{"max_relative": float, "per_element": [max over data for each h],
        "per_element_error": [error in % on the images transformed by each h],
        "elements": [a label per h, e.g. "+90°"], "n": int}``, elements in ``H.grid()``
        order (the identity first).
    """
    model.eval()
    hs = group.stabiliser.grid()
    elements = [group.embed(h, dtype=torch.float64) for h in hs]
    worst = torch.zeros(len(elements), dtype=torch.float64)
    wrong = torch.zeros(len(elements), dtype=torch.int64)
    n = 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        ref = model(x)
        scale = ref.abs().amax(1).clamp_min(torch.finfo(ref.dtype).tiny)
        for i, g in enumerate(elements):
            out = model(apply_group_element(group, g, x, "exact"))
            diff = (out - ref).abs().amax(1)
            worst[i] = torch.maximum(worst[i], (diff / scale).max().double().cpu())
            wrong[i] += (out.argmax(1) != y).sum().cpu()
        n += x.shape[0]
    per = worst.tolist()
    return {
        "max_relative": max(per) if per else 0.0,
        "per_element": per,
        "per_element_error": [100.0 * w / max(n, 1) for w in wrong.tolist()],
        "elements": [planar_label(group.stabiliser.matrix(h)) for h in hs],
        "n": n,
    }


def check_angles(angles: Iterable[float]) -> list[float]:
    """Validate rotation angles in degrees: finite real numbers in ``[-360, 360]``.

    Args:
        angles: the angles (degrees).

    Returns:
        The angles as a list of floats, in the given order.

    Raises:
        TypeError: ``angles`` is not an iterable of real numbers (a bool is refused).
        ValueError: an angle is not finite or lies outside ``[-360, 360]``, or there is none.
    """
    if isinstance(angles, (str, bytes)) or not isinstance(angles, Iterable):
        raise TypeError(f"angles must be an iterable of numbers (degrees), got {angles!r}")
    out = []
    for a in angles:
        if isinstance(a, bool) or not isinstance(a, numbers.Real):
            raise TypeError(f"angle must be a real number of degrees, got {a!r}")
        if not math.isfinite(a) or abs(a) > 360:
            raise ValueError(
                f"angle must be a finite number of degrees in [-360, 360], got angle={a!r}"
            )
        out.append(float(a))
    if not out:
        raise ValueError("angles must hold at least one angle (degrees)")
    return out


@torch.no_grad()
def rotated_error(
    model: nn.Module, loader: Iterable, angles: Iterable[float], device: torch.device | str
) -> list[dict[str, Any]]:
    r"""Classification error on the test images rotated by each angle.

    Every image is rotated about the centre of its pixel grid by :math:`L_g`, :math:`g` the
    rotation of ``SE2()`` by the angle (counterclockwise as displayed): bilinear interpolation
    in float64 with zeros outside the image, a pure gather for multiples of 90°
    (:func:`gattn.groups.transform_image`, docs/continuous.md). Pixels rotated in from outside
    the image are zero; what lies outside the central disc may be rotated out of it (digits
    centred in their image, as in the MNIST variants, lose little or nothing).

    Args:
        model: images ``(B, C, S, S)`` -> logits ``(B, K)`` (evaluated in eval mode).
        loader: ``(images, labels)`` batches.
        angles: rotation angles in degrees (:func:`check_angles`).
        device: where to compute.

    Returns:
        One ``{"angle": degrees, "test_error": %, "test_loss": mean cross-entropy, "n": int}``
        per angle, in the given order.

    Raises:
        TypeError / ValueError: a bad angle (:func:`check_angles`), or images that are not
            ``(B, C, H, W)``.
    """
    degrees = check_angles(angles)
    group = SE2()
    elements = [torch.tensor([0.0, 0.0, math.radians(a)], dtype=torch.float64) for a in degrees]
    was_training = model.training
    model.eval()
    wrong = torch.zeros(len(degrees), dtype=torch.float64)
    loss = torch.zeros(len(degrees), dtype=torch.float64)
    n = 0
    for x, y in loader:
        if x.dim() != 4:
            raise ValueError(f"images must be (B, C, H, W), got shape {tuple(x.shape)}")
        x, y = x.to(device), y.to(device)
        for i, g in enumerate(elements):
            xr = transform_image(group, g, x.double()).to(x.dtype)
            logits = model(xr)
            loss[i] += torch.nn.functional.cross_entropy(logits, y, reduction="sum").double().cpu()
            wrong[i] += (logits.argmax(1) != y).sum().double().cpu()
        n += y.numel()
    model.train(was_training)
    m = max(n, 1)
    return [
        {"angle": a, "test_error": 100.0 * float(w) / m, "test_loss": float(lo) / m, "n": n}
        for a, w, lo in zip(degrees, wrong.tolist(), loss.tolist())
    ]


def _run_config(run: str | os.PathLike[str]) -> TrainConfig:
    path = Path(run) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{str(run)!r} is not a run folder (no config.json)")
    return TrainConfig.load(path)


def load_run_model(run: str | os.PathLike[str], device: str = "auto") -> tuple[nn.Module, dict]:
    """The model of run folder ``run`` with its best-validation weights, in eval mode.

    Args:
        run: a run folder written by :func:`gattn.train.train`.
        device: where to put the model (:func:`gattn.train.resolve_device`).

    Returns:
        ``(model, best)`` where ``best`` holds ``epoch``, ``val_error`` and ``config``.

    Raises:
        FileNotFoundError: ``run`` has no ``config.json`` / ``best.pt``.
        CheckpointError: ``best.pt`` is damaged or refused (it is loaded with
            ``weights_only=True``: nothing in it can run).
        ValueError: ``device`` is not available.
    """
    from ..models import get_model

    cfg = _run_config(run)
    run = Path(run)
    dev = resolve_device(device)
    best = load_checkpoint(
        run / "best.pt", map_location=dev, required=("model", "epoch", "val_error")
    )
    model = get_model(cfg.model, **cfg.build_model_kwargs()).to(dev)
    model.load_state_dict(best["model"])
    return model.eval(), best


def evaluate_run(
    run: str | os.PathLike[str],
    device: str = "auto",
    batch_size: int = 256,
    check_invariance: bool = True,
    angles: Iterable[float] | None = None,
) -> dict[str, Any]:
    """Test error, parameter count and logit invariance of a finished run, and optionally the
    test error on the test images rotated by arbitrary angles.

    Args:
        run: a run folder written by :func:`gattn.train.train`.
        device: where to evaluate.
        batch_size: evaluation batch size.
        check_invariance: also run :func:`invariance_error` over the test split (float32).
        angles: rotation angles in degrees for :func:`rotated_error` (``None``: none).

    Returns:
        ``model``, ``data``, ``seed``, ``params``, ``best_epoch``, ``val_error``,
        ``test_error`` (%), ``test_loss``, ``n_test``, if checked, ``invariance``
        (:func:`invariance_error`'s dictionary plus ``group`` and ``expected_invariant``) and,
        with ``angles``, ``rotated`` (:func:`rotated_error`'s list).

    Raises:
        FileNotFoundError: ``run`` is not a run folder or has no ``best.pt``.
        CheckpointError: ``best.pt`` is damaged or refused (see :func:`load_run_model`).
        TypeError / ValueError: a bad angle (checked before anything is loaded); ``device``
            is not available.
    """
    from ..models import model_info

    degrees = None if angles is None else check_angles(angles)
    cfg = _run_config(run)
    model, best = load_run_model(run, device)
    dev = next(model.parameters()).device
    splits = cfg.splits()
    loader = DataLoader(splits.test, batch_size=batch_size)
    test = evaluate_classifier(model, loader, dev)
    out: dict[str, Any] = {
        "run": str(run),
        "model": cfg.model,
        "data": cfg.data,
        "seed": cfg.seed,
        "params": count_parameters(model),
        "best_epoch": best["epoch"],
        "val_error": best["val_error"],
        "test_error": test["error"],
        "test_loss": test["loss"],
        "n_test": test["n"],
    }
    if check_invariance:
        info = model_info(cfg.model)
        group = info.check_group()
        inv = invariance_error(model, loader, group, dev)
        inv.update(group=group.name, expected_invariant=info.invariant)
        out["invariance"] = inv
    if degrees is not None:
        out["rotated"] = rotated_error(model, loader, degrees, dev)
    return out


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    m = sum(values) / len(values)
    if len(values) < 2:
        return m, float("nan")
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def _fmt(values: Sequence[float]) -> str:
    m, s = _mean_std(values)
    return f"{m:.2f}" if math.isnan(s) else f"{m:.2f} ± {s:.2f}"


def results_table(runs: Iterable[str | os.PathLike[str]], strict: bool = True) -> str:
    """Markdown table of finished runs, grouped by (dataset, model and its non-default
    options, ``recalibrate-bn`` if set): mean ± sample standard deviation over seeds of the
    validation error and of the validation-selected test error.

    Args:
        runs: run folders, each with a ``summary.json``.
        strict: raise on an unfinished run; otherwise skip it (a warning names it).

    Returns:
        The table (one header, one row per group).

    Warns:
        UserWarning: a folder is given twice (also through another path to it, e.g. a symbolic
            link; it is counted once), or one group holds several runs of the same seed.

    Raises:
        FileNotFoundError: a folder has no ``summary.json`` (unfinished run) and ``strict``,
            or no run at all is finished.
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    seen: dict[tuple[int, int], str] = {}
    for run in runs:
        path = Path(run) / "summary.json"
        if Path(run).is_dir():
            st = os.stat(run)  # the folder itself, whatever path leads to it
            key = (st.st_dev, st.st_ino)
            if key in seen:
                same = (
                    "is given twice"
                    if seen[key] == str(run)
                    else f"is the same folder as {seen[key]!r}"
                )
                warnings.warn(f"run {str(run)!r} {same}; counted once", stacklevel=2)
                continue
            seen[key] = str(run)
        if not path.is_file():
            msg = f"{str(run)!r} has no summary.json (run not finished?)"
            if strict:
                raise FileNotFoundError(msg)
            warnings.warn(msg + "; skipped", stacklevel=2)
            continue
        s = json.loads(path.read_text())
        kw = s.get("model_kwargs") or {}
        label = s["model"] + "".join(f" {k}={v}" for k, v in sorted(kw.items()))
        if s.get("recalibrate_bn"):  # different evaluation protocol: its own row
            label += " recalibrate-bn"
        groups[(s["data"], label)].append(s)
    if not groups:
        raise FileNotFoundError("no finished run (summary.json) among the given folders")
    lines = [
        "| data | model | params | epochs | seeds | val error (%) | test error (%) |",
        "|---|---|---:|---:|---|---:|---:|",
    ]
    for (data, model), rows in sorted(groups.items()):
        counts = Counter(r["seed"] for r in rows)
        repeated = sorted(seed for seed, c in counts.items() if c > 1)
        if repeated:
            warnings.warn(
                f"{data} / {model}: seed(s) {', '.join(map(str, repeated))} appear in more than "
                f"one run folder (copies of one run, or retrained with the same seed?); each "
                f"counts in the mean and std",
                stacklevel=2,
            )
        seeds = ",".join(str(r["seed"]) for r in sorted(rows, key=lambda r: r["seed"]))
        epochs = sorted({r["epochs"] for r in rows})
        lines.append(
            f"| {data} | {model} | {rows[0]['params']:,} | {'/'.join(map(str, epochs))} | "
            f"{seeds} | {_fmt([r['val_error'] for r in rows])} | "
            f"{_fmt([r['test_error'] for r in rows])} |"
        )
    return "\n".join(lines)

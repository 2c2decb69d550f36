"""Re-estimating batch-norm running statistics with dropout switched off.

A network with dropout *before* a batch-norm layer collects that layer's running statistics
on dropped-out activations during training, but at evaluation dropout is the identity, so the
layer normalises inputs whose variance differs from the one it recorded: the "variance shift"
of Li et al., *Understanding the Disharmony between Dropout and Batch Normalization by
Variance Shift* (CVPR 2019). :func:`recalibrate_batchnorm` recomputes the statistics with the
network exactly as it runs at evaluation, apart from batch norm itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["recalibrate_batchnorm"]


def _inputs(batch: Any) -> Any:
    """The model input of a loader item: ``x`` of ``(x, y, ...)``, or the item itself."""
    if isinstance(batch, (list, tuple)):
        if not batch:
            raise ValueError("recalibrate_batchnorm: the loader yielded an empty batch tuple")
        return batch[0]
    return batch


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module,
    loader: Iterable[Any],
    device: torch.device | str,
    max_batches: int | None = None,
) -> nn.Module:
    """Re-estimate every batch-norm layer's running statistics with dropout switched off.

    Dropout placed before batch norm makes the running mean and variance collected during
    training those of dropped-out activations, while at evaluation dropout is the identity: the
    statistics then no longer match what the layer sees (the dropout / batch-norm "variance
    shift", Li et al., CVPR 2019), which can cost a lot of accuracy in eval mode. This
    function resets the running statistics of every :class:`torch.nn.modules.batchnorm._BatchNorm`
    submodule (``BatchNorm1d/2d/3d``, ``SyncBatchNorm``, :class:`gattn.nn.GroupBatchNorm`,
    and batch norms wrapped inside other modules, which are submodules too) that tracks
    running statistics, sets its ``momentum`` to ``None`` (cumulative average), and runs the
    inputs of ``loader`` through ``model`` under :func:`torch.no_grad` with batch norm in
    training mode and every other module in eval mode, exactly as at evaluation: every
    dropout module (anything subclassing :class:`torch.nn.modules.dropout._DropoutNd`:
    ``Dropout``, ``Dropout1d/2d/3d``, ``AlphaDropout``, ``FeatureAlphaDropout``) and
    functional dropout that follows ``self.training`` are off. Afterwards each module's
    ``momentum`` and ``training`` flag are restored; the new statistics stay.

    With ``momentum=None`` torch averages the per-batch statistics with equal weights: the
    running mean is the mean of the batch means and the running variance the mean of the
    unbiased batch variances. With equal-size batches the running mean is therefore exactly
    the mean over all examples (a smaller last batch is weighted like a full one).

    Args:
        model: the network (parameters are not changed; no gradients are computed).
        loader: iterable of batches, each an input tensor or a tuple / list whose first
            element is the input (e.g. ``(x, y)`` of a ``DataLoader``). It is iterated once,
            so a non-shuffled loader gives a deterministic result.
        device: where the inputs are moved (the model's device).
        max_batches: use at most this many batches (all of them if ``None``).

    Returns:
        ``model``, with recalibrated running statistics.

    Raises:
        ValueError: ``model`` has no batch-norm layer that tracks running statistics,
            ``loader`` yields no batch (the old statistics are then put back), or
            ``max_batches`` is not a positive int or ``None``.
    """
    if max_batches is not None and (
        not isinstance(max_batches, int) or isinstance(max_batches, bool) or max_batches < 1
    ):
        raise ValueError(f"max_batches must be a positive int or None, got {max_batches!r}")
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    if not bns:
        raise ValueError(
            "recalibrate_batchnorm: the model has no batch-norm layer with running statistics "
            "(torch.nn.modules.batchnorm._BatchNorm with track_running_stats=True)"
        )
    flags = {m: m.training for m in model.modules()}
    momenta = {bn: bn.momentum for bn in bns}
    saved = {
        bn: (bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone())
        for bn in bns
    }
    n_batches = 0
    ok = False
    try:
        model.eval()  # dropout (and anything else mode-dependent) as at evaluation
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None
            bn.train()
        for batch in loader:
            x = _inputs(batch)
            model(x.to(device) if isinstance(x, torch.Tensor) else x)
            n_batches += 1
            if max_batches is not None and n_batches >= max_batches:
                break
        if n_batches == 0:
            raise ValueError("recalibrate_batchnorm: the loader yielded no batch")
        ok = True
    finally:
        for bn in bns:
            bn.momentum = momenta[bn]
            if not ok:  # put the old statistics back rather than leave them half-reset
                mean, var, count = saved[bn]
                bn.running_mean.copy_(mean)
                bn.running_var.copy_(var)
                bn.num_batches_tracked.copy_(count)
        for m, flag in flags.items():
            m.training = flag
    return model

"""A dry run of a model for inspection (hooks, traces): eval mode, no gradients, and every
module's training flag restored afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

__all__ = ["evaluating", "dry_run"]


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode for the ``with`` block, then restore each module's flag
    (batch-norm statistics are neither used from the batch nor updated)."""
    flags = {m: m.training for m in model.modules()}
    try:
        model.eval()
        yield model
    finally:
        for m, flag in flags.items():
            m.training = flag


def dry_run(model: nn.Module, x: Tensor) -> Tensor:
    """``model(x)`` in eval mode without autograd (see :func:`evaluating`)."""
    with evaluating(model), torch.no_grad():
        return model(x)

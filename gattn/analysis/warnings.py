r"""Warn when a model runs at an input size that makes it only approximately equivariant.

The check is the size rule :math:`(n + 2p - k') \bmod s = 0` of :mod:`gattn.analysis.algebra`,
evaluated on every spatial axis (1-D signals, images, volumes; the number of axes from the
model's group, see :func:`gattn.analysis.sizes.model_dims`) of the layer chain found by one dry
run (cached on the model). Filter or escalate the
warning with the standard :mod:`warnings` machinery, e.g.
``warnings.simplefilter("error", EquivarianceWarning)``.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from .algebra import LayerSpec
from .report import SizeExplanation, SizeReport
from .sizes import model_dims
from .tracing import trace_spatial_layers

__all__ = ["EquivarianceWarning", "warn_if_inexact", "install_size_check"]

_SPECS = "_gattn_size_specs"
_DIMS = "_gattn_size_dims"
_BUSY = "_gattn_size_check_busy"


_INTERNAL = tuple(
    os.path.dirname(os.path.abspath(m.__file__)) + os.sep
    for m in (torch, sys.modules[__name__.split(".")[0]])
    if getattr(m, "__file__", None)
)


def _user_stacklevel() -> int:
    """The ``stacklevel`` (for a ``warnings.warn`` in this function's caller) of the first
    frame outside torch and gattn: the user's model call or :func:`warn_if_inexact` call."""
    frame = sys._getframe(1)  # the caller, which calls warnings.warn: stacklevel 1
    level = 1
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(_INTERNAL):
            return level
        frame = frame.f_back
        level += 1
    return 1


class EquivarianceWarning(UserWarning):
    """The input size breaks exact equivariance at a subsampling layer (docs/analysis.md)."""


def _dims(module: nn.Module, rank: int) -> int:
    """The model's spatial dimensionality (cached); without a group or layer that says, an
    input of rank 5 is a volume and anything else an image batch."""
    d = getattr(module, _DIMS, None)
    if d is None:
        d = model_dims(module) or (3 if rank == 5 else 2)
        object.__setattr__(module, _DIMS, d)
    return d


def _specs(module: nn.Module, input_shape: Sequence[int], d: int) -> list[LayerSpec]:
    specs = getattr(module, _SPECS, None)
    if specs is None:
        shape = (1, *tuple(int(v) for v in input_shape)[1:])
        param = next(module.parameters(), None)
        x = torch.zeros(shape)
        if param is not None:
            x = x.to(device=param.device, dtype=param.dtype)
        object.__setattr__(module, _BUSY, True)
        try:
            specs = [c[0] for c in trace_spatial_layers(module, x, d)]
        finally:
            object.__setattr__(module, _BUSY, False)
        object.__setattr__(module, _SPECS, specs)
    return specs


def warn_if_inexact(
    module: nn.Module, input_shape: Sequence[int], strict: bool = False
) -> SizeExplanation | None:
    """Warn (or raise) if ``input_shape`` makes ``module`` only approximately equivariant.

    Args:
        module: the model.
        input_shape: the full input shape, ``(B, C, *spatial)`` or ``(B, C, |H|, *spatial)``
            (1 to 3 spatial axes, as many as the model's group acts on).
        strict: raise ``ValueError`` instead of warning.

    Returns:
        The :class:`~gattn.analysis.sizes.SizeExplanation` if the size is inexact, else ``None``.

    Raises:
        ValueError: ``strict`` and the size is inexact, or a malformed ``input_shape``.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    shape = tuple(input_shape)
    ok = all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)
    d = _dims(module, len(shape)) if ok and len(shape) >= 3 else 2
    if len(shape) not in (d + 2, d + 3) or not ok:
        raise ValueError(
            f"input_shape must be (B, C, *spatial) or (B, C, |H|, *spatial) of positive ints "
            f"with {d} spatial axes, got {input_shape!r}"
        )
    specs = _specs(module, shape, d)
    size = tuple(shape[-d:])
    report = SizeReport(specs, "execution", [], [], dims=d)
    if report.is_exact(size):
        return None
    why = report.explain(size[0] if len(set(size)) == 1 else size)
    b = why.breaking
    where = (
        f"layer {b.name!r} ({b.type}, kernel {b.kernel_size}, stride {b.stride}, padding "
        f"{b.padding}) receives {'x'.join(map(str, b.incoming))}: {b.reason}"
        if b is not None
        else "the input is too small"
    )
    msg = (
        f"{type(module).__name__} is only approximately equivariant at input size "
        f"{'x'.join(map(str, size))}: {where}. Nearest exact sizes: below {why.nearest_below}, "
        f"above {why.nearest_above}"
    )
    if strict:
        raise ValueError(msg)
    # attributed to the user's line (the model call or this call), not to torch or gattn
    warnings.warn(msg, EquivarianceWarning, stacklevel=_user_stacklevel())
    return why


def install_size_check(model: nn.Module, strict: bool = False) -> RemovableHandle:
    """Register a forward pre-hook on ``model`` that runs :func:`warn_if_inexact` once per
    spatial input size. Skipped while ``torch.compile`` traces (the check is plain Python).

    Args:
        model: the top-level model.
        strict: raise ``ValueError`` instead of warning.

    Returns:
        The hook handle (``handle.remove()`` uninstalls it).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    checked: set[tuple[int, ...]] = set()

    def hook(module: nn.Module, args: tuple) -> None:
        if torch.compiler.is_compiling() or getattr(module, _BUSY, False):
            return
        x = args[0] if args else None
        if not isinstance(x, torch.Tensor) or x.dim() < 3:
            return
        d = _dims(module, x.dim())
        if x.dim() not in (d + 2, d + 3):
            return
        key = tuple(int(v) for v in x.shape[-d:])
        if key in checked:
            return
        checked.add(key)
        warn_if_inexact(module, tuple(x.shape), strict=strict)

    return model.register_forward_pre_hook(hook)

r"""Recording layer outputs and turning differences into errors: the pieces that the
finite-group and the sampled-group measurements (:mod:`~gattn.analysis.measure`,
:mod:`~gattn.analysis.measure_sampled`) share (docs/analysis.md)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .error_report import OUTPUT

__all__ = ["element_label", "record_outputs", "fill_errors"]

_COORD = "xyz"


def element_label(m: Tensor, d: int) -> tuple[float, str]:
    """Rotation angle (degrees) and name of a linear part :math:`A` (``d x d``)."""
    if d == 2:
        deg = math.degrees(math.atan2(float(m[1, 0]), float(m[0, 0])))
        deg = round(deg, 6) % 360.0
        return deg, (f"mirror{deg:g}" if float(torch.det(m)) < 0 else f"rot{deg:g}")
    if d == 1:
        return 0.0, ("mirror" if float(m[0, 0]) < 0 else "id")
    r = m * torch.sign(torch.det(m))  # the rotation +-A
    cos = max(-1.0, min(1.0, (float(torch.trace(r)) - 1) / 2))
    deg = round(math.degrees(math.acos(cos)), 6)
    rounded = m.round()
    signed_perm = bool(((m - rounded).abs() < 1e-9).all()) and bool(
        (rounded.abs().sum(0) == 1).all() and (rounded.abs().sum(1) == 1).all()
    )
    if not signed_perm:
        return deg, "A=" + str([[round(float(v), 3) for v in row] for row in m])
    parts = []
    for row in rounded:
        j = int(row.abs().argmax())
        parts.append(("-" if float(row[j]) < 0 else "") + _COORD[j])
    return deg, "(" + ",".join(parts) + ")"


def record_outputs(model: nn.Module, names: set[str] | None, x: Tensor) -> dict[str, Tensor]:
    outputs: dict[str, Tensor] = {}
    handles = []
    batch = x.shape[0]

    def hook(name: str):
        def fn(module, args, out):
            # skip non-tensors, and calls on weights (e.g. a kernel transform) not activations
            if not isinstance(out, Tensor) or out.dim() < 1 or out.shape[0] != batch:
                return
            if args and isinstance(args[0], nn.Parameter):
                return
            key, i = name, 1
            while key in outputs:
                i += 1
                key = f"{name}#{i}"
            outputs[key] = out.detach()

        return fn

    for name, module in model.named_modules():
        if name == "":
            continue
        # a "layer": a leaf, or a windowed layer whose children only handle its weights
        layer = next(iter(module.children()), None) is None or hasattr(module, "kernel_size")
        if (names is None and layer) or (names is not None and name in names):
            handles.append(module.register_forward_hook(hook(name)))
    try:
        with torch.no_grad():
            y = model(x)
    finally:
        for h in handles:
            h.remove()
    if isinstance(y, Tensor) and (names is None or OUTPUT in names or "" in names):
        outputs[OUTPUT] = y.detach()
    return outputs


def _ratio(num: float, den: float) -> float:
    """``num / den``; a zero reference gives 0 when the difference is zero too, else ``inf``
    (not a huge finite number from dividing by the smallest float)."""
    if den > 0:
        return num / den
    return 0.0 if num == 0 else math.inf


def fill_errors(entry, diff: Tensor, ref: Tensor) -> None:
    """The absolute and relative errors of one (layer, element) entry."""
    entry.mean_abs = float(diff.abs().mean())
    entry.max_abs = float(diff.abs().max())
    entry.relative = _ratio(entry.max_abs, float(ref.abs().max()))
    entry.relative_mean = _ratio(entry.mean_abs, float(ref.abs().mean()))

r"""Human-readable names of plane transformations: ``"0°"``, ``"+90°"``, ``"mirror, +90°"``."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["planar_label"]


def planar_label(matrix: Tensor) -> str:
    r"""Name a 2×2 orthogonal matrix :math:`A` by its rotation angle, counterclockwise with y
    up (docs/maths.md, conventions). A reflection (:math:`\det A < 0`) is written
    :math:`A = R(\theta) M` with the mirror :math:`M: x \mapsto -x` applied first, and named
    ``"mirror, +θ°"`` (``"mirror"`` for θ = 0).

    Args:
        matrix: ``(2, 2)`` (a larger matrix's top-left 2×2 block is used).

    Returns:
        The label, e.g. ``"0°"``, ``"+90°"``, ``"mirror, +270°"``.

    Raises:
        ValueError: ``matrix`` is not at least 2×2.
    """
    if matrix.dim() != 2 or matrix.shape[0] < 2 or matrix.shape[1] < 2:
        raise ValueError(f"matrix must be a (2, 2) matrix, got shape {tuple(matrix.shape)}")
    a = matrix[:2, :2].to(torch.float64)
    mirrored = bool(torch.det(a) < 0)
    if mirrored:
        a = a @ torch.diag(torch.tensor([-1.0, 1.0], dtype=a.dtype))
    angle = round(float(torch.rad2deg(torch.atan2(a[1, 0], a[0, 0]))) % 360.0, 6)
    angle = 0.0 if angle == 360.0 else angle
    text = "0°" if angle == 0 else f"+{angle:g}°"
    if mirrored:
        return "mirror" if angle == 0 else f"mirror, {text}"
    return text

"""Input validation shared by the layers: clear errors for wrong shapes, dtypes and devices.

Every check reads only tensor metadata (shape, dtype, device): no ``.item()``, no device
synchronisation, and nothing that stops ``torch.compile(fullgraph=True)`` or ``torch.export``.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["check_image", "check_signal", "check_kernel_fits", "check_matches_parameters"]


def check_image(x: Tensor, channels: int, layer: str) -> None:
    """Raise ``ValueError`` unless ``x`` is ``(B, channels, Y, X)``."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer}: x must be a torch.Tensor, got {type(x)!r}")
    if x.dim() != 4:
        raise ValueError(
            f"{layer}: x must be an image batch (B, C, Y, X), got shape {tuple(x.shape)}"
        )
    if x.shape[1] != channels:
        raise ValueError(
            f"{layer}: x has {x.shape[1]} channels (shape {tuple(x.shape)}), expected {channels}"
        )


def check_signal(x: Tensor, channels: int, order: int, layer: str) -> None:
    """Raise ``ValueError`` unless ``x`` is ``(B, channels, order, Y, X)``."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer}: x must be a torch.Tensor, got {type(x)!r}")
    if x.dim() != 5:
        raise ValueError(
            f"{layer}: x must be a group signal (B, C, |H|, Y, X), got shape {tuple(x.shape)}"
        )
    if x.shape[1] != channels:
        raise ValueError(
            f"{layer}: x has {x.shape[1]} channels (shape {tuple(x.shape)}), expected {channels}"
        )
    if x.shape[2] != order:
        raise ValueError(
            f"{layer}: x has group axis length {x.shape[2]} (shape {tuple(x.shape)}), "
            f"expected |H| = {order}"
        )


def check_kernel_fits(x: Tensor, kernel_size: int, padding: int, layer: str) -> None:
    """Raise ``ValueError`` if the kernel is larger than the padded input."""
    y, w = x.shape[-2:]
    if min(y, w) + 2 * padding < kernel_size:
        raise ValueError(
            f"{layer}: kernel_size {kernel_size} is larger than the input {y}x{w} "
            f"(padding {padding}); use a smaller kernel or a larger input"
        )


def check_matches_parameters(x: Tensor, reference: Tensor | None, layer: str) -> None:
    """Raise ``TypeError`` unless ``x`` has the dtype and device of the layer's parameters.

    Without this, torch reports a mismatch from deep inside a kernel ("expected scalar type
    Double but found Float"). The check is skipped under ``torch.autocast`` for ``x``'s device
    type, where inputs legitimately differ in dtype from the parameters, and when the layer has
    no parameter (``reference is None``).

    Args:
        x: the layer's input.
        reference: one of the layer's parameters (e.g. its weight), or ``None``.
        layer: the layer's name, for the message.

    Raises:
        TypeError: ``x`` is not a tensor, or its dtype or device differs from ``reference``'s.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer}: x must be a torch.Tensor, got {type(x)!r}")
    if reference is None:
        return
    if x.device != reference.device:
        raise TypeError(
            f"{layer}: input device {x.device} does not match the layer's parameters "
            f"({reference.device}): move one of them, with layer.to({str(x.device)!r}) or "
            f"x.to({str(reference.device)!r})"
        )
    if x.dtype != reference.dtype and not torch.is_autocast_enabled(x.device.type):
        raise TypeError(
            f"{layer}: input dtype {x.dtype} does not match the layer's parameters "
            f"({reference.dtype}): convert one of them, with layer.to({x.dtype}) or "
            f"x.to({reference.dtype})"
        )

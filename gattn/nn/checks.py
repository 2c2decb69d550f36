"""Input validation shared by the layers: clear errors for wrong shapes."""

from __future__ import annotations

from torch import Tensor

__all__ = ["check_image", "check_signal", "check_kernel_fits"]


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

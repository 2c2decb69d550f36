"""Input validation shared by the layers: clear errors for wrong shapes, dtypes and devices.

Every layer declares the layouts it takes and gives (``in_layout`` / ``out_layout``, see
:mod:`gattn.groups.layouts` and docs/layers.md) and checks its input against ``in_layout``
with :func:`check_input`; :func:`check_image` and :func:`check_signal` are the checks of the
two common layouts, with messages that name the layer.

Every check reads only tensor metadata (shape, dtype, device): no ``.item()``, no device
synchronisation, and nothing that stops ``torch.compile(fullgraph=True)`` or ``torch.export``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..groups import (
    Group,
    GroupSignal,
    Image,
    Layout,
    stabiliser_of,
    transform_image,
    transform_signal,
)

__all__ = [
    "check_image",
    "check_signal",
    "check_kernel_fits",
    "check_matches_parameters",
    "check_input",
    "ImageOrSignal",
    "spatial_names",
]

_BATCH = {1: "a 1-D signal batch", 2: "an image batch", 3: "a volume batch"}


def spatial_names(dims: int) -> str:
    """``"X"``, ``"Y, X"`` or ``"Z, Y, X"``: the spatial axes of a ``dims``-dimensional signal."""
    return {1: "X", 2: "Y, X", 3: "Z, Y, X"}[dims]


def _require_tensor(x: object, layer: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer}: x must be a torch.Tensor, got {type(x)!r}")


def _check_channels(x: Tensor, channels: int | None, layer: str) -> None:
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"{layer}: x has {x.shape[1]} channels (shape {tuple(x.shape)}), expected {channels}"
        )


def check_image(x: Tensor, channels: int | None, layer: str, dims: int = 2) -> None:
    """Raise unless ``x`` is a spatial signal ``(B, channels, *spatial)`` with ``dims`` axes.

    Args:
        x: the input.
        channels: the expected ``C`` (``None``: any).
        layer: the layer's name, for the message.
        dims: spatial dimensions (1: ``(B, C, X)``, 2: ``(B, C, Y, X)``, 3: ``(B, C, Z, Y, X)``).

    Raises:
        TypeError: ``x`` is not a tensor. ValueError: wrong rank or channel count.
    """
    _require_tensor(x, layer)
    if x.dim() != dims + 2:
        raise ValueError(
            f"{layer}: x must be {_BATCH[dims]} (B, C, {spatial_names(dims)}), "
            f"got shape {tuple(x.shape)}"
        )
    _check_channels(x, channels, layer)


def check_signal(x: Tensor, channels: int | None, order: int, layer: str, dims: int = 2) -> None:
    """Raise unless ``x`` is a group signal ``(B, channels, order, *spatial)``, ``dims`` axes.

    Args:
        x: the input.
        channels: the expected ``C`` (``None``: any).
        order: :math:`|H|`.
        layer: the layer's name, for the message.
        dims: spatial dimensions d.

    Raises:
        TypeError: ``x`` is not a tensor. ValueError: wrong rank, channels or group axis.
    """
    _require_tensor(x, layer)
    if x.dim() != dims + 3:
        raise ValueError(
            f"{layer}: x must be a group signal (B, C, |H|, {spatial_names(dims)}), "
            f"got shape {tuple(x.shape)}"
        )
    _check_channels(x, channels, layer)
    if x.shape[2] != order:
        raise ValueError(
            f"{layer}: x has group axis length {x.shape[2]} (shape {tuple(x.shape)}), "
            f"expected |H| = {order}"
        )


@dataclass(frozen=True, eq=False)
class ImageOrSignal(Layout):
    """Either layout, for layers that act on the spatial axes alone (pooling, batch norm): an
    image ``(B, C, *spatial)`` (rank ``dims + 2``) or a group signal ``(B, C, |H|, *spatial)``
    (rank ``dims + 3``); the output has the input's layout. With ``dims`` fixed the rank tells
    them apart; with ``dims=None`` (a layer whose result is the same for every reading, such as
    batch norm) any ``d`` is accepted and the acting group's ``d`` tells them apart.

    Args:
        dims: spatial dimensions d, or ``None`` (any).
        stabiliser: :math:`H`, to check the group axis length (``None``: any).
        channels: ``C`` (``None``: any).
        images, signals: which of the two are accepted.
        samples: the :math:`H` samples of the group axis (``None``: all of a finite
            :math:`H`), as in :class:`~gattn.groups.GroupSignal`.
    """

    dims: int | None = 2
    stabiliser: Group | None = None
    channels: int | None = None
    images: bool = True
    signals: bool = True
    samples: object = None

    def __post_init__(self) -> None:
        if self.dims is not None and (self.dims not in (1, 2, 3) or isinstance(self.dims, bool)):
            raise ValueError(f"dims must be 1, 2 or 3 (spatial dimensions), got dims={self.dims!r}")
        if not (self.images or self.signals):
            raise ValueError("ImageOrSignal must accept images, group signals or both")
        if self.stabiliser is not None:
            self._group_signal()  # a finite group or samples, with a clear message otherwise

    def _group_signal(self) -> GroupSignal:
        return GroupSignal(self.stabiliser, self.dims or 2, samples=self.samples)

    def _ranks(self) -> tuple[int, ...]:
        dims = (1, 2, 3) if self.dims is None else (self.dims,)
        out = {d + 2 for d in dims if self.images} | {d + 3 for d in dims if self.signals}
        return tuple(sorted(out))

    def _what(self) -> str:
        if self.dims is None:
            return "an image (B, C, *spatial) or a group signal (B, C, |H|, *spatial), d = 1..3"
        axes = spatial_names(self.dims)
        kinds = []
        if self.images:
            kinds.append(f"{_BATCH[self.dims]} (B, C, {axes})")
        if self.signals:
            h = "|H|" if self.stabiliser is None else f"|H|={self._group_signal().order}"
            kinds.append(f"a group signal (B, C, {h}, {axes})")
        return " or ".join(kinds)

    def check(self, x: Tensor, name: str = "x") -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor ({self._what()}), got {type(x)!r}")
        rank = x.dim()
        if rank not in self._ranks():
            hint = (
                ""
                if self.dims is None
                else f" (a layer built without group= assumes dims={self.dims}; pass group= or "
                f"dims=)"
            )
            raise ValueError(f"{name} must be {self._what()}, got shape {tuple(x.shape)}{hint}")
        if self.channels is not None and x.shape[1] != self.channels:
            raise ValueError(
                f"{name} has {x.shape[1]} channels (shape {tuple(x.shape)}), "
                f"expected {self.channels}"
            )
        if self.stabiliser is not None and self.dims is not None and rank == self.dims + 3:
            order = self._group_signal().order
            if x.shape[2] != order:
                raise ValueError(
                    f"{name} has group axis length {x.shape[2]} (shape {tuple(x.shape)}), "
                    f"expected |H| = {order}"
                )

    def act(self, group: Group, g: Tensor, x: Tensor, mode: str = "auto") -> Tensor:
        self.check(x)
        d = self.dims if self.dims is not None else stabiliser_of(group).action_dim
        if x.dim() == d + 3:
            if self.samples is not None:
                return GroupSignal(self.stabiliser, d, samples=self.samples).act(group, g, x, mode)
            return transform_signal(group, g, x, mode)
        return transform_image(group, g, x, mode)

    def __str__(self) -> str:
        return self._what()


def check_input(layout: Layout, x: Tensor, layer: str) -> None:
    """Check a layer's input against its declared ``in_layout``.

    Images and group signals get the messages of :func:`check_image` / :func:`check_signal`
    (naming the layer); other layouts their own ``check``.

    Raises:
        TypeError: ``x`` is not a tensor. ValueError: ``x`` does not have the layout.
    """
    if isinstance(layout, GroupSignal):
        check_signal(x, layout.channels, layout.order, layer, layout.dims)
    elif isinstance(layout, Image):
        check_image(x, layout.channels, layer, layout.dims)
    else:
        _require_tensor(x, layer)
        layout.check(x, f"{layer}: x")


def check_kernel_fits(
    x: Tensor,
    kernel_size: int | tuple[int, ...],
    padding: int | tuple[int, ...],
    layer: str,
    dims: int = 2,
) -> None:
    """Raise ``ValueError`` if the (effective) kernel is larger than the padded input.

    Args:
        x: the input; its last ``dims`` axes are space.
        kernel_size, padding: one int for every axis or ``dims`` ints in axis order.
        layer: the layer's name, for the message.
        dims: spatial dimensions d.
    """
    sizes = tuple(x.shape[-dims:])
    ks = (kernel_size,) * dims if isinstance(kernel_size, int) else tuple(kernel_size)
    ps = (padding,) * dims if isinstance(padding, int) else tuple(padding)
    if any(s + 2 * p < k for s, k, p in zip(sizes, ks, ps)):
        shown_k = kernel_size if isinstance(kernel_size, int) else "x".join(map(str, ks))
        raise ValueError(
            f"{layer}: kernel_size {shown_k} is larger than the input "
            f"{'x'.join(map(str, sizes))} (padding {padding}); use a smaller kernel or a larger "
            f"input"
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

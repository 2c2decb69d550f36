r"""Lifting and group convolutions on :math:`G = \mathbb{R}^2 \rtimes H`, :math:`H` finite.

Group correlation (docs/maths.md), with :math:`g = (x, h)`:

.. math::

    [f \star_G \psi](x, h) = \sum_{\tilde c} \sum_{\tilde h} \int_{\mathbb{R}^2}
        f_{\tilde c}(y, \tilde h)\, \psi_{\tilde c}\big(A(h)^{-1}(y - x),\, h^{-1}\tilde h\big)
        \, \frac{dy}{|\det A(\tilde h)|}

and the lifting correlation is the same with :math:`f` on :math:`\mathbb{R}^2` and no sum over
:math:`\tilde h`. Both are computed as one ``conv2d`` with the filter bank
:math:`\{L_h\psi\}_h` built once per forward by :class:`~gattn.nn.kernels.KernelTransform`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..groups import SemidirectProduct
from .checks import check_image, check_kernel_fits, check_matches_parameters, check_signal
from .kernels import KernelTransform

__all__ = ["LiftingConv", "GroupConv", "stabiliser_of"]


def stabiliser_of(group: SemidirectProduct):
    """The stabiliser :math:`H` of an affine group acting on the plane, validated."""
    if not isinstance(group, SemidirectProduct):
        raise TypeError(
            f"group must be an affine group R^2 x| H (e.g. gattn.groups.p4()), got {group!r}"
        )
    if group.translation_dim != 2:
        raise ValueError(
            f"group must act on the plane (R^2), {group.name} acts on R^{group.translation_dim}"
        )
    if not group.stabiliser.is_finite:
        raise ValueError(
            f"group {group.name} has the infinite stabiliser {group.stabiliser.name}; layers need "
            f"a finite one — discretise it, e.g. SE2(n=8)"
        )
    return group.stabiliser


def _check_int(name: str, value: int, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


class _GroupConvBase(nn.Module):
    def __init__(
        self,
        group: SemidirectProduct,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        padding: int,
        bias: bool,
        group_input: bool,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        stab = stabiliser_of(group)
        self.group = group
        self.in_channels = _check_int("in_channels", in_channels, 1)
        self.out_channels = _check_int("out_channels", out_channels, 1)
        self.kernel_size = _check_int("kernel_size", kernel_size, 1)
        self.stride = _check_int("stride", stride, 1)
        self.padding = _check_int("padding", padding, 0)
        self.dilation = _check_int("dilation", dilation, 1)
        self.order = stab.order
        weights = group.stabiliser_weights(stab.grid()) if group_input else None
        self.transform = KernelTransform(stab, kernel_size, group_input, weights)
        shape = (
            (out_channels, in_channels)
            + ((self.order,) if group_input else ())
            + (
                kernel_size,
                kernel_size,
            )
        )
        self.weight = nn.Parameter(torch.empty(shape))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        fan_in = in_channels * (self.order if group_input else 1) * kernel_size**2
        nn.init.normal_(self.weight, std=math.sqrt(2.0 / fan_in))

    def filter_bank(self) -> Tensor:
        """The expanded filters ``(C_out |H|, C_in [|H|], k, k)`` for one ``conv2d``."""
        return self.transform(self.weight)

    def _conv(self, x: Tensor) -> Tensor:
        bank = self.filter_bank()
        bias = None if self.bias is None else self.bias.repeat_interleave(self.order)
        y = F.conv2d(
            x, bank, bias, stride=self.stride, padding=self.padding, dilation=self.dilation
        )
        return y.reshape(y.shape[0], self.out_channels, self.order, *y.shape[-2:])

    def extra_repr(self) -> str:
        return (
            f"{self.group.name}, {self.in_channels}, {self.out_channels}, "
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, "
            f"exact_transform={self.transform.exact}"
        )


class LiftingConv(_GroupConvBase):
    r"""Lifting correlation :math:`\mathbb{R}^2 \to G`.

    .. math:: [f \star \psi](x, h) = \sum_{\tilde c}\int f_{\tilde c}(y)\,
              \psi_{\tilde c}(A(h)^{-1}(y - x))\,dy

    Args:
        group: :math:`G = \mathbb{R}^2 \rtimes H` with finite :math:`H` (``p4()``, ``E2(8)``...).
        in_channels, out_channels: channel counts.
        kernel_size: spatial filter size ``k``.
        stride, padding, dilation: as in ``conv2d`` (see :mod:`gattn.analysis` for which
            input sizes keep exact equivariance when ``stride > 1``).
        bias: a learned bias per output channel, shared over :math:`H`.

    Shapes:
        ``x: (B, C_in, Y, X) -> (B, C_out, |H|, Y', X')``.
    """

    def __init__(
        self,
        group: SemidirectProduct,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
    ) -> None:
        super().__init__(
            group, in_channels, out_channels, kernel_size, stride, padding, bias, False
        )

    def forward(self, x: Tensor) -> Tensor:
        check_image(x, self.in_channels, type(self).__name__)
        check_matches_parameters(x, self.weight, type(self).__name__)
        check_kernel_fits(
            x, self.dilation * (self.kernel_size - 1) + 1, self.padding, type(self).__name__
        )
        return self._conv(x)


class GroupConv(_GroupConvBase):
    r"""Group correlation :math:`G \to G` (filters :math:`\psi: G \to \mathbb{R}`).

    .. math:: [f \star_G \psi](x, h) = \sum_{\tilde c,\tilde h}\int f_{\tilde c}(y, \tilde h)\,
              \psi_{\tilde c}(A(h)^{-1}(y - x), h^{-1}\tilde h)\,\frac{dy}{|\det A(\tilde h)|}

    The permutation :math:`\tilde h \mapsto h^{-1}\tilde h` is read off the stabiliser's
    product table. Shapes: ``x: (B, C_in, |H|, Y, X) -> (B, C_out, |H|, Y', X')``.
    Arguments as :class:`LiftingConv`.
    """

    def __init__(
        self,
        group: SemidirectProduct,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        dilation: int = 1,
    ) -> None:
        super().__init__(
            group, in_channels, out_channels, kernel_size, stride, padding, bias, True, dilation
        )

    def forward(self, x: Tensor) -> Tensor:
        check_signal(x, self.in_channels, self.order, type(self).__name__)
        check_matches_parameters(x, self.weight, type(self).__name__)
        check_kernel_fits(
            x, self.dilation * (self.kernel_size - 1) + 1, self.padding, type(self).__name__
        )
        return self._conv(x.flatten(1, 2))

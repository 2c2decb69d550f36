r"""Lifting and group convolutions on :math:`G = \mathbb{R}^d \rtimes H`, :math:`H` finite or
continuous, :math:`d \in \{1, 2, 3\}` (1-D signals, images, volumes; docs/layers.md,
docs/continuous.md).

Group correlation (docs/maths.md), with :math:`g = (x, h)`:

.. math::

    [f \star_G \psi](x, h) = \sum_{\tilde c} \sum_{\tilde h} \int_{\mathbb{R}^d}
        f_{\tilde c}(y, \tilde h)\, \psi_{\tilde c}\big(A(h)^{-1}(y - x),\, h^{-1}\tilde h\big)
        \, \frac{dy}{|\det A(\tilde h)|}

and the lifting correlation is the same with :math:`f` on :math:`\mathbb{R}^d` and no sum over
:math:`\tilde h`. Both are computed as one ``conv1d`` / ``conv2d`` / ``conv3d`` (picked by
:math:`d`, read off the group) with the filter bank :math:`\{L_h\psi\}_h` built once per forward
by :class:`~gattn.nn.kernels.KernelTransform` (pixel kernels, finite :math:`H`) or
:class:`~gattn.nn.fields.FieldBank` (neural-field kernels on the :math:`H` samples, any
:math:`H`; the integral over :math:`\tilde h` is then the Haar quadrature). Any
:class:`~gattn.groups.MatrixGroup` works as :math:`H`: everything the layers need is derived from
the group interface.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import groups
from ..groups import GroupSignal, Image, MatrixGroup, fibre_weights
from ..groups.validation import check_choice, check_int
from .checks import check_input, check_kernel_fits, check_matches_parameters
from .fields import FieldBank, FieldConfig
from .kernels import KernelTransform
from .samples import HSamples, as_samples

__all__ = ["LiftingConv", "GroupConv", "KERNEL_KINDS"]

#: ``"pixel"``: ``k^d`` learned values per filter, transformed by gather / interpolation (finite
#: :math:`H`); ``"field"``: a neural field of the relative element (any :math:`H`); ``"auto"``:
#: pixel for a finite :math:`H` without ``samples``, field otherwise.
KERNEL_KINDS = ("auto", "pixel", "field")

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}

IntOrTuple = int | Sequence[int]


def _per_axis(name: str, value: IntOrTuple, minimum: int, dims: int) -> int | tuple[int, ...]:
    """An int (every axis) or ``dims`` ints, each checked with :func:`check_int`."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != dims:
            raise ValueError(
                f"{name} must be an integer or {dims} integers (one per spatial axis), "
                f"got {name}={value!r}"
            )
        return tuple(check_int(f"{name}[{i}]", v, minimum) for i, v in enumerate(value))
    return check_int(name, value, minimum)


class _GroupConvBase(nn.Module):
    #: filters on G (group convolution) rather than on R^d (lifting)
    group_input: bool = False

    def __init__(
        self,
        group: MatrixGroup,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: IntOrTuple = 1,
        padding: IntOrTuple = 0,
        bias: bool = True,
        dilation: IntOrTuple = 1,
        samples: HSamples | int | Tensor | None = None,
        kernel: str = "auto",
        field: FieldConfig | None = None,
    ) -> None:
        super().__init__()
        group_input = self.group_input
        check_choice("kernel", kernel, KERNEL_KINDS)
        stab = groups.stabiliser_of(group, dims=(1, 2, 3))
        if kernel == "auto":
            kernel = "pixel" if stab.is_finite and samples is None else "field"
        if kernel == "pixel":
            groups.stabiliser_of(group, finite=True)  # a clear error for a continuous H
            if samples is not None:
                raise ValueError(
                    "samples= needs kernel='field': pixel kernels live on all of a finite H"
                )
        elif field is not None and not isinstance(field, FieldConfig):
            raise TypeError(f"field must be a gattn.nn.FieldConfig, got {type(field).__name__}")
        d = stab.action_dim
        self.group = group
        self.stabiliser = stab
        self.dims = d
        self.in_channels = check_int("in_channels", in_channels, 1)
        self.out_channels = check_int("out_channels", out_channels, 1)
        self.kernel_size = check_int("kernel_size", kernel_size, 1)
        self.stride = _per_axis("stride", stride, 1, d)
        self.padding = _per_axis("padding", padding, 0, d)
        self.dilation = _per_axis("dilation", dilation, 1, d)
        self.kernel = kernel
        self._conv_fn = _CONV[d]
        dil = (self.dilation,) * d if isinstance(self.dilation, int) else self.dilation
        self._extent = tuple(di * (kernel_size - 1) + 1 for di in dil)
        if kernel == "pixel":
            weights = fibre_weights(group) if group_input else None
            self.transform = KernelTransform(stab, kernel_size, group_input, weights)
            self.order = self.transform.order
            self.samples = None
            group_axis = (self.order,) if group_input else ()
            shape = (out_channels, in_channels) + group_axis + (kernel_size,) * d
            self.weight = nn.Parameter(torch.empty(shape))
            fan_in = in_channels * (self.order if group_input else 1) * kernel_size**d
            nn.init.normal_(self.weight, std=math.sqrt(2.0 / fan_in))
        else:
            self.samples = as_samples(group, samples)
            self.transform = FieldBank(
                stab, self.samples, in_channels, out_channels, kernel_size, group_input, field
            )
            self.order = self.samples.order
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.out_layout = GroupSignal(stab, d, out_channels, samples=self.samples)
        self.in_layout = (
            GroupSignal(stab, d, in_channels, samples=self.samples)
            if group_input
            else Image(d, in_channels)
        )

    def filter_bank(self) -> Tensor:
        """The expanded filters ``(C_out N, C_in [N], *k^d)`` for one ``conv{d}d`` (``N = |H|``
        or the number of :math:`H` samples)."""
        if self.kernel == "pixel":
            return self.transform(self.weight)
        return self.transform()

    def _check(self, x: Tensor) -> None:
        name = type(self).__name__
        check_input(self.in_layout, x, name)
        reference = self.weight if self.kernel == "pixel" else self.transform.field.out.weight
        check_matches_parameters(x, reference, name)
        extent = self._extent[0] if len(set(self._extent)) == 1 else self._extent
        check_kernel_fits(x, extent, self.padding, name, self.dims)

    def _conv(self, x: Tensor) -> Tensor:
        bank = self.filter_bank()
        bias = None if self.bias is None else self.bias.repeat_interleave(self.order)
        y = self._conv_fn(
            x, bank, bias, stride=self.stride, padding=self.padding, dilation=self.dilation
        )
        return y.reshape(y.shape[0], self.out_channels, self.order, *y.shape[2:])

    def extra_repr(self) -> str:
        return (
            f"{self.group.name}, {self.in_channels}, {self.out_channels}, "
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, "
            f"kernel={self.kernel!r}, exact_transform={self.transform.exact}"
        )


class LiftingConv(_GroupConvBase):
    r"""Lifting correlation :math:`\mathbb{R}^d \to G`.

    .. math:: [f \star \psi](x, h) = \sum_{\tilde c}\int f_{\tilde c}(y)\,
              \psi_{\tilde c}(A(h)^{-1}(y - x))\,dy

    Args:
        group: :math:`G = \mathbb{R}^d \rtimes H` with :math:`H` acting on
            :math:`\mathbb{R}^d`, :math:`d \in \{1, 2, 3\}` (``p1m()``, ``p4()``, ``E2(8)``,
            ``cube()``, ``SE2()``, ``Sim2()``, ``SE3()``...), or a matrix group :math:`H` alone.
        in_channels, out_channels: channel counts.
        kernel_size: spatial filter size ``k`` (``k^d`` filters).
        stride, padding: as in ``conv{d}d``: an int (every axis) or ``d`` ints (see
            :mod:`gattn.analysis` for which input sizes keep exact equivariance when
            ``stride > 1``).
        bias: a learned bias per output channel, shared over :math:`H`.
        dilation: as in ``conv{d}d``.
        samples: the :math:`H` samples of the output group axis (and of the input's, for
            :class:`GroupConv`): a shared :class:`~gattn.nn.HSamples`, a number of samples or a
            tensor of elements; required for a continuous :math:`H`, ``None`` for all of a
            finite one.
        kernel: ``"auto"``, ``"pixel"`` or ``"field"`` (:data:`KERNEL_KINDS`).
        field: the :class:`~gattn.nn.FieldConfig` of field kernels.

    Attributes:
        in_layout: ``Image(d, in_channels)``. out_layout: ``GroupSignal(H, d, out_channels,
        samples=...)``.

    Shapes:
        ``x: (B, C_in, *spatial) -> (B, C_out, |H|, *spatial')``.

    Raises:
        TypeError / ValueError: a group that is not affine on :math:`\mathbb{R}^{1,2,3}`, a
            continuous :math:`H` without samples, pixel kernels with samples, samples that are
            not elements, an argument that is not a valid integer; in ``forward``, an input of
            the wrong layout, dtype or device.
    """

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return self._conv(x)


class GroupConv(_GroupConvBase):
    r"""Group correlation :math:`G \to G` (filters :math:`\psi: G \to \mathbb{R}`).

    .. math:: [f \star_G \psi](x, h) = \sum_{\tilde c,\tilde h}\int f_{\tilde c}(y, \tilde h)\,
              \psi_{\tilde c}(A(h)^{-1}(y - x), h^{-1}\tilde h)\,\frac{dy}{|\det A(\tilde h)|}

    For pixel kernels the permutation :math:`\tilde h \mapsto h^{-1}\tilde h` is read off the
    stabiliser's relative table (:func:`~gattn.groups.finite_tables`); field kernels evaluate
    :math:`h_i^{-1}\tilde h_j` on the samples. Shapes:
    ``x: (B, C_in, |H|, *spatial) -> (B, C_out, |H|, *spatial')``; layouts
    ``GroupSignal(H, d, C_in) -> GroupSignal(H, d, C_out)``. Arguments as
    :class:`LiftingConv`.
    """

    group_input = True

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return self._conv(x.flatten(1, 2))

r"""Layer factory shared by the model builders: plain or attentive lifting / group convolutions
on one affine group :math:`G = \mathbb{R}^2 \rtimes H`, chosen by an ``attention`` mode.

Models never look at the group's type: a Z2 network is the same network on ``Rn(2)``
(:math:`|H| = 1`), a p4m network the same on ``p4m()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..attention import ATTENTION_MODES, AttentiveGroupConv, AttentiveLiftingConv
from ..groups import SemidirectProduct
from ..groups.validation import check_int
from ..nn import FieldConfig, GroupConv, HSamples, LiftingConv

__all__ = ["ATTENTION_MODES", "ConvFactory"]


@dataclass(frozen=True)
class ConvFactory:
    r"""Builds the convolutions of one network.

    Args:
        group: the affine group :math:`\mathbb{R}^2 \rtimes H` (finite :math:`H`).
        attention: one of :data:`ATTENTION_MODES`; ``None`` gives :class:`~gattn.nn.LiftingConv`
            / :class:`~gattn.nn.GroupConv`, anything else the attentive layers of
            :mod:`gattn.attention` with that mode.
        reduction: channel-attention ratio :math:`r` (2 on rot-MNIST, 16 on CIFAR).
        attention_kernel_size: size of the spatial-attention kernel :math:`\psi_X`.
        residual: the paper's residual attention :math:`(1 - \alpha^-)\tilde f` (default, as
            in the official attentive layers); ``False`` for the plain form
            :math:`\alpha\tilde f` (docs/attention.md).
        lifting_attention_dilation: dilation of the lifting layer's spatial-attention kernel
            (``"input"`` mode only; the official rot-MNIST αF-P4CNN uses 4).
        kernel: ``"auto"``, ``"pixel"`` or ``"field"`` (:data:`gattn.nn.KERNEL_KINDS`).
        samples: the network's shared :class:`~gattn.nn.HSamples` (``None``: all of a finite
            :math:`H`; needed for a continuous one).
        field: options of the field kernels.

    Raises:
        ValueError: unknown ``attention``; bad ``lifting_attention_dilation``.
        TypeError: ``residual`` not a bool.
    """

    group: SemidirectProduct
    attention: str | None = None
    reduction: int = 2
    attention_kernel_size: int = 7
    residual: bool = True
    lifting_attention_dilation: int = 1
    kernel: str = "auto"
    samples: HSamples | None = None
    field: FieldConfig | None = None

    def __post_init__(self) -> None:
        if self.attention not in ATTENTION_MODES:
            raise ValueError(f"attention must be one of {ATTENTION_MODES}, got {self.attention!r}")
        if not isinstance(self.residual, bool):
            raise TypeError(f"residual must be a bool, got {self.residual!r}")
        d = check_int("lifting_attention_dilation", self.lifting_attention_dilation)
        if d != 1 and self.attention != "input":
            raise ValueError(
                f"lifting_attention_dilation={d} needs attention='input' (input-level spatial "
                f"attention), got attention={self.attention!r}"
            )

    @property
    def order(self) -> int:
        """The length of the group axis: :math:`|H|` or the number of samples."""
        return self.samples.order if self.samples is not None else self.group.stabiliser.order

    def _kernel_kw(self) -> dict:
        return {"samples": self.samples, "kernel": self.kernel, "field": self.field}

    def _kw(self) -> dict:
        return {
            "attention": self.attention,
            "reduction": self.reduction,
            "attention_kernel_size": self.attention_kernel_size,
            "residual": self.residual,
        }

    def lifting(
        self, cin: int, cout: int, kernel_size: int, padding: int = 0, bias: bool = False
    ) -> nn.Module:
        """Lifting layer ``(B, cin, Y, X) -> (B, cout, |H|, Y', X')`` (stride 1)."""
        if self.attention is None:
            return LiftingConv(
                self.group, cin, cout, kernel_size, padding=padding, bias=bias, **self._kernel_kw()
            )
        return AttentiveLiftingConv(
            self.group,
            cin,
            cout,
            kernel_size,
            padding=padding,
            bias=bias,
            attention_dilation=self.lifting_attention_dilation,
            **self._kw(),
        )

    def conv(
        self, cin: int, cout: int, kernel_size: int, padding: int = 0, bias: bool = False
    ) -> nn.Module:
        """Group layer ``(B, cin, |H|, Y, X) -> (B, cout, |H|, Y', X')`` (stride 1)."""
        if self.attention is None:
            return GroupConv(
                self.group, cin, cout, kernel_size, padding=padding, bias=bias, **self._kernel_kw()
            )
        return AttentiveGroupConv(
            self.group, cin, cout, kernel_size, padding=padding, bias=bias, **self._kw()
        )

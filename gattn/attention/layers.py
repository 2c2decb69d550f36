r"""Attentive lifting and group convolutions [AGC] on :math:`\mathbb{R}^d \rtimes H`,
:math:`d \in \{1, 2, 3\}` (docs/maths.md).

.. math::

    [f \star^\alpha_G \psi](x, h) = \sum_{\tilde c}\sum_{\tilde h}
        \alpha_{\tilde c}\big((x, h), \tilde h\big)\, \tilde f_{\tilde c}(x, h, \tilde h),
    \qquad \alpha = \mathcal{A}[f],

with partial responses :math:`\tilde f_{\tilde c}(x, h, \tilde h) = [f_{\tilde c}(\cdot,
\tilde h) \star L_h\psi_{\tilde c}(\cdot, h^{-1}\tilde h)](x)`. The operator
:math:`\mathcal{A}` (:mod:`gattn.attention`) is chosen by name or passed as an instance; the
layer hands it its plain convolution (:class:`~gattn.attention.base.LayerConvolution`) and the
operator computes the output (:meth:`~gattn.attention.base.AttentionOperator.layer_output`).
:func:`~gattn.attention.build_attention` builds a named operator from the layer's group,
layouts (``in_layout``: ``Image(d, C_in)`` or ``GroupSignal(H, d, C_in)``; ``out_layout``:
``GroupSignal(H, d, C_out)``, declared by the layer too) and channels:

* ``"full"``: :math:`\alpha = \alpha^X(x,h,\tilde h)\,\alpha^C_{\tilde c}(h,\tilde h)`, computed
  without materialising :math:`\tilde f` for images (see
  :class:`~gattn.attention.FactorisedAttention`); for ``d = 1, 3`` by the exact reference
  evaluation, which does (memory ``C_in |H_in|`` times a group convolution's output);
* ``"channel"`` / ``"spatial"``: one factor only;
* ``"input"`` (:math:`\alpha F`): :math:`\alpha(\tilde g)` multiplies the input, then a plain
  group convolution;
* ``"codomain"``: :math:`\alpha(g)` multiplies the output of the group convolution;
* ``None``: the plain group convolution.

**Residual form (the paper's, the default for every named mode).** The official attentive
layers output :math:`(1 - \alpha^-)\,\tilde f`: the attention learns what to *suppress*,
:math:`\alpha^+ = 1 - \alpha^-`, so a layer can suppress as well as pass (the official code's
reason: good gradient propagation). With ``residual=True``

.. math::

    [f \star^\alpha_G \psi](x, h) = \sum_{\tilde c}\sum_{\tilde h}
        \big(1 - \alpha_{\tilde c}((x, h), \tilde h)\big)\, \tilde f_{\tilde c}(x, h, \tilde h),

evaluated for pair attention as plain convolution minus attentive convolution (linear in
:math:`\alpha`); for input-level :math:`\alpha F` the input becomes :math:`(1 - \alpha)\,f`
before the plain convolution; for co-domain attention the output becomes
:math:`(1 - \alpha)\,y`. ``residual=False`` gives the plain form :math:`\alpha\,\tilde f`
(not the paper's models). ``residual=None`` (default) means ``True`` for a named mode and
``False`` for an operator instance, whose weights are its own (e.g. BAM's :math:`1 + \alpha`,
docs/special_cases.md). See docs/attention.md.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..groups import MatrixGroup
from ..groups.validation import check_int
from ..nn.checks import check_input, check_kernel_fits, check_matches_parameters
from ..nn.conv import GroupConv, LiftingConv
from ..nn.fields import FieldConfig
from ..nn.samples import HSamples
from ..ops.fused import check_backend, use_backend
from .base import AttentionOperator, LayerConvolution
from .build import build_attention

__all__ = ["AttentiveLiftingConv", "AttentiveGroupConv"]


class _AttentiveBase(nn.Module):
    lifting: bool = False

    def __init__(
        self,
        group: MatrixGroup,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        attention: str | AttentionOperator | None = "full",
        reduction: int = 2,
        attention_kernel_size: int = 7,
        residual: bool | None = None,
        attention_dilation: int = 1,
        samples: HSamples | int | Tensor | None = None,
        kernel: str = "auto",
        field: FieldConfig | None = None,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        #: how the lean kernels run: "auto", "eager" or "compiled" (gattn.ops.fused)
        self.backend = check_backend(backend)
        check_int("stride", stride)
        check_int("padding", padding, 0)
        conv_cls = LiftingConv if self.lifting else GroupConv
        self.conv = conv_cls(
            group,
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            bias,
            samples=samples,
            kernel=kernel,
            field=field,
        )
        #: the conv's :class:`~gattn.nn.HSamples` (``None``: all of a finite H, pixel kernels)
        self.samples = self.conv.samples
        self.kernel = self.conv.kernel
        self.group = group
        self.dims = self.conv.dims
        self.in_layout, self.out_layout = self.conv.in_layout, self.conv.out_layout
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.order = self.conv.order
        self.in_order = 1 if self.lifting else self.order
        check_int("reduction", reduction)
        check_int("attention_kernel_size", attention_kernel_size)
        self.attention_dilation = check_int("attention_dilation", attention_dilation)
        if residual is not None and not isinstance(residual, bool):
            raise TypeError(f"residual must be a bool or None, got {residual!r}")
        if residual is None:  # the paper's residual form for the named modes
            residual = isinstance(attention, str)
        self.residual = residual
        self.attention_mode = (
            attention
            if isinstance(attention, str) or attention is None
            else (type(attention).__name__)
        )
        self.attention = build_attention(
            attention,
            group,
            self.in_layout,
            self.out_layout,
            in_channels,
            out_channels,
            reduction,
            attention_kernel_size,
            attention_dilation,
            field,
        )

    def filter_bank(self) -> Tensor:
        """The plain group convolution's bank ``(C_out |H|, C_in [|H|], *[k] * d)``."""
        return self.conv.filter_bank()

    def _check(self, x: Tensor) -> None:
        name = type(self).__name__
        check_input(self.in_layout, x, name)
        reference = (
            self.conv.weight if self.kernel == "pixel" else self.conv.transform.field.out.weight
        )
        check_matches_parameters(x, reference, name)
        check_kernel_fits(x, self.kernel_size, self.padding, name, self.dims)

    def layer_convolution(self) -> LayerConvolution:
        """The plain convolution handed to the attention operator (bank computed once)."""
        return LayerConvolution(
            self.filter_bank(),
            self.stride,
            self.padding,
            self.conv.bias,
            self.in_channels,
            self.out_channels,
            self.order,
            self.lifting,
            self.dims,
        )

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        if self.attention is None:
            return self.conv._conv(x if self.lifting else x.flatten(1, 2))
        with use_backend(self.backend):
            return self.attention.layer_output(x, self.layer_convolution(), self.residual)

    def extra_repr(self) -> str:
        dil = (
            f", attention_dilation={self.attention_dilation}" if self.attention_dilation > 1 else ""
        )
        kernel = "" if self.kernel == "pixel" else f", kernel={self.kernel!r}"
        backend = "" if self.backend == "auto" else f", backend={self.backend!r}"
        return f"attention={self.attention_mode!r}, residual={self.residual}{dil}{kernel}{backend}"


class AttentiveLiftingConv(_AttentiveBase):
    r"""Attentive lifting correlation :math:`\mathbb{R}^d \to G`, :math:`d \in \{1, 2, 3\}`.

    Every attention mode works in every ``d``: statistics over all spatial axes, a ``k^d``
    spatial-attention kernel transformed by :math:`H`. For ``d = 2`` the pair modes
    (``"full"``, ``"channel"``, ``"spatial"``) use the lean evaluation; for ``d = 1, 3`` the
    exact reference evaluation, which materialises the partial responses (memory
    ``C_in |H_in|`` times a group convolution's output; docs/attention.md).

    Args:
        group: :math:`\mathbb{R}^d \rtimes H`: a finite :math:`H` (``p4()``, ``p4m()``,
            ``p1m()``, ``cube()``, ...) or, with ``samples``, a continuous one (``SE2()``,
            ``E2()``, ...).
        in_channels, out_channels, kernel_size, stride, padding, bias: as
            :class:`~gattn.nn.LiftingConv`.
        attention: ``"full"``, ``"input"``, ``"channel"``, ``"spatial"``, ``"codomain"``,
            ``None`` or an :class:`~gattn.attention.AttentionOperator` (its
            :meth:`~gattn.attention.AttentionOperator.layer_output` computes the layer's output).
        reduction: channel-attention bottleneck ratio :math:`r`.
        attention_kernel_size: odd size of the spatial-attention kernel :math:`\psi_X`.
        residual: output :math:`(1 - \alpha)`-weighted responses (the paper's residual form)
            instead of :math:`\alpha`-weighted ones; ``None`` (default): ``True`` for a named
            ``attention`` mode, ``False`` for an operator instance (docs/attention.md).
        attention_dilation: dilation of the spatial-attention kernel, ``"input"`` and
            ``"codomain"`` modes only (padding ``dilation * (attention_kernel_size // 2)``
            keeps the size; the official rot-MNIST αF-P4CNN uses 4 in its lifting layer).
        samples: the :math:`H` samples of the group axis, as :class:`~gattn.nn.LiftingConv`
            (an :class:`~gattn.nn.HSamples` shared by the network's layers, a number of
            samples or a tensor of elements; required for a continuous :math:`H` such as
            ``SE2()``, ``E2()``; ``None``: all of a finite :math:`H`).
        kernel: ``"auto"`` (pixel for a finite :math:`H` without ``samples``, else field),
            ``"pixel"`` or ``"field"``. With a field kernel every attention operator lives on
            the samples: the spatial-attention kernel :math:`\psi_X` is a neural field too and
            the weights indexed by :math:`h^{-1}\tilde h` are fields of
            :math:`\mathrm{features}(h^{-1}\tilde h)` (docs/continuous.md).
        field: the :class:`~gattn.nn.FieldConfig` of the convolution's and the operators'
            fields.
        backend: how the lean full / spatial attention kernels run (d = 2): ``"auto"`` (the
            measured rule per device, :data:`gattn.ops.fused.AUTO_RULE`), ``"eager"`` or
            ``"compiled"`` (``torch.compile``; falls back to eager with a warning if compiling
            fails). Other modes are unaffected (docs/attention.md, "Backends").

    Attributes:
        in_layout: ``Image(d, C_in)``. out_layout: ``GroupSignal(H, d, C_out, samples=)``.
        samples: the convolution's :class:`~gattn.nn.HSamples` (``None`` for pixel kernels).

    Raises:
        ValueError: bad sizes (``stride`` and ``padding`` are one integer for every axis),
            unknown ``attention``, ``attention_dilation != 1`` with a mode other than
            ``"input"`` / ``"codomain"``, an operator instance built for another ``d`` or on
            other samples; a continuous :math:`H` without ``samples``; samples of another
            group; ``kernel="pixel"`` with ``samples`` or a continuous :math:`H`; ``backend``
            not one of ``"auto"``, ``"eager"``, ``"compiled"``.
        TypeError: ``residual`` neither a bool nor ``None``; ``field`` not a FieldConfig;
            ``backend`` not a string.

    Shapes:
        ``x: (B, C_in, *spatial) -> (B, C_out, |H|, *spatial')``.
    """

    lifting = True


class AttentiveGroupConv(_AttentiveBase):
    r"""Attentive group correlation :math:`G \to G`. Arguments as
    :class:`AttentiveLiftingConv`.

    Attributes:
        in_layout: ``GroupSignal(H, d, C_in)``. out_layout: ``GroupSignal(H, d, C_out)``.

    Shapes:
        ``x: (B, C_in, |H|, *spatial) -> (B, C_out, |H|, *spatial')``.
    """

    lifting = False

r"""The attention-operator interface.

An attention operator :math:`\mathcal{A}` maps a signal to attention weights
:math:`\alpha = \mathcal{A}[f]` used by an attentive group convolution (docs/maths.md)

.. math::

    [f \star^\alpha_G \psi](g) = \sum_{\tilde c} \int_G \alpha_{\tilde c}(g, \tilde g)\,
        f_{\tilde c}(\tilde g)\, \psi_{\tilde c}(g^{-1}\tilde g)\, d\tilde g .

Two kinds are supported, told apart by :attr:`AttentionOperator.domain`:

* ``"pair"`` (:class:`PairAttention`): :math:`\alpha` depends on the output element
  :math:`g = (x, h)` *and* the input element :math:`\tilde h` (the factorised form of the paper,
  :math:`\alpha(x, h, \tilde h)`). Such an operator reads the *partial responses*
  :math:`\tilde f_{c, \tilde c}(x, h, \tilde h) = [f_{\tilde c}(\cdot, \tilde h) \star
  L_h\psi_{c, \tilde c}(\cdot, h^{-1}\tilde h)](x)`, laid out as
  ``(B, C_out, |H|, C_in, |H_in|, *spatial)`` (``|H_in| = 1`` for lifting layers;
  ``d = 1, 2, 3`` spatial axes), and returns
  weights broadcastable to that shape. The attentive layer then outputs
  :math:`\sum_{\tilde c, \tilde h} \alpha\,\tilde f`. :meth:`PairAttention.attentive_conv` does
  exactly that by materialising the partial responses; operators that know a cheaper,
  algebraically equal way override it (see
  :class:`~gattn.attention.factorised.FactorisedAttention`).
* ``"signal"`` (:class:`SignalAttention`): :math:`\alpha` depends on one element only — on the
  input element :math:`\tilde g` ("input-level" :math:`\alpha F`, ``position="input"``:
  attention multiplies the input, then a plain group convolution) or on the output element
  :math:`g` ("co-domain", ``position="output"``: attention multiplies the convolution's
  output). Such an operator reads a group signal ``(B, C, |H|, *spatial)`` (or a spatial signal
  ``(B, C, *spatial)``)
  and returns weights broadcastable to it.

An attentive layer (:mod:`gattn.attention.layers`) does not look at these kinds: it hands its
operator its plain group convolution (:class:`LayerConvolution`: filter bank, stride, padding,
bias) and the residual flag, and the operator's :meth:`AttentionOperator.layer_output` computes
the layer's output — :class:`PairAttention` the attentive convolution,
:class:`SignalAttention` attention on the input then the convolution, or the convolution then
attention on its output.

Theorem 1 of [AGC] (equivariance of the attentive convolution) holds iff
:math:`\mathcal{A}[L_{\bar g} f](g, \tilde g) = \mathcal{A}[f](\bar g^{-1} g, \bar g^{-1}\tilde g)`;
:func:`gattn.testing.theorem1.check_theorem1` checks it for any operator written against this
interface.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..groups import Layout
from ..groups.validation import check_int

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}

__all__ = [
    "AttentionOperator",
    "PairAttention",
    "SignalAttention",
    "LayerConvolution",
    "partial_responses",
    "pair_output",
]


def partial_responses(x: Tensor, bank: Tensor, stride: int = 1, padding: int = 0) -> Tensor:
    r"""All partial responses :math:`\tilde f_{c,\tilde c}(x, h, \tilde h)` (materialised).

    .. math:: \tilde f_{c,\tilde c}(x, h, \tilde h) = \sum_{y} f_{\tilde c}(x + y, \tilde h)\,
              K_{c, h, \tilde c, \tilde h}(y)

    with :math:`K` the filter bank :math:`L_h \psi_{c,\tilde c}(\cdot, h^{-1}\tilde h)`, in
    ``d = 1, 2, 3`` spatial dimensions (one depthwise ``conv{d}d``). Memory: ``C_in |H_in|``
    times a group convolution's output — use for references, tests, user-defined operators and
    the reference evaluation in ``d = 1, 3`` (docs/attention.md).

    Args:
        x: input ``(B, C_in, |H_in|, *spatial)`` (``|H_in| = 1`` for spatial signals).
        bank: ``(C_out, |H|, C_in, |H_in|, *[k] * d)``.
        stride, padding: as in ``conv{d}d`` (one integer for every axis).

    Returns:
        ``(B, C_out, |H|, C_in, |H_in|, *spatial')``.

    Raises:
        ValueError: ``x`` and ``bank`` disagree on ``d``, ``C_in`` or ``|H_in|``, or ``d`` is
            not 1, 2 or 3; ``stride`` / ``padding`` not valid integers.
    """
    check_int("stride", stride)
    check_int("padding", padding, 0)
    d = bank.dim() - 4
    if d not in _CONV or x.dim() != d + 3 or tuple(x.shape[1:3]) != tuple(bank.shape[2:4]):
        raise ValueError(
            f"partial_responses: x (B, C_in, |H_in|, *spatial) and bank "
            f"(C_out, |H|, C_in, |H_in|, *k^d) with d in 1..3 must agree, got x "
            f"{tuple(x.shape)} and bank {tuple(bank.shape)}"
        )
    b, ci, hi = x.shape[:3]
    spatial = x.shape[3:]
    co, h = bank.shape[:2]
    space = tuple(range(4, 4 + d))
    weight = bank.permute(2, 3, 0, 1, *space).reshape(ci * hi * co * h, 1, *bank.shape[4:])
    out = _CONV[d](
        x.reshape(b, ci * hi, *spatial), weight, stride=stride, padding=padding, groups=ci * hi
    )
    out = out.reshape(b, ci, hi, co, h, *out.shape[2:])
    return out.permute(0, 3, 4, 1, 2, *(i + 1 for i in space))


def pair_output(alpha: Tensor, responses: Tensor) -> Tensor:
    r""":math:`\sum_{\tilde c, \tilde h} \alpha\, \tilde f`: ``(B, C_out, |H|, *spatial')``."""
    return (alpha * responses).sum(dim=(3, 4))


class LayerConvolution:
    r"""An attentive layer's plain group convolution, handed to its attention operator.

    Args:
        bank: the filter bank ``(C_out |H|, C_in |H_in|, *[k] * d)`` (``|H_in| = 1`` for
            spatial signals).
        stride, padding: of the convolution (one integer for every axis).
        bias: ``(C_out,)`` (shared over :math:`H` and space) or ``None``.
        in_channels, out_channels: ``C_in``, ``C_out``.
        order: :math:`|H|`, the output's group axis.
        lifting: the input is a spatial signal ``(B, C_in, *spatial)`` (else a group signal
            ``(B, C_in, |H|, *spatial)``).
        dims: spatial dimensions ``d`` (1, 2 or 3; default: read off ``bank``).
    """

    def __init__(
        self,
        bank: Tensor,
        stride: int,
        padding: int,
        bias: Tensor | None,
        in_channels: int,
        out_channels: int,
        order: int,
        lifting: bool,
        dims: int | None = None,
    ) -> None:
        self.bank, self.stride, self.padding, self.bias = bank, stride, padding, bias
        self.in_channels, self.out_channels, self.order = in_channels, out_channels, order
        self.lifting = lifting
        self.in_order = 1 if lifting else order
        self.dims = bank.dim() - 2 if dims is None else dims
        if self.dims not in _CONV or bank.dim() != self.dims + 2:
            raise ValueError(
                f"LayerConvolution: bank must be (C_out |H|, C_in |H_in|, *k^d) with d = dims "
                f"in 1..3, got bank {tuple(bank.shape)} and dims={dims!r}"
            )

    def pair_bank(self) -> Tensor:
        """The bank as ``(C_out, |H|, C_in, |H_in|, *[k] * d)`` (the layout of
        :meth:`PairAttention.attentive_conv`)."""
        co, n, ci, ni = self.out_channels, self.order, self.in_channels, self.in_order
        return self.bank.reshape(co, n, ci, ni, *self.bank.shape[2:])

    def pair_input(self, x: Tensor) -> Tensor:
        """The input as ``(B, C_in, |H_in|, *spatial)`` (a spatial signal gains a group axis of
        length 1)."""
        return x.unsqueeze(2) if self.lifting else x

    def plain(self, x: Tensor) -> Tensor:
        """The convolution without bias: ``(B, C_out, |H|, *spatial')``."""
        x = x.flatten(1, 2) if not self.lifting else x
        if self.dims == 2 and x.device.type == "cpu" and x.dtype == torch.float32:
            # oneDNN's CPU convolution and its gradients are faster on channels-last maps
            # (docs/benchmarks.md, "Eager path, profiled and optimised"); the result keeps
            # channels-last strides (same shape and values)
            x = x.contiguous(memory_format=torch.channels_last)
        y = _CONV[self.dims](x, self.bank, None, self.stride, self.padding)
        return y.reshape(y.shape[0], self.out_channels, self.order, *y.shape[2:])

    def add_bias(self, y: Tensor) -> Tensor:
        """``y + bias`` (``y`` unchanged without a bias)."""
        if self.bias is None:
            return y
        return y + self.bias.reshape(-1, *[1] * (self.dims + 1))

    def __call__(self, x: Tensor) -> Tensor:
        """The convolution with bias: ``(B, C_out, |H|, *spatial')``."""
        return self.add_bias(self.plain(x))


class AttentionOperator(nn.Module):
    """Base class of every attention operator (see the module docstring).

    Subclasses set the class attribute :attr:`domain` (``"pair"`` or ``"signal"``) and
    implement :meth:`layer_output` — in practice derive from :class:`PairAttention` or
    :class:`SignalAttention`.

    Attributes:
        in_layout: what :meth:`forward` reads (a :class:`~gattn.groups.Layout`:
            :class:`~gattn.groups.PairSignal` for pair operators, the signal's
            :class:`~gattn.groups.GroupSignal` / :class:`~gattn.groups.Image` for signal
            operators), read by :func:`gattn.testing.theorem1.check_theorem1`; every shipped
            operator declares it (``None``: undeclared, the tools then read the tensor's rank).
    """

    domain: ClassVar[str] = ""
    in_layout: Layout | None = None

    def forward(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def layer_output(self, x: Tensor, conv: LayerConvolution, residual: bool) -> Tensor:
        r"""The output of an attentive layer with this operator.

        :class:`PairAttention` and :class:`SignalAttention` implement it; an operator written
        against this bare class gets the implementation of the kind its :attr:`domain`
        declares (``"pair"``: it must provide ``attentive_conv``; ``"signal"``: ``attend`` and
        ``position``).

        Args:
            x: the layer's input (an image or a group signal, as ``conv`` expects).
            conv: the layer's plain convolution.
            residual: the paper's residual form (weights :math:`1 - \alpha`) instead of
                :math:`\alpha` (docs/attention.md).

        Returns:
            ``(B, C_out, |H|, *spatial')``, bias included.

        Raises:
            TypeError: :attr:`domain` is neither ``"pair"`` nor ``"signal"``.
        """
        kinds = {"pair": PairAttention, "signal": SignalAttention}
        if self.domain not in kinds:
            raise TypeError(
                f"attention operator {type(self).__name__} has unknown domain {self.domain!r}; "
                "derive it from PairAttention or SignalAttention (gattn.attention)"
            )
        return kinds[self.domain].layer_output(self, x, conv, residual)


class PairAttention(AttentionOperator):
    r"""Attention :math:`\alpha(x, h, \tilde h)` over (output, input) pairs.

    Subclasses implement :meth:`forward`:

    Args:
        responses: partial responses ``(B, C_out, |H|, C_in, |H_in|, *spatial)``.

    Returns:
        :math:`\alpha \in [0, 1]`, broadcastable to ``responses`` (e.g.
        ``(B, C_out, |H|, C_in, |H_in|, 1, 1)`` for channel attention).

    Equivariance (Theorem 1): if ``responses`` is transformed by :math:`\bar g = (t, k)` —
    spatially, and with *both* group axes permuted :math:`h \mapsto k h`,
    :math:`\tilde h \mapsto k\tilde h` — :math:`\alpha` must transform the same way.
    Any function of :math:`h^{-1}\tilde h` and of spatial statistics satisfies this.
    """

    domain: ClassVar[str] = "pair"

    def attentive_conv(self, x: Tensor, bank: Tensor, stride: int = 1, padding: int = 0) -> Tensor:
        r""":math:`\sum_{\tilde c,\tilde h} \alpha\,\tilde f` — the attentive convolution.

        The default materialises :func:`partial_responses`; override it with an algebraically
        equal, leaner computation when one exists.

        Args:
            x: ``(B, C_in, |H_in|, *spatial)``.
            bank: ``(C_out, |H|, C_in, |H_in|, *[k] * d)`` filter bank.
            stride, padding: as in ``conv{d}d``.

        Returns:
            ``(B, C_out, |H|, *spatial')`` (no bias).
        """
        responses = partial_responses(x, bank, stride, padding)
        return pair_output(self(responses), responses)

    def layer_output(self, x: Tensor, conv: LayerConvolution, residual: bool) -> Tensor:
        r""":meth:`attentive_conv` of the layer's bank; residual: plain convolution minus it
        (:math:`\sum (1 - \alpha)\,\tilde f`, linear in :math:`\alpha`), then the bias."""
        y = self.attentive_conv(conv.pair_input(x), conv.pair_bank(), conv.stride, conv.padding)
        if residual:
            y = conv.plain(x) - y
        return conv.add_bias(y)


class SignalAttention(AttentionOperator):
    r"""Attention :math:`\alpha(g)` on one signal: the input (:math:`\alpha F`) or the output.

    Subclasses implement :meth:`forward` ``x -> alpha`` with ``x`` a group signal
    ``(B, C, |H|, *spatial)`` (or a spatial signal ``(B, C, *spatial)`` for input attention of a
    lifting layer)
    and ``alpha`` in :math:`[0, 1]` broadcastable to ``x``; equivariance (Theorem 1) means
    :math:`\mathcal{A}[L_{\bar g} x] = L_{\bar g}\mathcal{A}[x]`.

    Args:
        position: ``"input"`` (:math:`\alpha(\tilde g)`, multiplies the layer input) or
            ``"output"`` (co-domain attention, multiplies the layer output).
    """

    domain: ClassVar[str] = "signal"

    def __init__(self, position: str = "input") -> None:
        super().__init__()
        if position not in ("input", "output"):
            raise ValueError(f"position must be 'input' or 'output', got {position!r}")
        self.position = position

    def attend(self, x: Tensor) -> Tensor:
        r""":math:`\alpha \cdot x` (override to avoid materialising a full-size :math:`\alpha`)."""
        return self(x) * x

    def layer_output(self, x: Tensor, conv: LayerConvolution, residual: bool) -> Tensor:
        r"""Input position: the convolution of :math:`\alpha x` (residual:
        :math:`(1 - \alpha) x`); output position: :math:`\alpha y` of the convolution's output
        :math:`y` (residual: :math:`(1 - \alpha) y`)."""
        if self.position == "input":
            attended = self.attend(x)
            return conv(x - attended if residual else attended)
        y = conv(x)
        attended = self.attend(y)
        return y - attended if residual else attended

r"""Load trained CBAM / BAM modules of timm and of the original authors into gattn's modules.

The released modules differ from the papers' equations (docs/special_cases.md records the
facts and where they were read):

* timm's ``CbamModule`` (``timm/layers/cbam.py``): ``channel`` = ``ChannelAttn`` (``fc1``,
  ``fc2``: ``1 x 1`` ``Conv2d``, bias only with ``mlp_bias=True``; avg and max pooled,
  summed, sigmoid gate), ``spatial`` = ``SpatialAttn`` (statistics [mean, max], then
  ``ConvNormAct``: ``conv`` ``7 x 7`` without bias, ``bn`` a ``BatchNorm2d(1)``, no activation;
  sigmoid gate). The hidden width is ``make_divisible(C * rd_ratio, rd_divisor)``, read here
  from the weights' shape.
* CBAM's authors (``Jongchan/attention-module``, ``MODELS/cbam.py``): ``ChannelGate.mlp`` =
  ``Sequential(Flatten, Linear, ReLU, Linear)`` (biased), ``SpatialGate`` = ``ChannelPool``
  (statistics [max, mean]) then ``BasicConv`` (``conv`` ``7 x 7`` without bias, ``bn``
  ``BatchNorm2d(1, eps=1e-5, momentum=0.01)``, no ReLU).
* BAM's authors (``MODELS/bam.py``): ``channel_att.gate_c`` (``gate_c_fc_0``, ``gate_c_bn_1``,
  ReLU, ``gate_c_fc_final``: the batch norm on the *hidden* layer), ``spatial_att.gate_s``
  (``gate_s_conv_reduce0`` / ``gate_s_bn_reduce0``, ``gate_s_conv_di_i`` / ``gate_s_bn_di_i``
  with dilation 4, ``gate_s_conv_final``) and ``1 + sigmoid(channel * spatial)``: the
  branches *multiplied*.

Each loader builds the matching gattn module (``CBAM(..., norm="batch", ...)``,
``BAM(..., combine="product", channel_norm="hidden")``) and copies the weights. With a
non-trivial stabiliser (``group=p4()``...) every weight is placed at the identity element
(:math:`W(e)`, zero elsewhere): the result is :math:`G`-equivariant and its slice at
:math:`h` is the trained module applied in the frame of :math:`h`,
:math:`f'(\cdot, h) = L_h\,\mathrm{M}(L_h^{-1} f(\cdot, h))` (the batch norm's statistics in
train mode shared over :math:`H`).

Nothing here imports timm or runs code from a checkpoint: sources are modules or state dicts
(load files with ``torch.load(..., weights_only=True)``).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from ...groups import finite_tables
from .._common import planar_stabiliser
from .modules import BAM, CBAM, _default_group

__all__ = ["load_timm_cbam", "load_authors_cbam", "load_authors_bam"]

_BN_TENSORS = ("weight", "bias", "running_mean", "running_var")


class _Reader:
    """The tensors of one released module (keys below ``prefix``), taken one by one."""

    def __init__(self, source, prefix: str, what: str, layout: str) -> None:
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a string, got {type(prefix).__name__}")
        if isinstance(source, nn.Module):
            self.module: nn.Module | None = source
            state = source.state_dict()
        elif isinstance(source, Mapping):
            self.module = None
            state = source
        else:
            raise TypeError(
                f"source must be {what} (an nn.Module) or its state dict (a mapping of str to "
                f"Tensor), got {type(source).__name__}"
            )
        self.prefix, self.what, self.layout = prefix, what, layout
        self.tensors: dict[str, Tensor] = {}
        for key, value in state.items():
            if not isinstance(key, str):
                raise TypeError(f"source keys must be strings, got {key!r}")
            if not key.startswith(prefix):
                continue
            if not isinstance(value, Tensor):
                raise TypeError(
                    f"source[{key!r}] must be a torch.Tensor, got {type(value).__name__}"
                )
            self.tensors[key[len(prefix) :]] = value
        if not self.tensors:
            raise ValueError(
                f"source has no key starting with prefix {prefix!r}; expected {what}'s keys "
                f"({layout})"
            )
        self.taken: set[str] = set()

    def has(self, name: str) -> bool:
        return name in self.tensors

    def take(self, name: str, shape: tuple[int | None, ...] | None = None) -> Tensor:
        if name not in self.tensors:
            raise ValueError(
                f"source is missing {self.prefix + name!r} of {self.what} (expected keys: "
                f"{self.layout}; is the prefix {self.prefix!r} right?)"
            )
        t = self.tensors[name]
        if shape is not None and (
            t.dim() != len(shape) or any(s is not None and s != d for s, d in zip(shape, t.shape))
        ):
            want = tuple("*" if s is None else s for s in shape)
            raise ValueError(
                f"source[{self.prefix + name!r}] has shape {tuple(t.shape)}, expected {want} "
                f"for {self.what}"
            )
        self.taken.add(name)
        return t

    def optional(self, name: str, shape: tuple[int | None, ...] | None = None) -> Tensor | None:
        return self.take(name, shape) if name in self.tensors else None

    def batch_norm(self, name: str, channels: int) -> dict[str, Tensor]:
        out = {k: self.take(f"{name}.{k}", (channels,)) for k in _BN_TENSORS}
        tracked = self.optional(f"{name}.num_batches_tracked", ())
        if tracked is not None:
            out["num_batches_tracked"] = tracked
        return out

    def finish(self) -> None:
        extra = sorted(set(self.tensors) - self.taken)
        if extra:
            shown = ", ".join(repr(self.prefix + k) for k in extra[:6])
            more = f" and {len(extra) - 6} more" if len(extra) > 6 else ""
            raise ValueError(
                f"source has keys that {self.what} does not have: {shown}{more} (expected keys: "
                f"{self.layout}); pass the module's own state dict or its key prefix"
            )

    def reference(self) -> Tensor:
        """A floating tensor of the source: its dtype and device are the result's."""
        for name in sorted(self.taken):
            t = self.tensors[name]
            if t.is_floating_point():
                return t
        raise ValueError(f"source has no floating-point weights for {self.what}")

    def submodule(self, name: str) -> nn.Module | None:
        """``source``'s submodule at ``prefix + name`` (``None`` for a state-dict source)."""
        if self.module is None:
            return None
        path = (self.prefix + name).strip(".")
        try:
            return self.module.get_submodule(path) if path else self.module
        except AttributeError as exc:
            raise ValueError(
                f"source is not laid out as {self.what}: it has no submodule {path!r}"
            ) from exc

    def training(self) -> bool | None:
        root = self.submodule("")
        return None if root is None else root.training


def _identity_index(group) -> int:
    return finite_tables(planar_stabiliser(group, "the converted module")).identity_index


def _embed(target: Tensor, value: Tensor, axis: int, e: int, name: str) -> None:
    """``target`` := ``value`` at index ``e`` of the group axis ``axis``, zero elsewhere."""
    part = target.select(axis, e)
    if part.shape != value.shape:
        raise ValueError(
            f"{name}: weight of shape {tuple(value.shape)} does not fit {tuple(part.shape)}"
        )
    target.zero_()
    part.copy_(value)


def _load_bn(bn: nn.modules.batchnorm._BatchNorm, tensors: dict[str, Tensor]) -> None:
    for k in _BN_TENSORS:
        getattr(bn, k).copy_(tensors[k])
    if bn.num_batches_tracked is not None:
        bn.num_batches_tracked.copy_(tensors.get("num_batches_tracked", torch.tensor(0)))


def _check_gate(reader: _Reader, name: str, fn, label: str) -> None:
    """A released module's activation, where it has one, must be ``fn`` (probed on a few
    values); timm versions without that submodule (e.g. a plain ``BatchNorm2d``) pass."""
    if reader.module is None:
        return
    try:
        module = reader.submodule(name)
    except ValueError:
        return
    probe = torch.linspace(-4.0, 4.0, 9, dtype=torch.float64).reshape(1, 9, 1, 1)
    try:
        out = module(probe.clone())
    except Exception as exc:  # a module that cannot even run on a probe is not the gate
        raise ValueError(f"source's {name} could not be evaluated as {label}: {exc}") from exc
    if not isinstance(out, Tensor) or not torch.allclose(out.double(), fn(probe), atol=1e-6):
        raise ValueError(
            f"source's {reader.prefix + name} ({type(module).__name__}) is not {label}, which "
            f"gattn's module uses; only that configuration loads"
        )


def _like_source(module: nn.Module, reader: _Reader) -> nn.Module:
    """``module`` moved to the source's dtype and device (before the weights are copied, so
    that float64 weights are not rounded) and put in a module source's training mode."""
    ref = reader.reference()
    module.to(device=ref.device, dtype=ref.dtype)
    training = reader.training()
    if training is not None:
        module.train(training)
    return module


def _fill_cbam(cbam: CBAM, e: int, w1, w2, b1, b2, conv, bn) -> None:
    channel, spatial = cbam.operator.operators
    with torch.no_grad():
        _embed(channel.w1, w1, 0, e, "channel fc1")
        _embed(channel.w2, w2, 0, e, "channel fc2")
        if b1 is not None:
            channel.b1.copy_(b1)
            channel.b2.copy_(b2)
        _embed(spatial.weight, conv, 2, e, "spatial conv")
        _load_bn(spatial.bn, bn)


_TIMM_LAYOUT = (
    "channel.fc1.weight (hid, C, 1, 1), channel.fc2.weight (C, hid, 1, 1), optional "
    "channel.fc1.bias / channel.fc2.bias, spatial.conv.conv.weight (1, 2, k, k), "
    "spatial.conv.bn.{weight, bias, running_mean, running_var, num_batches_tracked}"
)


def load_timm_cbam(source: nn.Module | Mapping[str, Tensor], group=None, prefix: str = "") -> CBAM:
    r"""gattn's :class:`~gattn.attention.prior.CBAM` with the weights of timm's ``CbamModule``.

    Builds ``CBAM(C, kernel_size=k, hidden_channels=hid, bias=..., norm="batch",
    spatial_pool_order=("mean", "max"))`` — the batch norm's ``eps`` / ``momentum`` read from
    a module source (a state dict: timm's defaults ``1e-5`` / ``0.1``) — and copies the
    weights and running statistics. With the trivial group its outputs are timm's (train and
    eval mode); with a finite :math:`H` it is the equivariant module described in
    :mod:`gattn.attention.prior.convert` (docs/special_cases.md).

    Args:
        source: a ``CbamModule`` (its activations are checked: ReLU and sigmoid gates) or its
            state dict.
        group: ``None`` (``Rn(2)``) or an affine group with finite :math:`H`.
        prefix: the module's key prefix in a larger state dict (``"stages.0.attn."``...).

    Returns:
        The module, with ``source``'s dtype and device (and training mode, for a module).

    Raises:
        TypeError: ``source`` is neither a module nor a mapping, or holds non-tensors.
        ValueError: a key is missing, unexpected or of the wrong shape; the source is timm's
            ``LightCbamModule`` (one pooled map) or has another gate / activation.
    """
    r = _Reader(source, prefix, "timm's CbamModule", _TIMM_LAYOUT)
    fc1 = r.take("channel.fc1.weight", (None, None, 1, 1))
    hid, c = fc1.shape[:2]
    fc2 = r.take("channel.fc2.weight", (c, hid, 1, 1))
    b1 = r.optional("channel.fc1.bias", (hid,))
    b2 = r.optional("channel.fc2.bias", (c,))
    if (b1 is None) != (b2 is None):
        raise ValueError(
            f"source has a bias on only one of channel.fc1 / channel.fc2 (prefix {prefix!r}); "
            f"timm's mlp_bias puts it on both"
        )
    conv = r.take("spatial.conv.conv.weight", (1, None, None, None))
    if conv.shape[1] == 1:
        raise ValueError(
            "source looks like timm's LightCbamModule (spatial conv over one averaged map, "
            "spatial.conv.conv.weight of shape (1, 1, k, k)); only CbamModule loads"
        )
    k = conv.shape[-1]
    r.take("spatial.conv.conv.weight", (1, 2, k, k))
    bn = r.batch_norm("spatial.conv.bn", 1)
    r.finish()
    eps, momentum = 1e-5, 0.1
    bn_module = r.submodule("spatial.conv.bn")
    if bn_module is not None:
        eps, momentum = bn_module.eps, bn_module.momentum
        _check_gate(r, "channel.act", torch.relu, "a ReLU")
        _check_gate(r, "channel.gate", torch.sigmoid, "the logistic sigmoid")
        _check_gate(r, "spatial.gate", torch.sigmoid, "the logistic sigmoid")
        _check_gate(r, "spatial.conv.bn.act", lambda t: t, "the identity")
    group = _default_group(group)
    cbam = CBAM(
        c,
        kernel_size=k,
        group=group,
        bias=b1 is not None,
        norm="batch",
        spatial_pool_order=("mean", "max"),
        hidden_channels=hid,
        norm_eps=eps,
        norm_momentum=momentum,
    )
    _like_source(cbam, r)
    _fill_cbam(cbam, _identity_index(group), fc1[:, :, 0, 0], fc2[:, :, 0, 0], b1, b2, conv, bn)
    return cbam


_AUTHORS_CBAM_LAYOUT = (
    "ChannelGate.mlp.1.{weight (hid, C), bias}, ChannelGate.mlp.3.{weight (C, hid), bias}, "
    "SpatialGate.spatial.conv.weight (1, 2, 7, 7), "
    "SpatialGate.spatial.bn.{weight, bias, running_mean, running_var[, num_batches_tracked]}"
)


def load_authors_cbam(
    source: nn.Module | Mapping[str, Tensor], group=None, prefix: str = ""
) -> CBAM:
    r"""gattn's :class:`~gattn.attention.prior.CBAM` with the weights of CBAM's authors'
    module (``Jongchan/attention-module``, ``MODELS/cbam.py``, class ``CBAM``).

    Builds ``CBAM(C, hidden_channels=hid, bias=True, norm="batch",
    spatial_pool_order=("max", "mean"), norm_momentum=0.01)`` (``eps`` / ``momentum`` read
    from a module source) and copies the weights; outputs equal the authors' in train and
    eval mode (the running statistics move alike). docs/special_cases.md.

    Args:
        source: the authors' ``CBAM`` (its ``ChannelGate.pool_types`` must be avg and max) or
            its state dict (checkpoints without ``num_batches_tracked`` load too).
        group: ``None`` (``Rn(2)``) or an affine group with finite :math:`H`.
        prefix: the module's key prefix in a larger state dict
            (``"module.layer1.0.cbam."``...).

    Returns:
        The module, with ``source``'s dtype and device (and training mode, for a module).

    Raises:
        TypeError: ``source`` is neither a module nor a mapping, or holds non-tensors.
        ValueError: a key is missing, unexpected or of the wrong shape; the module was built
            with ``no_spatial=True`` or other ``pool_types``.
    """
    r = _Reader(source, prefix, "the authors' CBAM", _AUTHORS_CBAM_LAYOUT)
    if not any(k.startswith("SpatialGate.") for k in r.tensors):
        raise ValueError(
            "source has no SpatialGate (the authors' CBAM with no_spatial=True); gattn's CBAM "
            "always has the spatial gate — use SignalChannelAttention(..., bias=True) for the "
            "channel gate alone"
        )
    w1 = r.take("ChannelGate.mlp.1.weight", (None, None))
    hid, c = w1.shape
    b1 = r.take("ChannelGate.mlp.1.bias", (hid,))
    w2 = r.take("ChannelGate.mlp.3.weight", (c, hid))
    b2 = r.take("ChannelGate.mlp.3.bias", (c,))
    conv = r.take("SpatialGate.spatial.conv.weight", (1, 2, None, None))
    k = conv.shape[-1]
    r.take("SpatialGate.spatial.conv.weight", (1, 2, k, k))
    bn = r.batch_norm("SpatialGate.spatial.bn", 1)
    r.finish()
    eps, momentum = 1e-5, 0.01
    bn_module = r.submodule("SpatialGate.spatial.bn")
    if bn_module is not None:
        eps, momentum = bn_module.eps, bn_module.momentum
        pools = getattr(r.submodule("ChannelGate"), "pool_types", None)
        if pools is not None and sorted(pools) != ["avg", "max"]:
            raise ValueError(
                f"source's ChannelGate.pool_types is {pools!r}; gattn's CBAM pools "
                f"['avg', 'max'] only"
            )
    group = _default_group(group)
    cbam = CBAM(
        c,
        kernel_size=k,
        group=group,
        bias=True,
        norm="batch",
        spatial_pool_order=("max", "mean"),
        hidden_channels=hid,
        norm_eps=eps,
        norm_momentum=momentum,
    )
    _like_source(cbam, r)
    _fill_cbam(cbam, _identity_index(group), w1, w2, b1, b2, conv, bn)
    return cbam


_AUTHORS_BAM_LAYOUT = (
    "channel_att.gate_c.gate_c_fc_0.{weight (hid, C), bias}, "
    "channel_att.gate_c.gate_c_bn_1.*, channel_att.gate_c.gate_c_fc_final.{weight, bias}, "
    "spatial_att.gate_s.gate_s_conv_reduce0.*, spatial_att.gate_s.gate_s_bn_reduce0.*, "
    "spatial_att.gate_s.gate_s_conv_di_<i>.* / gate_s_bn_di_<i>.*, "
    "spatial_att.gate_s.gate_s_conv_final.*"
)


def load_authors_bam(
    source: nn.Module | Mapping[str, Tensor],
    group=None,
    prefix: str = "",
    dilation: int | None = None,
) -> BAM:
    r"""gattn's :class:`~gattn.attention.prior.BAM` with the weights of BAM's authors' module
    (``Jongchan/attention-module``, ``MODELS/bam.py``, class ``BAM``).

    Builds ``BAM(C, reduction=C // hid, dilation=d, num_dilated=n, combine="product",
    channel_norm="hidden")`` and copies the weights; outputs equal the authors' in train and
    eval mode for square inputs (their channel gate pools an ``H x H`` window, the global mean
    only on square maps). docs/special_cases.md.

    Args:
        source: the authors' ``BAM`` or its state dict.
        group: ``None`` (``Rn(2)``) or an affine group with finite :math:`H`.
        prefix: the module's key prefix (``"module.bam1."``...).
        dilation: of the dilated convolutions; ``None``: read from a module source, else the
            authors' ``dilation_val=4`` (a state dict does not record it).

    Returns:
        The module, with ``source``'s dtype and device (and training mode, for a module).

    Raises:
        TypeError: ``source`` is neither a module nor a mapping, or holds non-tensors.
        ValueError: a key is missing, unexpected or of the wrong shape (e.g. a channel gate
            with ``num_layers > 1``); the hidden widths of the two gates differ or are not
            ``C // r`` for an integer ``r``; a module source's convolutions or batch norms
            are configured otherwise than gattn's BAM.
    """
    r = _Reader(source, prefix, "the authors' BAM", _AUTHORS_BAM_LAYOUT)
    gc, gs = "channel_att.gate_c.", "spatial_att.gate_s."
    if r.has(gc + "gate_c_fc_1.weight"):
        raise ValueError(
            "source's channel gate has more than one hidden layer (num_layers > 1); gattn's BAM "
            "has one"
        )
    fc0 = r.take(gc + "gate_c_fc_0.weight", (None, None))
    hid, c = fc0.shape
    fc0_b = r.take(gc + "gate_c_fc_0.bias", (hid,))
    bn_c = r.batch_norm(gc + "gate_c_bn_1", hid)
    fcf = r.take(gc + "gate_c_fc_final.weight", (c, hid))
    fcf_b = r.take(gc + "gate_c_fc_final.bias", (c,))
    convs = [
        (
            r.take(gs + "gate_s_conv_reduce0.weight", (hid, c, 1, 1)),
            r.take(gs + "gate_s_conv_reduce0.bias", (hid,)),
            r.batch_norm(gs + "gate_s_bn_reduce0", hid),
        )
    ]
    i = 0
    while r.has(f"{gs}gate_s_conv_di_{i}.weight"):
        convs.append(
            (
                r.take(f"{gs}gate_s_conv_di_{i}.weight", (hid, hid, 3, 3)),
                r.take(f"{gs}gate_s_conv_di_{i}.bias", (hid,)),
                r.batch_norm(f"{gs}gate_s_bn_di_{i}", hid),
            )
        )
        i += 1
    final_w = r.take(gs + "gate_s_conv_final.weight", (1, hid, 1, 1))
    final_b = r.take(gs + "gate_s_conv_final.bias", (1,))
    r.finish()
    reduction = c // hid
    if c // reduction != hid:
        raise ValueError(
            f"source's hidden width {hid} is not C // r for any integer r (C = {c}); gattn's "
            f"BAM uses max(C // reduction, 1)"
        )
    if r.module is not None:
        for name, m in r.submodule("").named_modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and (
                m.eps != 1e-5 or m.momentum != 0.1
            ):
                raise ValueError(
                    f"source's {name} has eps={m.eps}, momentum={m.momentum}; gattn's BAM uses "
                    f"BatchNorm defaults (1e-5, 0.1)"
                )
        if i and dilation is None:
            di = r.submodule(f"{gs}gate_s_conv_di_0")
            if di.dilation[0] != di.padding[0]:
                raise ValueError(
                    f"source's gate_s_conv_di_0 has dilation {di.dilation} and padding "
                    f"{di.padding}; gattn's BAM pads by the dilation (size preserving)"
                )
            dilation = int(di.dilation[0])
    group = _default_group(group)
    bam = BAM(
        c,
        reduction=reduction,
        dilation=4 if dilation is None else dilation,
        num_dilated=i,
        group=group,
        combine="product",
        channel_norm="hidden",
    )
    _like_source(bam, r)
    e = _identity_index(group)
    channel, spatial = bam.operator.operator.branches
    with torch.no_grad():
        _embed(channel.fc1.weight, fc0[:, :, None, None], 2, e, "gate_c_fc_0")
        channel.fc1.bias.copy_(fc0_b)
        _load_bn(channel.bn, bn_c)
        _embed(channel.fc2.weight, fcf[:, :, None, None], 2, e, "gate_c_fc_final")
        channel.fc2.bias.copy_(fcf_b)
        for j, (w, b, bn) in enumerate(convs):
            conv = spatial.layers[3 * j]
            _embed(conv.weight, w, 2, e, f"spatial conv {j}")
            conv.bias.copy_(b)
            _load_bn(spatial.layers[3 * j + 1], bn)
        final = spatial.layers[3 * len(convs)]
        _embed(final.weight, final_w, 2, e, "gate_s_conv_final")
        final.bias.copy_(final_b)
    return bam

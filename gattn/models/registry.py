"""Name -> model builder registry (``get_model``, ``available_models``, ``model_info``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..groups import SE2, Rn, SemidirectProduct, p4, p4m

__all__ = ["ModelInfo", "available_models", "get_model", "model_info", "register_model"]


@dataclass(frozen=True)
class ModelInfo:
    """What the training and evaluation tools need to know about a registered model.

    Attributes:
        name: registry name.
        builder: ``builder(**kw) -> nn.Module``.
        group: factory of the group the model is equivariant to (``Rn(2)``: none beyond
            translations).
        input_size: image side at which grid rotations are exact symmetries (28 rot-MNIST,
            32 CIFAR).
        in_channels: image channels the model expects by default.
        description: one line for listings.
        symmetry: factory of the group whose grid rotations (and mirrors) the evaluation's
            invariance check applies; defaults to ``group``. Z2CNN is checked under p4.
        invariant: whether the logits are meant to be exactly invariant under ``symmetry``.
    """

    name: str
    builder: Callable[..., nn.Module]
    group: Callable[[], SemidirectProduct]
    input_size: int
    in_channels: int
    description: str
    symmetry: Callable[[], SemidirectProduct] | None = None
    invariant: bool = True

    def check_group(self) -> SemidirectProduct:
        """The group of the invariance check (``symmetry`` or ``group``)."""
        return (self.symmetry or self.group)()


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    name: str,
    builder: Callable[..., nn.Module],
    group: Callable[[], SemidirectProduct],
    input_size: int,
    in_channels: int,
    description: str,
    symmetry: Callable[[], SemidirectProduct] | None = None,
    invariant: bool = True,
) -> None:
    """Add ``name`` to the registry (``ValueError`` if it is taken); arguments as the fields
    of :class:`ModelInfo`."""
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is already registered")
    _REGISTRY[name] = ModelInfo(
        name, builder, group, input_size, in_channels, description, symmetry, invariant
    )


def available_models() -> list[str]:
    """Sorted names accepted by :func:`get_model`."""
    return sorted(_REGISTRY)


def model_info(name: str) -> ModelInfo:
    """The :class:`ModelInfo` of ``name``; ``ValueError`` listing valid names if unknown."""
    key = name.lower() if isinstance(name, str) else name
    if key not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(available_models())}")
    return _REGISTRY[key]


def get_model(name: str, size_check: str | None = "warn", **kw: Any) -> nn.Module:
    """Build model ``name``.

    Args:
        name: one of :func:`available_models`.
        size_check: ``"warn"`` (default): warn once per input size that makes the model only
            approximately equivariant (:class:`gattn.analysis.EquivarianceWarning`);
            ``"error"``: raise ``ValueError`` instead; ``None``: no check.
        **kw: builder options (``num_classes``, ``in_channels``, widths, ``dropout``...;
            the attentive CNNs take ``residual=False`` for the plain attention form instead of
            the paper's residual one, docs/attention.md).

    Returns:
        A fresh ``nn.Module`` mapping images ``(B, C, S, S)`` to logits ``(B, K)``.

    Raises:
        ValueError: unknown ``name`` (the message lists the valid names).
    """
    if size_check not in ("warn", "error", None):
        raise ValueError(f"size_check must be 'warn', 'error' or None, got {size_check!r}")
    model = model_info(name).builder(**kw)
    if size_check is not None:
        from ..analysis import install_size_check

        install_size_check(model, strict=size_check == "error")
    return model


def _rotmnist(group: Callable[[], SemidirectProduct], channels: int, attention: str | None):
    def build(**kw: Any) -> nn.Module:
        from .cnn import RotMNISTCNN

        kw.setdefault("channels", channels)
        return RotMNISTCNN(group(), attention=attention, **kw)

    return build


def _allcnnc(group: Callable[[], SemidirectProduct], attention: str | None):
    def build(**kw: Any) -> nn.Module:
        from .allcnnc import AllCNNC

        return AllCNNC(group(), attention=attention, **kw)

    return build


def _resnet44(group: Callable[[], SemidirectProduct], attention: str | None):
    def build(**kw: Any) -> nn.Module:
        from .resnet import ResNet

        kw.setdefault("depth", 44)
        return ResNet(group(), attention=attention, **kw)

    return build


def _gsa(group_name: str):
    def build(**kw: Any) -> nn.Module:
        from .transformer import gsa_rotmnist

        return gsa_rotmnist(group_name=group_name, **kw)

    return build


def _z2() -> SemidirectProduct:
    return Rn(2)


_ATT = {"": None, "a-": "full", "af-": "input", "a-ch-": "channel", "a-sp-": "spatial"}
_NAMES = {None: "", "full": "α-", "input": "αF-", "channel": "α-channel ", "spatial": "α-spatial "}

register_model(
    "z2cnn",
    _rotmnist(_z2, 20, None),
    _z2,
    28,
    1,
    "Z2CNN, rot-MNIST, 20 channels",
    symmetry=p4,
    invariant=False,
)
for _prefix in ("", "a-", "af-", "a-ch-", "a-sp-"):
    _att = _ATT[_prefix]
    register_model(
        f"{_prefix}p4cnn", _rotmnist(p4, 10, _att), p4, 28, 1, f"{_NAMES[_att]}P4CNN, rot-MNIST"
    )
for _prefix in ("", "a-", "af-"):
    _att = _ATT[_prefix]
    register_model(
        f"{_prefix}p4mcnn", _rotmnist(p4m, 10, _att), p4m, 28, 1, f"{_NAMES[_att]}P4MCNN, rot-MNIST"
    )
for _g, _gname in ((p4, "p4"), (p4m, "p4m")):
    for _prefix in ("", "af-"):
        _att = _ATT[_prefix]
        register_model(
            f"{_prefix}{_gname}-allcnnc",
            _allcnnc(_g, _att),
            _g,
            32,
            3,
            f"{_NAMES[_att]}{_gname}-All-CNN-C, CIFAR-10",
        )
for _prefix in ("", "af-"):
    _att = _ATT[_prefix]
    register_model(
        f"{_prefix}p4m-resnet44",
        _resnet44(p4m, _att),
        p4m,
        32,
        3,
        f"{_NAMES[_att]}p4m-ResNet44, CIFAR-10",
    )
register_model(
    "c8cnn",
    _rotmnist(lambda: SE2(8), 10, None),
    lambda: SE2(8),
    28,
    1,
    "P4CNN-size network on SE(2, C8), pixel kernels rotated by interpolation, rot-MNIST",
    symmetry=p4,
)


def _se2_field(**kw: Any) -> nn.Module:
    from ..nn import FieldConfig
    from .cnn import RotMNISTCNN

    kw.setdefault("channels", 10)
    kw.setdefault("samples", 8)
    # width-64 SIREN fields: the GELU default fits rot-MNIST far more slowly (docs/continuous.md)
    kw.setdefault("field", FieldConfig(width=64, activation="siren", omega0=10.0))
    return RotMNISTCNN(SE2(), kernel="field", **kw)


register_model(
    "se2-field-cnn",
    _se2_field,
    SE2,
    28,
    1,
    "P4CNN-size network on continuous SE(2): SIREN field kernels, 8 H samples, rot-MNIST",
    symmetry=p4,
)
register_model("gsa-p4", _gsa("p4"), p4, 28, 1, "group self-attention network (p4), rot-MNIST")
register_model("gsa-p4m", _gsa("p4m"), p4m, 28, 1, "group self-attention network (p4m), rot-MNIST")

"""Layers on an empty batch (an empty output, and a backward pass) and on inputs whose dtype or
device differs from the layer's parameters (a clear TypeError naming both)."""

from __future__ import annotations

import pytest
import torch

from gattn.attention import (
    ATTENTION_MODES,
    AttentiveGroupConv,
    AttentiveLiftingConv,
    FactorisedAttention,
)
from gattn.groups import p4
from gattn.nn import (
    GlobalPool,
    GroupBatchNorm,
    GroupConv,
    GroupPool,
    GroupSelfAttention,
    LiftingConv,
    LiftingSelfAttention,
    SpatialPool,
)
from gattn.nn.checks import check_matches_parameters

G = p4()
N = G.stabiliser.order
IMAGE = (3, 9, 9)  # (C, Y, X) of an image input, without the batch axis
SIGNAL = (2, N, 9, 9)  # (C, |H|, Y, X) of a group-signal input


def _attentive(lifting: bool, mode, residual: bool = False, **kw):
    cls = AttentiveLiftingConv if lifting else AttentiveGroupConv
    c_in = IMAGE[0] if lifting else SIGNAL[0]
    return cls(G, c_in, 2, 3, attention=mode, residual=residual, **kw)


def _factories() -> dict[str, object]:
    """name -> a function building (layer, input shape without the batch axis), for every
    layer with parameters (a fresh layer per test: ``Module.to`` works in place)."""
    out = {
        "LiftingConv": lambda: (LiftingConv(G, 3, 2, 3), IMAGE),
        "GroupConv": lambda: (GroupConv(G, 2, 2, 3, padding=1), SIGNAL),
        "LiftingSelfAttention/local": lambda: (
            LiftingSelfAttention(G, 3, 4, 2, patch_size=3),
            IMAGE,
        ),
        "LiftingSelfAttention/global": lambda: (LiftingSelfAttention(G, 3, 4, 2), IMAGE),
        "GroupSelfAttention/local": lambda: (GroupSelfAttention(G, 2, 4, 2, patch_size=3), SIGNAL),
        "GroupSelfAttention/global": lambda: (GroupSelfAttention(G, 2, 4, 2), SIGNAL),
        "GroupBatchNorm": lambda: (GroupBatchNorm(2), SIGNAL),
    }
    for mode in ATTENTION_MODES:
        out[f"AttentiveLiftingConv/{mode}"] = lambda mode=mode: (_attentive(True, mode), IMAGE)
        out[f"AttentiveGroupConv/{mode}"] = lambda mode=mode: (_attentive(False, mode), SIGNAL)
    return out


LAYERS = _factories()


def _empty_forward_backward(layer: torch.nn.Module, shape: tuple[int, ...]) -> None:
    """The output for B = 0 has the shape of the output for B = 2 with the batch axis 0, and
    the backward pass gives an empty input gradient."""
    torch.manual_seed(0)
    reference = layer(torch.randn(2, *shape)).shape
    x = torch.randn(0, *shape, requires_grad=True)
    y = layer(x)
    assert y.shape == (0, *reference[1:])
    y.sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape
    for p in layer.parameters():
        assert p.grad is None or bool(torch.isfinite(p.grad).all())


@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("mode", ATTENTION_MODES)
@pytest.mark.parametrize("lifting", [True, False], ids=["lifting", "group"])
def test_attentive_layers_accept_an_empty_batch(lifting: bool, mode, residual: bool) -> None:
    layer = _attentive(lifting, mode, residual)
    _empty_forward_backward(layer, IMAGE if lifting else SIGNAL)


@pytest.mark.parametrize("lifting", [True, False], ids=["lifting", "group"])
@pytest.mark.parametrize(
    ("stride", "padding", "checkpoint", "chunks"),
    [(2, 1, False, None), (1, 0, True, None), (1, 1, False, 2)],
)
def test_full_attention_variants_accept_an_empty_batch(
    lifting: bool, stride: int, padding: int, checkpoint: bool, chunks
) -> None:
    layer = _attentive(lifting, "full", stride=stride, padding=padding)
    assert isinstance(layer.attention, FactorisedAttention)
    layer.attention.checkpoint, layer.attention.chunks = checkpoint, chunks
    _empty_forward_backward(layer, IMAGE if lifting else SIGNAL)


EMPTY_OTHERS = {
    "LiftingConv": lambda: (LiftingConv(G, 3, 2, 3, stride=2), IMAGE),
    "GroupConv": lambda: (GroupConv(G, 2, 2, 3, padding=1), SIGNAL),
    "LiftingSelfAttention/local": lambda: (LiftingSelfAttention(G, 3, 4, 2, patch_size=3), IMAGE),
    "LiftingSelfAttention/global": lambda: (LiftingSelfAttention(G, 3, 4, 2), IMAGE),
    "GroupSelfAttention/local": lambda: (GroupSelfAttention(G, 2, 4, 2, patch_size=3), SIGNAL),
    "GroupSelfAttention/local-checkpoint": lambda: (
        GroupSelfAttention(G, 2, 4, 2, patch_size=3, checkpoint=True),
        SIGNAL,
    ),
    "GroupSelfAttention/global": lambda: (GroupSelfAttention(G, 2, 4, 2), SIGNAL),
    "GroupSelfAttention/global-checkpoint": lambda: (
        GroupSelfAttention(G, 2, 4, 2, checkpoint=True),
        SIGNAL,
    ),
    "GroupSelfAttention/global-chunks": lambda: (
        GroupSelfAttention(G, 2, 4, 2, chunk_size=1),
        SIGNAL,
    ),
    "GroupPool/max": lambda: (GroupPool("max"), SIGNAL),
    "GroupPool/mean": lambda: (GroupPool("mean"), SIGNAL),
    "SpatialPool/signal": lambda: (SpatialPool(2), (2, N, 8, 8)),
    "SpatialPool/image": lambda: (SpatialPool(2, mode="mean"), (3, 8, 8)),
    "GlobalPool": lambda: (GlobalPool(), SIGNAL),
    "GroupBatchNorm/train": lambda: (GroupBatchNorm(2), SIGNAL),
    "GroupBatchNorm/eval": lambda: (GroupBatchNorm(2).eval(), SIGNAL),
}


@pytest.mark.parametrize("name", sorted(EMPTY_OTHERS))
def test_other_layers_accept_an_empty_batch(name: str) -> None:
    layer, shape = EMPTY_OTHERS[name]()
    _empty_forward_backward(layer, shape)


@pytest.mark.parametrize(
    ("layer_dtype", "input_dtype"),
    [(torch.float64, torch.float32), (torch.float32, torch.float64)],
    ids=["f32-into-f64", "f64-into-f32"],
)
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_dtype_mismatch_is_a_clear_type_error(name: str, layer_dtype, input_dtype) -> None:
    layer, shape = LAYERS[name]()
    layer = layer.to(layer_dtype)
    x = torch.randn(2, *shape, dtype=input_dtype)
    with pytest.raises(TypeError, match="input dtype") as info:
        layer(x)
    msg = str(info.value)
    assert str(input_dtype) in msg and str(layer_dtype) in msg
    assert type(layer).__name__ in msg
    assert layer(x.to(layer_dtype)).dtype == layer_dtype  # matching dtypes still work


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_device_mismatch_is_a_clear_type_error(name: str) -> None:
    layer, shape = LAYERS[name]()
    layer = layer.to("meta")
    with pytest.raises(TypeError, match="input device cpu does not match .*meta"):
        layer(torch.randn(2, *shape))


AUTOCAST = [
    "LiftingConv",
    "GroupConv",
    "AttentiveLiftingConv/full",
    "AttentiveGroupConv/input",
    "LiftingSelfAttention/local",
    "GroupSelfAttention/global",
    "GroupBatchNorm",
]


@pytest.mark.parametrize("name", AUTOCAST)
def test_autocast_skips_the_dtype_check(name: str) -> None:
    layer, shape = LAYERS[name]()
    layer = layer.float()
    x = torch.randn(2, *shape, dtype=torch.bfloat16)
    with pytest.raises(TypeError, match="bfloat16"):
        layer(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
    assert y.shape[0] == 2 and bool(torch.isfinite(y.float()).all())


def test_check_matches_parameters_directly() -> None:
    w = torch.zeros(2, dtype=torch.float64)
    check_matches_parameters(torch.zeros(3, dtype=torch.float64), w, "L")
    check_matches_parameters(torch.zeros(3, dtype=torch.float16), None, "L")  # no parameters
    with pytest.raises(TypeError, match=r"L: input dtype torch.int64 .*torch.float64"):
        check_matches_parameters(torch.zeros(3, dtype=torch.long), w, "L")
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        check_matches_parameters([1.0], w, "L")

"""The zoo's attentive models are the paper's models (docs/attention.md, docs/training.md):
every attentive layer in the residual form :math:`(1 - \\alpha^-)\\tilde f`, and the rot-MNIST
αF models' lifting layer with the official dilated (4) input-level spatial attention."""

from __future__ import annotations

import pytest

from gattn.attention import AttentiveGroupConv, AttentiveLiftingConv, SignalSpatialAttention
from gattn.groups import p4
from gattn.models import available_models, get_model
from gattn.models.cnn import RotMNISTCNN

ATTENTIVE = [n for n in available_models() if n.startswith(("a-", "af-"))]
ROTMNIST_AF = ["af-p4cnn", "af-p4mcnn"]


def _attentive_layers(model):
    return [m for m in model.modules() if isinstance(m, (AttentiveLiftingConv, AttentiveGroupConv))]


def _small(name):
    if "resnet" in name:
        return {"depth": 8, "widths": (2, 2, 2), "reduction": 2}
    if "allcnnc" in name:
        return {"widths": (2, 2), "reduction": 2}
    return {"channels": 2}


def test_the_zoo_has_attentive_models():
    expected = {"a-p4cnn", "af-p4cnn", "a-ch-p4cnn", "a-sp-p4cnn", "af-p4m-allcnnc"}
    assert expected <= set(ATTENTIVE)


@pytest.mark.parametrize("name", ATTENTIVE)
def test_every_attentive_layer_of_the_zoo_is_residual(name):
    layers = _attentive_layers(get_model(name, size_check=None, **_small(name)))
    assert layers and all(layer.residual is True for layer in layers)


@pytest.mark.parametrize("name", ATTENTIVE)
def test_plain_form_on_request(name):
    model = get_model(name, size_check=None, residual=False, **_small(name))
    assert all(layer.residual is False for layer in _attentive_layers(model))


@pytest.mark.parametrize("name", ROTMNIST_AF)
def test_rotmnist_af_lifting_attention_is_dilated_by_4(name):
    layers = _attentive_layers(get_model(name, size_check=None))
    dilations = [layer.attention.operators[1].dilation for layer in layers]
    assert dilations == [4] + [1] * (len(layers) - 1)
    spatial = layers[0].attention.operators[1]
    assert isinstance(spatial, SignalSpatialAttention)
    assert spatial.lifting and spatial.lifting_pool == "max" and spatial.kernel_size == 7


@pytest.mark.parametrize(
    "name", [n for n in ATTENTIVE if n.startswith("af-") and n not in ROTMNIST_AF]
)
def test_other_af_models_use_undilated_attention(name):
    """The official CIFAR αF models do not dilate their attention."""
    layers = _attentive_layers(get_model(name, size_check=None, **_small(name)))
    assert all(layer.attention.operators[1].dilation == 1 for layer in layers)


def test_rotmnist_dilation_is_configurable():
    model = RotMNISTCNN(p4(), channels=2, attention="input", lifting_attention_dilation=1)
    assert _attentive_layers(model)[0].attention.operators[1].dilation == 1
    with pytest.raises(ValueError, match="lifting_attention_dilation"):
        RotMNISTCNN(p4(), channels=2, attention="full", lifting_attention_dilation=4)

"""Model zoo: rot-MNIST CNNs (Z2CNN, P4CNN, P4MCNN and attentive variants), CIFAR-10
All-CNN-C and ResNet44 on p4 / p4m, and (lazily) the group self-attention networks.

``get_model(name, **kw)`` builds one; ``available_models()`` lists the names.
"""

from .layers import ATTENTION_MODES, ConvFactory
from .registry import ModelInfo, available_models, get_model, model_info, register_model

__all__ = [
    "ATTENTION_MODES",
    "ConvFactory",
    "ModelInfo",
    "available_models",
    "get_model",
    "model_info",
    "register_model",
]

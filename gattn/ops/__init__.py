r"""Fused autograd operators, the floor below the layers (docs/attention.md,
docs/self_attention.md).

Small modules that know nothing of layers and import nothing of gattn but
:mod:`gattn.groups.validation`:

* :mod:`gattn.ops.im2col` — one shared im2col / col2im (patches of a padded tensor and the
  adjoint) in 1, 2 or 3 spatial dimensions;
* :mod:`gattn.ops.depthwise` — depthwise "same" correlation and its backward pass, channels last;
* :mod:`gattn.ops.lean_attention` — the lean (non-materialising) full attentive convolution;
* :mod:`gattn.ops.local_attention` — fused local self-attention;
* :mod:`gattn.ops.flex` — the same local self-attention through ``flex_attention`` and the
  backend choice of the self-attention layers.
"""

from .depthwise import depthwise_same, depthwise_same_backward
from .flex import flex_local_attention, select_backend
from .im2col import col2im, im2col, output_size, patch_view
from .lean_attention import (
    batch_chunk,
    response_maxima,
    response_means,
    response_statistics,
    spatially_attended_responses,
    summed_responses,
)
from .local_attention import LocalAttention, local_attention

__all__ = [
    "output_size",
    "patch_view",
    "im2col",
    "col2im",
    "depthwise_same",
    "depthwise_same_backward",
    "batch_chunk",
    "response_means",
    "response_maxima",
    "summed_responses",
    "spatially_attended_responses",
    "response_statistics",
    "LocalAttention",
    "local_attention",
    "flex_local_attention",
    "select_backend",
]

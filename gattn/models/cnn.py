r"""The rot-MNIST networks of [AGC] §5: Z2CNN, P4CNN and their attentive versions.

Seven layers on a 28×28 input (six 3×3 + one 4×4, no padding):

.. code-block:: text

    28 -lift3-> 26 -g3-> 24 -pool2-> 12 -g3-> 10 -g3-> 8 -g3-> 6 -g3-> 4 -g4-> 1

Layers 1–6: convolution (no bias) -> :class:`~gattn.nn.GroupBatchNorm` -> ReLU, with dropout
after layers 1, 3–6, as in the reference implementation (layer 2 goes straight into the 2×2
max-pool, without dropout); layer 7 maps to the classes; the logits are the maximum over
:math:`H` (rotation-invariant, exactly so for grid rotations of a 28-pixel input, since the
single 2×2 pool sees an even size, docs/analysis.md). Parameter count with :math:`C` channels,
:math:`n = |H|`, :math:`K` classes and no attention:

.. math:: 9C + 5\cdot 9 n C^2 + 16 n C K + 6\cdot 2C

P4CNN (:math:`C = 10, n = 4`): 90 + 18000 + 6400 + 120 = 24,610.
Z2CNN (:math:`C = 20, n = 1`, i.e. the same network on ``Rn(2)``): 21,620.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..groups import SemidirectProduct
from ..groups.validation import check_int
from ..nn import FieldConfig, GroupBatchNorm, HSamples, SpatialPool, resample
from .layers import ConvFactory

__all__ = ["RotMNISTCNN"]


class RotMNISTCNN(nn.Module):
    r"""Z2CNN / P4CNN / P4MCNN and attentive variants (one class, the group is a parameter).

    Args:
        group: :math:`\mathbb{R}^2 \rtimes H` (``Rn(2)`` for Z2CNN, ``p4()``, ``p4m()``).
        channels: width :math:`C` of layers 1–6.
        num_classes: :math:`K`.
        in_channels: input image channels.
        dropout: dropout probability after layers 1, 3–6 (none after layer 2, the block
            before the spatial max-pool, as in the reference implementation).
        attention: attention mode of every layer (see :class:`~gattn.models.layers.ConvFactory`).
        reduction: channel-attention ratio.
        residual: the paper's residual attention :math:`(1 - \alpha^-)\tilde f` in every
            attentive layer (default, as the official α-P4CNN / αF-P4CNN); ``False``: the plain
            form :math:`\alpha\tilde f` (docs/attention.md).
        lifting_attention_dilation: dilation of the lifting layer's input-level spatial
            attention kernel; ``None`` (default): 4 for ``attention="input"`` (the official
            αF-P4CNN), 1 otherwise.
        samples: number of :math:`H` samples (a continuous :math:`H` such as ``SE2()``, or
            field kernels on a finite one); shared by every layer (docs/continuous.md).
        kernel: ``"auto"``, ``"pixel"`` or ``"field"`` (:data:`gattn.nn.KERNEL_KINDS`).
        field: options of the field kernels (:class:`~gattn.nn.FieldConfig`).
        monte_carlo: redraw the samples at every training forward (eval: the grid).

    Shapes:
        ``x: (B, in_channels, 28, 28) -> logits (B, num_classes)``.
    """

    def __init__(
        self,
        group: SemidirectProduct,
        channels: int = 10,
        num_classes: int = 10,
        in_channels: int = 1,
        dropout: float = 0.3,
        attention: str | None = None,
        reduction: int = 2,
        residual: bool = True,
        lifting_attention_dilation: int | None = None,
        samples: int | None = None,
        kernel: str = "auto",
        field: FieldConfig | None = None,
        monte_carlo: bool = False,
    ) -> None:
        super().__init__()
        for name, v in (("channels", channels), ("num_classes", num_classes)):
            check_int(name, v)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        if lifting_attention_dilation is None:  # the official αF-P4CNN dilates by 4
            lifting_attention_dilation = 4 if attention == "input" else 1
        continuous = not group.stabiliser.is_finite
        if samples is not None or kernel == "field" or continuous:
            self.samples = HSamples(group, n=samples, monte_carlo=monte_carlo)
        else:
            self.samples = None
        make = ConvFactory(
            group,
            attention,
            reduction=reduction,
            residual=residual,
            lifting_attention_dilation=lifting_attention_dilation,
            kernel=kernel,
            samples=self.samples,
            field=field,
        )
        blocks: list[nn.Module] = []
        for i in range(6):
            conv = (
                make.lifting(in_channels, channels, 3)
                if i == 0
                else make.conv(channels, channels, 3)
            )
            block: list[nn.Module] = [conv, GroupBatchNorm(channels), nn.ReLU()]
            if i == 1:  # layer 2 -> 2x2 max-pool, no dropout in between (reference code)
                blocks += [nn.Sequential(*block), SpatialPool(2)]
            else:
                blocks.append(nn.Sequential(*block, nn.Dropout(dropout)))
        self.features = nn.Sequential(*blocks)
        self.classifier = make.conv(channels, num_classes, 4)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C_in, 28, 28) -> (B, K)``: max over :math:`H` and over the remaining space."""
        if self.samples is not None and self.training:
            resample(self)
        y = self.classifier(self.features(x))
        return y.amax(dim=(2, 3, 4))

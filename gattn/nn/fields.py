r"""Neural-field kernels: filters :math:`\psi(g^{-1}\tilde g)` given by a small network of the
relative group element, so they can be evaluated at any element (docs/continuous.md).

For :math:`G = \mathbb{R}^d \rtimes H` and :math:`g = (x, h)`, :math:`\tilde g = (\tilde x,
\tilde h)`, the kernel is a function of the smooth embedding

.. math:: e(g^{-1}\tilde g) = \Big(\tfrac{1}{r} A(h)^{-1}(\tilde x - x),\;
          \mathrm{features}(h^{-1}\tilde h)\Big)

(``r`` the kernel radius in pixels), times a radial window that vanishes outside the disc /
ball of radius :math:`r + \tfrac12` pixels, so that a rotated kernel never loses mass at the
corners of its ``k^d`` support. :class:`FieldBank` evaluates it once per forward, on the pixel
offsets times the :math:`H` samples, and folds the quadrature weights in:

.. math:: \text{lifting: } \frac{\psi(A(h_i)^{-1} y)}{|\det A(h_i)|}, \qquad
          \text{group: } \psi\big(A(h_i)^{-1} y,\, h_i^{-1}\tilde h_j\big)\, w_j ,

with :math:`w_j = \mu_j / |\det A(\tilde h_j)|` (:class:`~gattn.nn.samples.HSamples`). The
lifting factor makes the lifting layer equivariant under the left-regular representation also
for non-unimodular :math:`H` (scalings).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..groups import MatrixGroup, pixel_coordinates, relative_sample_features
from ..groups.validation import check_choice, check_int
from .samples import HSamples

__all__ = ["FieldConfig", "FieldKernel", "FieldBank", "FIELD_ACTIVATIONS"]

FIELD_ACTIVATIONS = ("gelu", "relu", "siren")


@dataclass(frozen=True)
class FieldConfig:
    r"""Options of a neural-field kernel.

    Args:
        width: hidden width of the MLP.
        depth: number of hidden layers (>= 1).
        activation: ``"gelu"``, ``"relu"`` or ``"siren"`` (:math:`\sin(\omega_0 \cdot)` layers
            with the SIREN initialisation).
        omega0: the SIREN frequency :math:`\omega_0` (``"siren"`` only).
        window: multiply by the radial window (recommended: without it rotated kernels are cut
            by the square support).
    """

    width: int = 32
    depth: int = 2
    activation: str = "gelu"
    omega0: float = 3.0
    window: bool = True

    def __post_init__(self) -> None:
        check_int("width", self.width, 1)
        check_int("depth", self.depth, 1)
        check_choice("activation", self.activation, FIELD_ACTIVATIONS)
        if not (isinstance(self.omega0, (int, float)) and math.isfinite(self.omega0)) or (
            self.omega0 <= 0
        ):
            raise ValueError(f"omega0 must be a positive finite number, got {self.omega0!r}")
        if not isinstance(self.window, bool):
            raise TypeError(f"window must be a bool, got {self.window!r}")


class _Sine(nn.Module):
    def __init__(self, omega0: float) -> None:
        super().__init__()
        self.omega0 = float(omega0)

    def forward(self, x: Tensor) -> Tensor:
        return torch.sin(self.omega0 * x)


class FieldKernel(nn.Module):
    r"""An MLP / SIREN :math:`\psi: \mathbb{R}^{F} \to \mathbb{R}^{C_\text{out} \times
    C_\text{in}}` of the relative-element embedding.

    Args:
        in_features: :math:`F` (``d`` position coordinates plus the stabiliser's features).
        out_features: :math:`C_\text{out} C_\text{in}`.
        config: :class:`FieldConfig`.

    Shapes:
        ``u: (..., F) -> (..., C_out * C_in)``.
    """

    def __init__(self, in_features: int, out_features: int, config: FieldConfig) -> None:
        super().__init__()
        check_int("in_features", in_features, 1)
        check_int("out_features", out_features, 1)
        layers: list[nn.Module] = []
        width = config.width
        fan = in_features
        for i in range(config.depth):
            lin = nn.Linear(fan, width)
            if config.activation == "siren":
                bound = 1.0 / fan if i == 0 else math.sqrt(6.0 / fan) / config.omega0
                nn.init.uniform_(lin.weight, -bound, bound)
                layers += [lin, _Sine(config.omega0)]
            else:
                layers += [lin, nn.GELU() if config.activation == "gelu" else nn.ReLU()]
            fan = width
        self.hidden = nn.Sequential(*layers)
        self.out = nn.Linear(fan, out_features)
        self.in_features = in_features
        self.out_features = out_features

    def forward(self, u: Tensor) -> Tensor:
        return self.out(self.hidden(u))

    @torch.no_grad()
    def rescale(self, values: Tensor, rms: float) -> None:
        """Scale the last layer so that ``values`` (anything linear in it, e.g. a filter bank
        built from this field) would have root mean square ``rms`` (an initialisation)."""
        current = float(values.detach().double().pow(2).mean().sqrt())
        if current > 0 and math.isfinite(current):
            self.out.weight.mul_(rms / current)
            self.out.bias.mul_(rms / current)


def _window(radius_px: Tensor, r: float) -> Tensor:
    """1 inside radius ``r``, a cosine taper to 0 at ``r + 1/2`` (pixels): the disc inscribed
    in the ``k^d`` pixel cells, the largest support every rotation maps onto itself."""
    t = ((radius_px - r) / 0.5).clamp(0.0, 1.0)
    return 0.5 * (1.0 + torch.cos(math.pi * t))


class FieldBank(nn.Module):
    r"""The filter bank of a lifting or group convolution with a neural-field kernel.

    Args:
        stabiliser: :math:`H` (finite or continuous) acting on :math:`\mathbb{R}^d`.
        samples: the samples :math:`h_i` of the output and (for group input) :math:`\tilde h_j`
            of the input group axis: a shared :class:`~gattn.nn.samples.HSamples`.
        in_channels, out_channels: channel counts.
        kernel_size: ``k``: the support is ``k^d`` pixels.
        group_input: filters on :math:`G` (group convolution) rather than :math:`\mathbb{R}^d`.
        config: the field's :class:`FieldConfig`.

    Attributes:
        field: the :class:`FieldKernel`. exact: ``False`` (no pixel gather).

    Returns (``forward()``):
        ``(C_out N, C_in [N_in], *k^d)``, output channel ``c * N + i``, input ``c~ * N_in + j``.
    """

    exact = False

    def __init__(
        self,
        stabiliser: MatrixGroup,
        samples: HSamples,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        group_input: bool,
        config: FieldConfig | None = None,
    ) -> None:
        super().__init__()
        config = config or FieldConfig()
        d = stabiliser.action_dim
        self.stabiliser = stabiliser
        self.samples = samples
        self.group_input = bool(group_input)
        self.kernel_size = check_int("kernel_size", kernel_size, 1)
        self.in_channels, self.out_channels, self.dims = in_channels, out_channels, d
        self.config = config
        self.radius = max((kernel_size - 1) / 2, 0.5)
        coords = pixel_coordinates(*([kernel_size] * d)).reshape(-1, d).to(torch.float64)
        self.register_buffer("offsets", coords, persistent=False)  # (k^d, d), (x, y, z)
        n_feat = 0
        if self.group_input:
            probe = self.samples.elements[:1]
            n_feat = int(stabiliser.features(probe).reshape(1, -1).shape[1])
        self.field = FieldKernel(d + n_feat, out_channels * in_channels, config)
        self._calibrate()

    def _calibrate(self) -> None:
        """Scale the last layer so the bank's root mean square is He's ``sqrt(2 / fan_in)``."""
        with torch.no_grad():
            self.field.rescale(self.forward(), math.sqrt(2.0 / self.fan_in))

    @property
    def fan_in(self) -> int:
        """Inputs per output: ``C_in k^d`` (times ``N`` for group input)."""
        n = self.samples.order if self.group_input else 1
        return self.in_channels * self.kernel_size**self.dims * n

    def embedding(self) -> tuple[Tensor, Tensor]:
        r"""The field's inputs and the window times the weights.

        Returns:
            ``u: (N, [N_in,] k^d, F)`` and ``scale: (N, [N_in,] k^d)`` (float64).
        """
        stab = self.stabiliser
        h = self.samples.elements
        a_inv = torch.linalg.inv(stab.matrix(h, dtype=torch.float64))  # (N, d, d)
        pos = torch.einsum("nij,pj->npi", a_inv, self.offsets)  # (N, k^d, d)
        scale = (
            _window(pos.norm(dim=-1), self.radius)
            if self.config.window
            else torch.ones(pos.shape[:-1], dtype=torch.float64, device=pos.device)
        )
        u = pos / self.radius
        if not self.group_input:
            det = stab.det(h).abs().to(torch.float64)
            return u, scale / det[:, None]
        n = m = h.shape[0]
        feat = relative_sample_features(stab, h)  # (N, N, F): features(h_i^-1 h_j)
        kd = pos.shape[1]
        u = torch.cat(
            [
                u[:, None].expand(n, m, kd, self.dims),
                feat[:, :, None].expand(n, m, kd, feat.shape[-1]),
            ],
            -1,
        )
        scale = scale[:, None] * self.samples.weights.to(scale)[None, :, None]
        return u, scale

    def forward(self) -> Tensor:
        weight = self.field.out.weight
        u, scale = self.embedding()
        psi = self.field(u.to(weight.dtype))  # (N, [M,] k^d, C_out C_in)
        psi = psi * scale.to(weight.dtype)[..., None]
        c_out, c_in, k, d = self.out_channels, self.in_channels, self.kernel_size, self.dims
        n = psi.shape[0]
        if self.group_input:
            m = psi.shape[1]
            psi = psi.reshape(n, m, k**d, c_out, c_in).permute(3, 0, 4, 1, 2)
            return psi.reshape(c_out * n, c_in * m, *([k] * d))
        psi = psi.reshape(n, k**d, c_out, c_in).permute(2, 0, 3, 1)
        return psi.reshape(c_out * n, c_in, *([k] * d))

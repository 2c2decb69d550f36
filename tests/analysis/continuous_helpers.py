"""Shared pieces of the continuous-group measuring tests: SE(2) field networks, smooth inputs,
and deliberately wrong layers the tools must catch."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gattn.groups import SE2, pixel_coordinates
from gattn.nn import GroupConv, LiftingConv
from gattn.nn.fields import FieldBank

SIZE = 33


def rotation(deg: float, group=None) -> torch.Tensor:
    """The element (0, R(deg)) of SE(2)."""
    group = group or SE2()
    return group.embed(torch.tensor(math.radians(deg), dtype=torch.float64), dtype=torch.float64)


def field_net(n: int = 8, seed: int = 0) -> nn.Sequential:
    """LiftingConv + GroupConv on SE(2) with ``n`` shared samples (field kernels, float64)."""
    torch.manual_seed(seed)
    lift = LiftingConv(SE2(), 3, 4, 5, samples=n, padding=2).double()
    conv = GroupConv(SE2(), 4, 4, 5, samples=lift.samples, padding=2).double()
    return nn.Sequential(lift, nn.ReLU(), conv)


def pixel_net(n: int = 8, seed: int = 0) -> nn.Sequential:
    """The same shape with today's interpolated k x k pixel kernels on SE(2, C_n)."""
    torch.manual_seed(seed)
    lift = LiftingConv(SE2(n), 3, 4, 5, padding=2).double()
    conv = GroupConv(SE2(n), 4, 4, 5, padding=2).double()
    return nn.Sequential(lift, nn.ReLU(), conv)


def smooth_input(seed: int = 0, size: int = SIZE, channels: int = 3, sigma: float = 2.0):
    """Gaussian-blurred noise (sigma pixels) under a smooth radial envelope that is ~0 at the
    disc's edge, so the disc mask cuts nothing and interpolation sees a band-limited signal."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(1, channels, size, size, dtype=torch.float64, generator=gen)
    r = int(3 * sigma)
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(channels, 1, 1, -1), padding=(0, r), groups=channels)
    x = F.conv2d(x, k.view(1, 1, -1, 1).expand(channels, 1, -1, 1), padding=(r, 0), groups=channels)
    rad = pixel_coordinates(size, size).norm(dim=-1)
    return x * torch.exp(-((rad / (size / 5)) ** 4))


class AbsoluteFieldBank(FieldBank):
    """A WRONG group-convolution kernel: the field reads the absolute input sample
    features(h~_j) instead of the relative element features(h_i^{-1} h~_j)."""

    def embedding(self):
        u, scale = super().embedding()
        stab = self.stabiliser
        ht = self.samples.elements
        feat = stab.features(ht).reshape(ht.shape[0], -1).to(torch.float64)
        n, m, kd = u.shape[:3]
        u = u.clone()
        u[..., self.dims :] = feat[None, :, None].expand(n, m, kd, feat.shape[-1])
        return u, scale


def wrong_field_net(seed: int = 0) -> nn.Sequential:
    """:func:`field_net` whose GroupConv ignores the relative element."""
    net = field_net(seed=seed)
    conv = net[2]
    good = conv.transform
    bad = AbsoluteFieldBank(SE2().stabiliser, conv.samples, 4, 4, 5, True).double()
    bad.load_state_dict(good.state_dict())
    conv.transform = bad
    return net

"""CUDA path: the same layers, on the GPU, in float32 (skipped without a CUDA device)."""

from __future__ import annotations

import pytest
import torch

from gattn.groups import p4, p4m
from gattn.nn import GroupConv, LiftingConv
from gattn.testing import assert_equivariant

pytestmark = pytest.mark.cuda


@pytest.mark.parametrize("group", [p4(), p4m()], ids=lambda g: g.name)
def test_conv_equivariant_on_cuda(group) -> None:
    dev = torch.device("cuda")
    lift = LiftingConv(group, 2, 3, 3).to(dev)
    conv = GroupConv(group, 3, 3, 3, padding=1).to(dev)
    x = torch.randn(2, 2, 12, 12, device=dev)
    assert_equivariant(lambda t: conv(lift(t)), group, x)


def test_cpu_and_cuda_agree() -> None:
    conv = GroupConv(p4m(), 3, 3, 3)
    x = torch.randn(2, 3, 8, 9, 9)
    ref = conv(x)
    out = conv.cuda()(x.cuda()).cpu()
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)

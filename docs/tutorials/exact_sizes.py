"""Tutorial: find the input sizes that keep your network exactly equivariant.

A stride-s layer (kernel k, padding p) on an n-pixel axis keeps exact rotation equivariance only
if (n + 2p - k) mod s = 0, at every subsampling layer, with sizes propagated through the network
(docs/analysis.md, [UAE]). ``gattn.analysis.exact_input_sizes`` does the propagation for any
model; here we check its prediction against the measured equivariance error.
Run: ``python docs/tutorials/exact_sizes.py``.
"""

from __future__ import annotations

import torch
from torch import nn

from gattn.analysis import exact_input_sizes
from gattn.groups import p4
from gattn.nn import GlobalPool, GroupConv, LiftingConv, SpatialPool
from gattn.testing import assert_equivariant


def my_network() -> nn.Module:
    """lifting 3x3 -> 2x2 max-pool (stride 2) -> group conv 3x3, stride 2, padding 1 -> pool."""
    g = p4()
    torch.manual_seed(0)
    return nn.Sequential(
        LiftingConv(g, 1, 4, 3),
        SpatialPool(2),
        GroupConv(g, 4, 4, 3, stride=2, padding=1),
        GlobalPool(),
    ).double()


def measured_error(net: nn.Module, size: int) -> float:
    x = torch.randn(1, 1, size, size, dtype=torch.float64)
    return assert_equivariant(net, p4(), x, atol=float("inf")).relative


def main() -> None:
    net = my_network()
    report = exact_input_sizes(net, sizes=range(8, 33))
    print(f"exact sizes in 8..32: {report.exact}")
    # n - 2 must be even (2x2 pool) and m = (n - 2)/2 odd (stride-2 conv: (m + 2 - 3) mod 2 = 0)
    assert report.exact == [n for n in range(8, 33) if (n - 2) % 4 == 2]
    print(report.explain(16))
    for size in (14, 16):
        err = measured_error(net, size)
        exact = report.is_exact(size)
        print(f"size {size}: predicted exact = {exact}, measured relative error {err:.1e}")
        assert (err < 1e-10) == exact


if __name__ == "__main__":
    main()

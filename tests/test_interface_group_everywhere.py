"""A finite group defined against the interface alone (``interface_groups.ShuffledC4``: a
16-line ``MatrixGroup`` subclass with int64 elements listed by ``grid()`` as 0, 2, 1, 3) runs
through every layer — lifting / group convolution, every attention mode, lifting / group
self-attention, pooling, batch norm — and every tool: ``check_group_axioms``,
``check_theorem1``, ``assert_equivariant``, ``equivariance_error``, ``exact_input_sizes``.

Every check is exact (float64, relative error <= 1e-10): the group's elements map the pixel
lattice onto itself, so no interpolation is involved anywhere.
"""

from __future__ import annotations

import pytest
import torch
from interface_groups import ShuffledC4
from torch import nn

from gattn.analysis import equivariance_error, exact_input_sizes
from gattn.attention import ATTENTION_MODES, AttentiveGroupConv, AttentiveLiftingConv
from gattn.groups import Image, SemidirectProduct, finite_tables, module_layouts
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
from gattn.testing import assert_equivariant, check_group_axioms, check_theorem1

F64 = torch.float64
TOL = 1e-10
H = ShuffledC4()
G = SemidirectProduct(H, lattice=True)


def test_axioms_of_the_interface_group() -> None:
    check_group_axioms(H)
    check_group_axioms(G)
    assert finite_tables(H).elements.tolist() == [0, 2, 1, 3]


@pytest.mark.parametrize("mode", ATTENTION_MODES, ids=str)
def test_every_attention_mode(mode) -> None:
    torch.manual_seed(0)
    lift = AttentiveLiftingConv(G, 2, 4, 3, attention=mode).double()
    group = AttentiveGroupConv(G, 4, 3, 3, attention=mode).double()
    net = nn.Sequential(lift, nn.ReLU(), group)
    assert module_layouts(net) == (lift.in_layout, group.out_layout)
    report = assert_equivariant(net, G, torch.randn(2, 2, 11, 11, dtype=F64), atol=TOL)
    assert report.relative <= TOL


@pytest.mark.parametrize("mode", [m for m in ATTENTION_MODES if m is not None])
def test_theorem1_for_every_operator(mode) -> None:
    """The operators the layers build satisfy Theorem 1; their inputs are random tensors of the
    layout each operator declares."""
    torch.manual_seed(1)
    for layer in (
        AttentiveLiftingConv(G, 2, 3, 3, attention=mode),
        AttentiveGroupConv(G, 2, 3, 3, attention=mode),
    ):
        op = layer.attention.double()
        layout = op.in_layout
        n = finite_tables(H).order
        if type(layout).__name__ == "PairSignal":
            n_in = 1 if layout.lifting else n
            f = torch.randn(2, 3, n, 2, n_in, 7, 7, dtype=F64)
        elif isinstance(layout, Image):
            f = torch.randn(2, layout.channels or 2, 7, 7, dtype=F64)
        else:
            f = torch.randn(2, layout.channels or 2, n, 7, 7, dtype=F64)
        report = check_theorem1(op, G, f, atol=TOL, raise_on_failure=True)
        assert report.relative <= TOL


@pytest.mark.parametrize("patch", [3, None], ids=["local", "global"])
def test_self_attention(patch) -> None:
    torch.manual_seed(2)
    net = nn.Sequential(
        LiftingSelfAttention(G, 2, 4, heads=2, patch_size=patch),
        GroupSelfAttention(G, 4, 4, heads=2, patch_size=patch),
    ).double()
    report = assert_equivariant(net, G, torch.randn(2, 2, 7, 7, dtype=F64), atol=TOL)
    assert report.relative <= TOL


def _network() -> nn.Sequential:
    return nn.Sequential(
        LiftingConv(G, 1, 4, 3),
        GroupBatchNorm(4, group=G),
        nn.ReLU(),
        GroupConv(G, 4, 4, 3, stride=2),
        SpatialPool(2, group=G),
        GroupPool("max", group=G),
        GlobalPool(),
    ).double()


def test_pooling_batch_norm_and_the_tools() -> None:
    torch.manual_seed(3)
    net = _network().eval()
    sizes = exact_input_sizes(net, range(9, 30), group=G)
    # 15 -> 13 (3x3) -> 6 (3x3, stride 2: (13 - 3) % 2 == 0) -> 3 (2x2 pool
    # on an even size); 13 -> 11 -> 5 (odd size into the 2x2 pool); 14 -> 12 ((12 - 3) % 2 != 0)
    assert 15 in sizes.exact and 13 not in sizes.exact and 14 not in sizes.exact
    for size in (15, 13, 14):
        x = torch.randn(2, 1, size, size, dtype=F64)
        report = equivariance_error(net, x, G)
        if size in sizes.exact:
            assert report.output_error() <= TOL
            assert_equivariant(net, G, x, atol=TOL)
        else:  # predicted inexact: measured inexact
            assert report.output_error() > 1e-6

"""Lifting and group convolutions: exact equivariance, filter banks, bad input."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gattn.groups import E2, SE2, Rn, finite_tables, p4, p4m
from gattn.nn import GroupConv, GroupPool, LiftingConv, SpatialPool
from gattn.nn.kernels import KernelTransform
from gattn.testing import EquivarianceError, assert_equivariant, group_signals, images

GRID_GROUPS = [p4(), p4m(), SE2(2), E2(1), E2(2), Rn(2)]


def exact_elements(group):
    t = finite_tables(group.stabiliser)
    return [group.embed(h) for h, ok in zip(t.elements, t.lattice_preserving) if bool(ok)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("group", GRID_GROUPS, ids=lambda g: g.name)
@given(data=st.data())
def test_lifting_and_group_conv_equivariant(group, dtype, data) -> None:
    size = data.draw(st.integers(4, 11), label="size")
    k = data.draw(st.sampled_from([1, 2, 3, 4]), label="kernel")
    pad = data.draw(st.integers(0, 2), label="padding")
    c_in, c_out = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    torch.manual_seed(data.draw(st.integers(0, 1000)))
    lift = LiftingConv(group, c_in, c_out, k, padding=pad).to(dtype)
    conv = GroupConv(group, c_out, c_in, k, padding=pad).to(dtype)
    x = data.draw(images(channels=c_in, size=size, dtype=dtype))
    assert_equivariant(lift, group, x)
    f = data.draw(group_signals(group, channels=c_out, size=size, dtype=dtype))
    assert_equivariant(conv, group, f)


def test_non_grid_exact_group_is_exact_on_its_grid_subgroup() -> None:
    g = SE2(8)
    conv = GroupConv(g, 2, 3, 3, padding=1).double()
    x = torch.randn(2, 2, 8, 9, 9, dtype=torch.float64)
    report = assert_equivariant(conv, g, x, g=exact_elements(g))
    assert report.relative < 1e-10


def test_filter_bank_gather_equals_sampling_matrices() -> None:
    """The exact gather path and the interpolation-matrix path agree on p4m."""
    stab = p4m().stabiliser
    t = KernelTransform(stab, 3, group_input=True)
    assert t.exact
    psi = torch.randn(2, 3, 8, 3, 3, dtype=torch.float64)
    bank = t(psi)
    t.exact = False  # force the einsum path with the (permutation) sampling matrices
    t.index = finite_tables(stab).relative.reshape(-1)
    assert torch.equal(t(psi), bank)


class WrongRollGroupConv(GroupConv):
    """A hand-coded roll of the group axis (cyclic shift by h) instead of h^{-1} h~ read
    off the Cayley table: right for rotations, wrong for mirrors."""

    def filter_bank(self):
        n, k = self.order, self.kernel_size
        psi = self.weight
        rot = n // 2
        banks = []
        for h in range(n):
            idx = [(j - h) % rot + (rot if (j >= rot) != (h >= rot) else 0) for j in range(n)]
            w = psi[:, :, idx]
            w = torch.rot90(w, h % rot, dims=(-2, -1))
            banks.append(w)
        bank = torch.stack(banks, 1)
        return bank.reshape(self.out_channels * n, self.in_channels * n, k, k)


def test_hand_coded_roll_is_caught_on_random_signals() -> None:
    torch.manual_seed(0)
    layer = WrongRollGroupConv(p4m(), 2, 2, 3).double()
    x = torch.randn(1, 2, 8, 7, 7, dtype=torch.float64)
    with pytest.raises(EquivarianceError):
        assert_equivariant(layer, p4m(), x)


def test_invariant_network_exact() -> None:
    g = p4m()
    net = torch.nn.Sequential(
        LiftingConv(g, 1, 4, 3),
        torch.nn.ReLU(),
        SpatialPool(2),
        GroupConv(g, 4, 4, 3),
        GroupPool("max"),
    ).double()
    x = torch.randn(2, 1, 12, 12, dtype=torch.float64)
    assert_equivariant(net, g, x)


def test_conv_matches_direct_formula() -> None:
    """GroupConv equals the defining sum, written out with loops over h, h~ and offsets."""
    g = p4m()
    torch.manual_seed(1)
    conv = GroupConv(g, 2, 1, 3, bias=False).double()
    x = torch.randn(1, 2, 8, 5, 5, dtype=torch.float64)
    out = conv(x)
    tables = finite_tables(g.stabiliser)
    mats = tables.matrices
    psi = conv.weight[0]  # (C_in, |H|, 3, 3)
    ref = torch.zeros(8, 3, 3, dtype=torch.float64)
    for h in range(8):
        a_inv = torch.linalg.inv(mats[h])
        for i in range(3):
            for j in range(3):
                total = 0.0
                for ht in range(8):
                    rel = int(tables.cayley[tables.inverses[h], ht])
                    for dr in (-1, 0, 1):
                        for dc in (-1, 0, 1):
                            off = torch.tensor([dc, -dr], dtype=torch.float64)  # (x, y), y up
                            src = a_inv @ off
                            kc, kr = int(round(float(src[0]))) + 1, 1 - int(round(float(src[1])))
                            total += (
                                x[0, :, ht, i + 1 + dr, j + 1 + dc] * psi[:, rel, kr, kc]
                            ).sum()
                ref[h, i, j] = total
    assert torch.allclose(out[0, 0], ref, atol=1e-12)


def test_bad_inputs() -> None:
    conv = GroupConv(p4(), 3, 4, 3)
    with pytest.raises(ValueError, match="channels"):
        conv(torch.randn(1, 2, 4, 8, 8))
    with pytest.raises(ValueError, match=r"group axis length 8.*\|H\| = 4"):
        conv(torch.randn(1, 3, 8, 8, 8))
    with pytest.raises(ValueError, match="group signal"):
        conv(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match="kernel_size 3 is larger"):
        conv(torch.randn(1, 3, 4, 2, 2))
    with pytest.raises(ValueError, match="continuous: give the number of H samples"):
        LiftingConv(SE2(), 1, 1, 3)  # a continuous H needs samples (docs/continuous.md)
    with pytest.raises(ValueError, match="finite one"):
        LiftingConv(SE2(), 1, 1, 3, kernel="pixel")  # pixel kernels need a finite H
    with pytest.raises(TypeError, match="affine group"):
        LiftingConv("p4", 1, 1, 3)
    with pytest.raises(ValueError, match="kernel_size must be an integer"):
        LiftingConv(p4(), 1, 1, 0)

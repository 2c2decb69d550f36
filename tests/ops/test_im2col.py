"""The shared im2col / col2im of gattn.ops in 1, 2 and 3 dimensions, against torch's own
convolutions and unfold (float64), and the adjoint identity <im2col x, c> = <x, col2im c>."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gattn.ops.im2col import col2im, im2col, output_size, patch_view

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CASES = [  # (d, spatial size, kernel, stride, dilation)
    (1, (11,), 3, 1, 1),
    (1, (12,), 4, 3, 2),
    (2, (9, 8), 3, 1, 1),
    (2, (10, 7), (3, 2), (2, 1), (1, 2)),
    (3, (6, 7, 5), 3, 2, 1),
    (3, (7, 6, 6), (2, 3, 1), 1, (2, 1, 1)),
]


def _per_axis(v, d):
    return (v,) * d if isinstance(v, int) else tuple(v)


@pytest.mark.parametrize(("d", "size", "k", "stride", "dil"), CASES)
def test_im2col_is_the_correlation(d, size, k, stride, dil):
    """weights @ im2col(x) equals conv{d}d: patches in conv weight order, positions row-major."""
    torch.manual_seed(0)
    ks, ss, ds = _per_axis(k, d), _per_axis(stride, d), _per_axis(dil, d)
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    w = torch.randn(4, 3, *ks, dtype=torch.float64)
    out = [output_size(n, kk, s, 0, dl) for n, kk, s, dl in zip(size, ks, ss, ds)]
    cols = im2col(x, k, out, stride, dil)  # (2, 3, K, L)
    assert cols.shape == (2, 3, math.prod(ks), math.prod(out))
    y = torch.einsum("ock,bckl->bol", w.reshape(4, 3, -1), cols).reshape(2, 4, *out)
    ref = CONV[d](x, w, stride=ss, dilation=ds)
    assert ref.shape == y.shape
    assert (y - ref).abs().max() <= 1e-12


def test_im2col_2d_matches_unfold_exactly():
    x = torch.randn(2, 3, 9, 10)
    cols = im2col(x, 3, (4, 4), 2)
    ref = F.unfold(x, 3, stride=2).reshape(2, 3, 9, 16)
    assert torch.equal(cols, ref)


@pytest.mark.parametrize(("d", "size", "k", "stride", "dil"), CASES)
def test_patch_view_holds_the_same_patches(d, size, k, stride, dil):
    ks, ss, ds = _per_axis(k, d), _per_axis(stride, d), _per_axis(dil, d)
    x = torch.randn(2, 3, *size)
    out = [output_size(n, kk, s, 0, dl) for n, kk, s, dl in zip(size, ks, ss, ds)]
    view = patch_view(x, k, out, stride, dil)  # (2, 3, *out, *k)
    assert view.shape == (2, 3, *out, *ks)
    perm = (0, 1, *range(2 + d, 2 + 2 * d), *range(2, 2 + d))
    flat = view.permute(perm).reshape(2, 3, math.prod(ks), math.prod(out))
    assert torch.equal(flat, im2col(x, k, out, stride, dil))


@pytest.mark.parametrize(("d", "size", "k", "stride", "dil"), CASES)
def test_col2im_is_the_adjoint(d, size, k, stride, dil):
    torch.manual_seed(1)
    ks, ss, ds = _per_axis(k, d), _per_axis(stride, d), _per_axis(dil, d)
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    out = [output_size(n, kk, s, 0, dl) for n, kk, s, dl in zip(size, ks, ss, ds)]
    c = torch.randn(2, 3, math.prod(ks), math.prod(out), dtype=torch.float64)
    lhs = (im2col(x, k, out, stride, dil) * c).sum()
    rhs = (x * col2im(c, k, out, size, stride, dil)).sum()
    assert abs(float(lhs - rhs)) <= 1e-10 * max(1.0, abs(float(lhs)))


def test_col2im_2d_matches_fold_exactly():
    """Same additions in the same order as ``F.fold``: bit-identical (float32)."""
    torch.manual_seed(2)
    c = torch.randn(2, 3 * 25, 49)
    ref = F.fold(c, (7, 7), 5, padding=2)
    mine = col2im(c.reshape(2, 3, 25, 49), 5, (7, 7), (11, 11))[..., 2:9, 2:9]
    assert torch.equal(mine, ref)


def test_bad_arguments_raise_clear_errors():
    x = torch.randn(1, 1, 4, 4, 4, 4)
    with pytest.raises(ValueError, match="1, 2 or 3 spatial dimensions"):
        im2col(x, 2, (3, 3, 3, 3))
    with pytest.raises(ValueError, match="kernel_size must be an integer or 2 integers"):
        im2col(x, (2, 2, 2), (3, 3))
    with pytest.raises(ValueError, match="stride must be an integer >= 1"):
        im2col(x, 2, (3, 3), stride=0)
    with pytest.raises(ValueError, match="padded_shape must have 2 axes"):
        col2im(torch.zeros(1, 4, 9), 2, (3, 3), (4, 4, 4))

"""Per-layer measured equivariance error (equivariance_error)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from gattn.analysis import OUTPUT, equivariance_error, exact_input_sizes
from gattn.analysis.examples import p4cnn, strided_p4_cnn
from gattn.groups import SE2, p4, p4m

LAYERS = ["0", "3", "6", "7", "19", OUTPUT]  # lift, conv 2, pool, conv 3, last conv, output


@pytest.mark.parametrize("n", [27, 28, 29])
def test_p4cnn_measured_errors_match_the_rule(n: int) -> None:
    model = p4cnn(channels=4).double()
    x = torch.randn(1, 1, n, n, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    report = equivariance_error(model, x, p4(), layers=LAYERS)
    assert report.elements == ["rot0", "rot90", "rot180", "rot270"]
    for name in ("0", "3"):  # before the pool: always exact
        assert report.max_relative(name) <= 1e-10
    exact = exact_input_sizes(model, sizes=[n]).is_exact(n)
    for name in ("6", "7", "19", OUTPUT):
        if exact:
            assert report.max_relative(name) <= 1e-10
        else:  # misaligned pooling: order-one errors, not round-off
            assert report.max_relative(name) > 1e-2
            assert report.summed_error(name) > 1e-2
    assert report.get(OUTPUT, "rot0").relative == 0.0


def test_interpolated_angles_are_reported_separately() -> None:
    model = strided_p4_cnn().double()
    x = torch.randn(1, 1, 15, 15, dtype=torch.float64)
    els = [math.pi / 2, math.pi / 6, p4().embed(torch.tensor(2))]
    report = equivariance_error(model, x, p4(), elements=els, layers=["0", OUTPUT])
    assert report.elements == ["90deg", "30deg", "rot180"]
    assert not report.get("0", "90deg").interpolated
    assert report.get("0", "90deg").relative <= 1e-10
    e30 = report.get(OUTPUT, "30deg")
    # group signal output of p4: 30 deg is not in C4, so L_g is undefined there
    assert e30.interpolated and e30.relative is None and "not in the stabiliser" in e30.note
    assert "interpolated" in str(report)
    json.dumps(report.to_dict())


def test_interpolated_angle_on_images_with_a_continuous_group() -> None:
    # a rotation-invariant map (channel mean of squares) is equivariant for every angle;
    # the disc-masked interpolation error of a smooth input is small but not zero
    model = nn.Sequential(nn.Identity())
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 21), torch.linspace(-1, 1, 21), indexing="ij")
    x = torch.exp(-4 * ((xx - 0.2) ** 2 + yy**2)).double()[None, None]
    report = equivariance_error(model, x, SE2(), elements=[0.3], layers=["0"])
    err = report.get("0", "17.1887deg")
    # bilinear resampling of a smooth bump; both sides are resampled once so they agree
    # up to float noise (the identity commutes with the rotation exactly)
    assert err.interpolated and err.relative < 1e-10
    with pytest.raises(ValueError, match="elements"):
        equivariance_error(model, x, SE2())


def test_broken_layer_is_caught() -> None:
    # a deliberately non-equivariant layer: a fixed shift of the signal
    class Shift(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.roll(x, 1, dims=-1)

    model = nn.Sequential(strided_p4_cnn().double(), Shift())
    x = torch.randn(1, 1, 9, 9, dtype=torch.float64)
    report = equivariance_error(model, x, p4())
    assert report.max_relative("0.0") <= 1e-10
    assert report.max_relative("1") > 1e-2


def test_p4m_mirrors_and_signal_inputs() -> None:
    from gattn.nn import GroupConv

    g = p4m()
    conv = GroupConv(g, 2, 3, 3, stride=2, padding=1).double()
    x = torch.randn(1, 2, 8, 9, 9, dtype=torch.float64)
    report = equivariance_error(conv, x, g)
    assert len(report.elements) == 8 and report.max_relative() <= 1e-10
    report = equivariance_error(conv, torch.randn(1, 2, 8, 10, 10, dtype=torch.float64), g)
    assert report.max_relative(OUTPUT) > 1e-2


def test_bad_arguments() -> None:
    model = strided_p4_cnn()
    with pytest.raises(ValueError, match="x must be"):
        equivariance_error(model, torch.randn(3, 3), p4())
    with pytest.raises(ValueError, match="unknown module names"):
        equivariance_error(model, torch.randn(1, 1, 9, 9), p4(), layers=["nope"])
    with pytest.raises(ValueError, match="index 7"):
        equivariance_error(model, torch.randn(1, 1, 9, 9), p4(), elements=[7])
    with pytest.raises(TypeError, match="group"):
        equivariance_error(model, torch.randn(1, 1, 9, 9), "p4")  # type: ignore[arg-type]


def test_unrecognised_layout_gets_no_number() -> None:
    from gattn.nn import LiftingConv

    # (B, C, |H|, Y*X): the last two axes are not a spatial map, so no L_g can be applied
    model = nn.Sequential(LiftingConv(p4(), 1, 3, 3), nn.Flatten(start_dim=3)).double()
    report = equivariance_error(model, torch.randn(1, 1, 9, 9, dtype=torch.float64), p4())
    for layer in ("1", OUTPUT):
        assert all(
            e.relative is None and "not recognised" in e.note
            for e in report.entries
            if e.layer == layer
        )
        assert report.summed_error(layer) is None
    assert report.max_relative("0") <= 1e-10 and report.output_error() is None
    text = str(report)
    assert "summed over the non-identity elements" in text and "not measurable" in text
    assert "sum mean|err| g!=e" not in text


def test_channels_last_and_flattened_layouts_are_compared() -> None:
    from gattn.nn import LiftingConv

    class ChannelsLast(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.movedim(1, -1)  # (B, |H|, Y, X, C)

    class Flat(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.permute(0, 2, 3, 1, 4).flatten(1, 2)  # (B, Y*X, |H|, C)

    model = nn.Sequential(LiftingConv(p4(), 1, 3, 3), ChannelsLast(), Flat()).double()
    report = equivariance_error(model, torch.randn(1, 1, 9, 9, dtype=torch.float64), p4())
    assert report.get("1", "rot90").layout == "B,|H|,Y,X,C"
    assert report.get("2", "rot90").layout == "B,Y*X,|H|,C"
    for layer in ("1", "2"):
        assert all(e.relative is not None for e in report.entries if e.layer == layer)
        assert report.max_relative(layer) <= 1e-10


def test_zero_reference_output_gives_infinite_not_huge_relative_error():
    """L_g F(x) = 0 while F(L_g x) != 0: the relative error is infinite (it used to be the
    difference divided by the smallest float, about 1e306)."""
    import math

    import torch
    from torch import nn

    from gattn.analysis import OUTPUT, equivariance_error
    from gattn.groups import p4

    class LeftHalf(nn.Module):  # keeps the left half of the image: not rotation-equivariant
        def forward(self, x):
            out = torch.zeros_like(x)
            out[..., : x.shape[-1] // 2] = x[..., : x.shape[-1] // 2]
            return out

    x = torch.zeros(1, 1, 8, 8, dtype=torch.float64)
    x[..., 5:] = 1.0  # only on the right: F(x) = 0
    report = equivariance_error(LeftHalf(), x, p4(), layers=[OUTPUT])
    errors = [report.get(OUTPUT, label).relative for label in report.elements]
    assert errors[0] == 0.0  # the identity
    assert math.inf in errors  # the half turn moves the input to the kept half
    assert all(e == 0.0 or e == math.inf or e < 10 for e in errors)

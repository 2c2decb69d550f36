"""The size analysis in one and three dimensions: tracing 1-D / 3-D modules and functional
calls, per-axis arithmetic, the dimensionality taken from the group, and warnings."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gattn.analysis import (
    EquivarianceWarning,
    exact_input_sizes,
    explain_size,
    propagate,
    spatial_layers,
    warn_if_inexact,
)
from gattn.analysis.examples import strided_cube_cnn, strided_p1m_cnn
from gattn.groups import cube, p1m, p4


def test_conv1d_stride_two_needs_odd_lengths() -> None:
    model = nn.Sequential(nn.Conv1d(1, 2, 3, stride=2, padding=1), nn.MaxPool1d(2))
    report = exact_input_sizes(model, sizes=range(3, 20))
    assert report.dims == 1 and report.order == "execution"
    # conv: n odd, output (n + 1) / 2, which the 2-pool needs even: n = 3 mod 4
    assert report.exact == [3, 7, 11, 15, 19]
    why = report.explain(9)
    assert [s.outgoing for s in why.steps] == [(5,), (2,)]
    assert why.breaking.type == "MaxPool1d" and (why.nearest_below, why.nearest_above) == (7, 11)


def test_functional_1d_and_3d_calls_are_traced() -> None:
    class Functional1d(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.randn(2, 1, 3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = F.conv1d(x, self.weight, stride=2)
            return F.adaptive_max_pool1d(F.avg_pool1d(y, 3, stride=1), 4)

    # no group and no torch layer says what d is: functional-only models pass dims
    report = exact_input_sizes(Functional1d(), sizes=range(7, 16), dims=1)
    assert [s.type for s in report.layers] == [
        "F.conv1d",
        "F.avg_pool1d",
        "F.adaptive_max_pool1d",
    ]
    assert report.exact == [7, 9, 11, 13, 15]
    assert report.layers[2].output_size == (4,)

    class Functional3d(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.max_pool3d(x, kernel_size=(2, 3, 2), stride=(2, 3, 2))

    report = exact_input_sizes(Functional3d(), sizes=[(4, 6, 4), (4, 7, 4)], dims=3)
    assert report.layers[0].kernel_size == (2, 3, 2) and report.exact == [(4, 6, 4)]


def test_per_axis_tuples_and_axes_exact() -> None:
    conv = nn.Conv3d(1, 1, (3, 1, 3), stride=(2, 1, 2), padding=(1, 0, 1), dilation=(1, 1, 2))
    report = exact_input_sizes(nn.Sequential(conv), sizes=[(9, 10, 9), (9, 9, 10)])
    # depth: 9 + 2 - 3 = 8 even; height: stride 1; width: 9 + 2 - 5 = 6 even, 10 + 2 - 5 odd
    assert report.exact == [(9, 10, 9)]
    why = report.explain((9, 9, 10))
    assert not why.exact and why.axes_exact == (True, True, False)
    assert "width" in why.breaking.reason and "depth" not in why.breaking.reason
    assert why.nearest_below == (9, 9, 9) and why.nearest_above == (9, 9, 11)
    assert "inexact: width" in str(why)
    assert report.layers[0].effective_kernel == (3, 1, 5)


def test_modules_3d_adaptive_and_global() -> None:
    model = nn.Sequential(
        nn.MaxPool3d(2, ceil_mode=True),
        nn.AvgPool3d(3, stride=2, padding=1),
        nn.AdaptiveAvgPool3d((2, 1, 2)),
        nn.Flatten(),
    )
    report = exact_input_sizes(model, sizes=range(4, 30))
    steps = report.explain(10).steps
    assert [s.outgoing for s in steps] == [(5, 5, 5), (3, 3, 3), (2, 1, 2), None]
    assert steps[-1].kind == "global"
    # the 2-pool needs even n, the 3/2/1 pool odd n / 2
    assert report.exact == [6, 10, 14, 18, 22, 26]


def test_dimensionality_comes_from_the_group_not_the_rank() -> None:
    pool = nn.Sequential(nn.MaxPool3d((1, 2, 2)))
    # a 2-D group signal (B, C, |H|, Y, X) over p4: the 3-d pool's last two axes are space
    planar = exact_input_sizes(pool, sizes=[8, 9], input_shape_hint=(1, 1, 4, 8, 8), group=p4())
    assert planar.dims == 2 and planar.layers[0].kernel_size == (2, 2) and planar.exact == [8]
    # the same model without a group is a volume network
    volume = exact_input_sizes(pool, sizes=[8, (3, 8, 8)], input_shape_hint=(1, 1, 8, 8, 8))
    assert volume.dims == 3 and volume.layers[0].kernel_size == (1, 2, 2)
    assert volume.exact == [8, (3, 8, 8)]
    # gattn layers carry their group: p1m makes a rank-4 input a 1-D group signal
    assert exact_input_sizes(strided_p1m_cnn(), sizes=[9]).dims == 1
    assert exact_input_sizes(strided_cube_cnn(), sizes=[7, 9]).exact == [7]


def test_fewer_axes_than_the_network_is_reported() -> None:
    class SliceWise(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, c, z, y, w = x.shape
            out = F.max_pool2d(x.reshape(b, c * z, y, w), 2)
            return out.reshape(b, c, z, *out.shape[-2:])

    report = exact_input_sizes(SliceWise(), sizes=[8], dims=3)
    assert report.layers == [] and "not modelled" in report.note and "max_pool2d" in report.note


def test_bad_arguments() -> None:
    model = nn.Sequential(nn.Conv3d(1, 1, 3, stride=2))
    report = exact_input_sizes(model, sizes=[9])
    with pytest.raises(TypeError, match=r"size must be an int or \(depth, height, width\)"):
        report.explain((9, 9))
    with pytest.raises(TypeError, match="sizes entry"):
        exact_input_sizes(model, sizes=[(9, 9)])
    with pytest.raises(ValueError, match="dims must be 1, 2 or 3"):
        exact_input_sizes(model, dims=4)
    with pytest.raises(ValueError, match="disagrees with group"):
        exact_input_sizes(model, group=cube(), dims=2)
    with pytest.raises(TypeError, match="group must be a group"):
        exact_input_sizes(model, group="cube")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="input_shape_hint"):
        exact_input_sizes(model, input_shape_hint=(1, 1, 9, 9, 9, 9, 9))
    with pytest.raises(ValueError, match="describes 3 spatial axes, the input has 2"):
        propagate(spatial_layers(model, dims=3), 9, dims=2)


def test_explain_size_and_warning_on_volumes() -> None:
    model = strided_cube_cnn()
    assert explain_size(model, 11).exact and not explain_size(model, (11, 11, 9)).exact
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_if_inexact(model, (1, 1, 11, 11, 11)) is None
    with pytest.warns(EquivarianceWarning, match="11x11x9"):
        why = warn_if_inexact(model, (1, 1, 11, 11, 9))
    assert why is not None and why.axes_exact == (True, True, False)
    with pytest.raises(ValueError, match="3 spatial axes"):
        warn_if_inexact(model, (1, 1, 11, 11))


def test_one_dimensional_group_signals_trace_their_last_axis() -> None:
    model = strided_p1m_cnn()
    report = exact_input_sizes(model, sizes=range(5, 12), group=p1m())
    assert report.exact == [5, 7, 9, 11]
    assert report.layers[0].stride == (2,) and report.explain(10).steps[0].incoming == (10,)

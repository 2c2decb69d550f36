"""Size rule of SPEC §5: exact_input_sizes / explain_size."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gattn.analysis import exact_input_sizes, explain_size, propagate, spatial_layers
from gattn.analysis.examples import p4cnn, small_p4_cnn, strided_p4_cnn


def test_strided_conv_needs_odd_sizes() -> None:
    report = exact_input_sizes(strided_p4_cnn(), sizes=range(5, 30))
    assert report.order == "execution"
    assert report.exact == list(range(5, 30, 2))


def test_max_pool_needs_even_sizes() -> None:
    report = exact_input_sizes(small_p4_cnn(), sizes=range(6, 30))
    # 6 -> 4 -> 2 is too small for the last 3x3 conv
    assert report.exact == list(range(8, 30, 2))


def test_p4cnn_exact_at_28_only_approximate_at_27_and_29() -> None:
    report = exact_input_sizes(p4cnn())
    assert report.is_exact(28)
    assert not report.is_exact(27) and not report.is_exact(29)
    for n in (27, 29):
        why = report.explain(n)
        assert not why.exact
        assert why.breaking is not None and why.breaking.type == "SpatialPool"
        assert why.breaking.incoming == (n - 4, n - 4)
        assert (why.nearest_below, why.nearest_above) == ((26, 28) if n == 27 else (28, 30))
    assert "SpatialPool" in str(report.explain(27))


def test_explain_size_function_and_exact_size() -> None:
    why = explain_size(strided_p4_cnn(), 9)
    assert why.exact and why.breaking is None and why.nearest_below is None
    assert why.to_dict()["exact"] is True


def test_non_square_axes_are_independent() -> None:
    report = exact_input_sizes(strided_p4_cnn(), sizes=[(9, 9), (9, 10), (10, 9)])
    assert report.exact == [(9, 9)]
    why = report.explain((9, 10))
    assert "width" in why.breaking.reason and "height" not in why.breaking.reason
    assert why.nearest_below == (9, 9) and why.nearest_above == (9, 11)


def test_torch_layers_dilation_ceil_mode_adaptive() -> None:
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, stride=2, padding=1, dilation=2),  # effective kernel 5
        nn.MaxPool2d(3, 2, ceil_mode=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )
    report = exact_input_sizes(model, sizes=range(5, 30))
    steps = report.explain(11).steps
    # 11 + 2 - 5 = 8 even -> 5; ceil pool: 5 - 3 = 2 even -> 2; adaptive; invariant
    assert [s.outgoing for s in steps] == [(5, 5), (2, 2), (1, 1), None]
    assert report.is_exact(11)
    # 13 -> 6; (6 - 3) odd: ceil_mode takes a cut window (size 3 instead of floor's 2)
    step = report.explain(13).steps[1]
    assert step.ceil_mode and not step.exact and step.outgoing == (3, 3)
    assert "ceil_mode" in step.reason
    assert report.exact == [7, 11, 15, 19, 23, 27]


def test_same_padding_even_kernel_is_asymmetric() -> None:
    model = nn.Sequential(nn.Conv2d(1, 1, 4, padding="same"))
    report = exact_input_sizes(model, sizes=range(5, 12))
    assert report.exact == []
    assert "asymmetric" in report.explain(8).breaking.reason
    assert exact_input_sizes(nn.Conv2d(1, 1, 3, padding="same"), sizes=[7, 8]).exact == [7, 8]


def test_too_small_input_is_not_exact() -> None:
    report = exact_input_sizes(p4cnn(), sizes=range(8, 30))
    # 22 -> 20 -> 18 -> 9 (pool exact) -> 7 -> 5 -> 3 -> 1 -> 4x4 kernel, padding 1: 3 < 4
    assert 22 not in report.exact and not report.explain(22).steps[-1].outgoing
    assert report.exact[0] == 24


def test_execution_order_differs_from_registration_order() -> None:
    class Swapped(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pool = nn.MaxPool2d(2)  # registered first, runs second
            self.conv = nn.Conv2d(1, 1, 3, stride=2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.pool(self.conv(x))

    model = Swapped()
    assert [s.name for s in spatial_layers(model)] == ["pool", "conv"]
    report = exact_input_sizes(model, sizes=range(5, 20))
    assert [s.name for s in report.layers] == ["conv", "pool"]
    # conv needs odd n, output (n - 1)/2 must be even for the pool: n = 1 mod 4
    assert report.exact == [5, 9, 13, 17]


def test_fallback_to_registration_order_when_dry_run_fails() -> None:
    class Picky(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 1, 3, stride=2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("needs a special input")

    report = exact_input_sizes(Picky(), sizes=range(5, 10))
    assert report.order == "registration" and "dry run failed" in report.note
    assert report.exact == [5, 7, 9]


def test_propagate_stops_when_too_small() -> None:
    steps = propagate(spatial_layers(strided_p4_cnn()), 1)
    assert steps[-1].outgoing is not None  # 1 + 2 - 3 = 0: one output pixel, exact
    steps = propagate(spatial_layers(p4cnn()), 6)
    assert steps[-1].outgoing is None and "larger than" in steps[-1].reason


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="model"):
        exact_input_sizes("not a model")  # type: ignore[arg-type]
    report = exact_input_sizes(strided_p4_cnn(), sizes=[5])
    with pytest.raises(TypeError, match="size"):
        report.explain(5.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="size"):
        report.explain(0)
    with pytest.raises(ValueError, match="input_shape_hint"):
        exact_input_sizes(strided_p4_cnn(), input_shape_hint=(8,))


def test_3d_pool_on_group_signals_uses_the_plane_axes() -> None:
    """A MaxPool3d with kernel (1, 2, 2) over (|H|, Y, X) is a 2x2 spatial pool."""
    import torch

    from gattn.analysis import exact_input_sizes
    from gattn.groups import p4
    from gattn.nn import LiftingConv

    model = torch.nn.Sequential(LiftingConv(p4(), 1, 2, 3), torch.nn.MaxPool3d((1, 2, 2)))
    report = exact_input_sizes(model, sizes=range(8, 14))
    assert list(report.exact) == [8, 10, 12]

"""equivariance_error on continuous / sampled H (docs/continuous.md): per-layer errors, exact
elements exact, the others reported with their reference mode; bounds measured (see
test_assert_equivariant_continuous.py for how)."""

from __future__ import annotations

import math

import pytest
import torch
from continuous_helpers import field_net, pixel_net, smooth_input, wrong_field_net
from torch import nn

from gattn.analysis import equivariance_error
from gattn.groups import SE2
from gattn.nn import GlobalPool

BOUND = 0.05  # field network, 45°/30°/10°: measured <= 2.8e-2 (seeds 0-2)


def test_exact_and_non_exact_elements_with_their_modes():
    net = field_net()
    report = equivariance_error(
        net, smooth_input(sigma=3.0), SE2(), [math.pi / 2, math.pi / 4, math.pi / 6]
    )
    assert report.max_relative() <= 1e-10  # 90°: samples and lattice permuted
    out = {e.element: e for e in report.entries if e.layer == "output"}
    assert out["90deg"].mode == "exact" and not out["90deg"].interpolated
    assert out["45deg"].mode == "fixed samples" and out["30deg"].mode == "translated samples"
    assert 1e-6 < report.max_relative("output", interpolated=True) <= BOUND
    text = str(report)
    assert "30deg: translated samples" in text and "45deg: fixed samples" in text
    assert report.to_dict()["entries"][0]["mode"] == "exact"


def test_default_elements_are_the_exact_ones():
    report = equivariance_error(field_net(), smooth_input(), SE2())
    assert len(report.elements) == 4
    assert all(not e.interpolated for e in report.entries)
    assert report.max_relative() <= 1e-10


def test_wrong_layer_is_caught_at_90_degrees():
    report = equivariance_error(wrong_field_net(), smooth_input(sigma=3.0), SE2(), [math.pi / 2])
    assert report.get("output", "90deg").relative > 1e-3


def test_field_beats_pixel_kernels_per_layer_at_45():
    x = smooth_input(sigma=3.0)
    field = equivariance_error(field_net(), x, SE2(), [math.pi / 4]).get("output", "45deg")
    pixel = equivariance_error(pixel_net(), x, SE2(8), [1]).get("output", "rot45")
    assert pixel.relative > 10 * field.relative


def test_invariant_output_fixed_vs_translated():
    """Pooled over H and space: 'auto' compares with the samples fixed (the error holds the
    H-quadrature error), 'translated' with the samples translated; both are reported."""
    net = nn.Sequential(field_net(), GlobalPool(dims=2))
    x = smooth_input(sigma=3.0)
    fixed = equivariance_error(net, x, SE2(), [math.pi / 6]).get("output", "30deg")
    moved = equivariance_error(net, x, SE2(), [math.pi / 6], reference="translated")
    moved = moved.get("output", "30deg")
    assert fixed.mode == "fixed samples" and moved.mode == "translated samples"
    assert fixed.relative is not None and moved.relative is not None
    assert fixed.relative <= BOUND and moved.relative <= BOUND


def test_bad_input():
    net, x = field_net(), smooth_input()
    with pytest.raises(ValueError, match="reference must be"):
        equivariance_error(net, x, SE2(), [0.5], reference="nope")
    with pytest.raises(TypeError, match="elements entries"):
        equivariance_error(net, x, SE2(), ["30deg"])
    with pytest.raises(ValueError, match="sample index"):
        equivariance_error(net, x, SE2(), [8])
    with pytest.raises(ValueError, match="shape"):
        equivariance_error(net, x, SE2(), [torch.zeros(2, dtype=torch.float64)])

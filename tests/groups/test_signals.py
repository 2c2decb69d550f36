"""The SPEC §2 convention, pinned: rotation by +90° is torch.rot90, the mirror is a flip."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gattn.groups import E2, SE2, is_grid_exact, p4, p4m, transform_image, transform_signal
from gattn.testing import group_signals, image_sizes


@given(size=image_sizes(2, 9), k=st.integers(0, 3), s=st.integers(0, 1))
def test_convention_matches_rot90_and_flip(size: int, k: int, s: int) -> None:
    g4m = p4m()
    img = torch.randn(2, 3, size, size)
    g = g4m.embed(torch.tensor(s * 4 + k))
    ref = torch.rot90(torch.flip(img, dims=(-1,)) if s else img, k, dims=(-2, -1))
    assert torch.equal(transform_image(g4m, g, img), ref)
    assert is_grid_exact(g4m, g, size)


def test_positive_angle_turns_counterclockwise() -> None:
    img = torch.zeros(1, 1, 5, 5)
    img[0, 0, 2, 4] = 1.0  # the pixel right of the centre: (x, y) = (2, 0)
    out = transform_image(p4(), p4().embed(torch.tensor(1)), img)
    assert out[0, 0, 0, 2] == 1.0  # now above the centre: (0, 2)


@given(group_signals(p4m(), size=st.integers(3, 8)))
def test_signal_action_is_a_homomorphism(x: torch.Tensor) -> None:
    g = p4m()
    for a in range(8):
        for b in (1, 4, 6):
            ga, gb = g.embed(torch.tensor(a)), g.embed(torch.tensor(b))
            lhs = transform_signal(g, g.product(ga, gb), x)
            rhs = transform_signal(g, ga, transform_signal(g, gb, x))
            assert torch.equal(lhs, rhs)


def test_interpolated_rotation_close_to_exact_on_smooth_input() -> None:
    se2 = SE2()
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 33), torch.linspace(-1, 1, 33), indexing="ij")
    img = torch.exp(-((xx - 0.3) ** 2 + yy**2) / 0.1)[None, None].double()
    g = se2.embed(torch.tensor(math.pi / 2, dtype=torch.float64))
    interp = transform_image(se2, g, img, mode="interpolate")
    # a 90° angle computed in floating point is within ~1e-16 of the grid: bilinear weights
    # are then (1, ~0), so the interpolated result matches rot90 to ~1e-12
    assert torch.allclose(interp, torch.rot90(img, 1, dims=(-2, -1)), atol=1e-10)
    g45 = se2.embed(torch.tensor(math.pi / 4, dtype=torch.float64))
    assert not is_grid_exact(se2, g45, 33)
    with pytest.raises(ValueError, match="does not map"):
        transform_image(se2, g45, img, mode="exact")


def test_translation_is_exact_shift() -> None:
    g = p4()
    img = torch.arange(25.0).reshape(1, 1, 5, 5)
    t = g.join(torch.tensor([1.0, 0.0]), torch.tensor(0))
    out = transform_image(g, t, img)
    assert torch.equal(out[..., :, 1:], img[..., :, :-1])
    assert torch.equal(out[..., :, 0], torch.zeros(1, 1, 5))


def test_signal_bad_group_axis() -> None:
    with pytest.raises(ValueError, match=r"group axis length 3, expected \|H\| = 8"):
        transform_signal(p4m(), p4m().identity(), torch.randn(1, 2, 3, 5, 5))
    with pytest.raises(ValueError, match="finite stabiliser"):
        transform_signal(E2(), E2().identity(), torch.randn(1, 2, 3, 5, 5))


def test_element_shape_errors() -> None:
    with pytest.raises(ValueError, match="expected"):
        transform_image(p4(), torch.zeros(5), torch.randn(1, 1, 4, 4))
    with pytest.raises(ValueError, match="integer indices"):
        p4().validate(torch.tensor([0.0, 0.0, 1.5]))
    with pytest.raises(ValueError, match="non-integer translations"):
        p4().validate(torch.tensor([0.5, 0.0, 1.0]))

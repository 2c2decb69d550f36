"""Tests for gattn.data.rotate."""

import math

import pytest
import torch

from gattn.data.rotate import random_angles, rotate_images


@pytest.fixture
def img() -> torch.Tensor:
    return torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("k", [1, 2, 3, 4, -1])
def test_right_angles_match_rot90(img: torch.Tensor, k: int) -> None:
    out = rotate_images(img, k * math.pi / 2)
    torch.testing.assert_close(out, torch.rot90(img, k, dims=(-2, -1)), atol=1e-6, rtol=0)


def test_zero_angle_is_identity(img: torch.Tensor) -> None:
    torch.testing.assert_close(rotate_images(img, 0.0), img, atol=1e-7, rtol=0)


def test_positive_angle_is_counterclockwise_as_displayed() -> None:
    x = torch.zeros(1, 1, 29, 29)
    x[0, 0, 14, 20] = 1.0  # right of the centre pixel (14, 14)
    out = rotate_images(x, torch.tensor([math.pi / 2]))
    assert out[0, 0].argmax().item() == 8 * 29 + 14  # now above the centre (row 8)
    out = rotate_images(x, torch.tensor([math.pi / 4]))
    r, c = divmod(out[0, 0].argmax().item(), 29)
    assert r < 14 and c > 14  # up and to the right


def test_per_image_angles_and_3d_input(img: torch.Tensor) -> None:
    angles = torch.tensor([0.0, math.pi / 2, math.pi], dtype=torch.float64)
    out = rotate_images(img[:, 0], angles, chunk_size=2)
    assert out.shape == (3, 28, 28) and out.dtype == torch.float32
    for i, k in enumerate([0, 1, 2]):
        expected = torch.rot90(img[i, 0], k, dims=(-2, -1))
        torch.testing.assert_close(out[i], expected, atol=1e-6, rtol=0)


def test_range_and_mass_preserved_for_centred_blob() -> None:
    x = torch.zeros(4, 1, 28, 28)
    x[:, :, 10:18, 10:18] = 1.0
    out = rotate_images(x, random_angles(4, 1))
    assert out.min() >= 0 and out.max() <= 1
    torch.testing.assert_close(out.sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=0.05, atol=0)


def test_rotation_is_invertible_inside_disc(img: torch.Tensor) -> None:
    smooth = torch.nn.functional.avg_pool2d(img, 5, 1, 2)  # smooth -> small interp. error
    a = torch.tensor([0.3, 1.0, 2.5])
    back = rotate_images(rotate_images(smooth, a), -a)
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    disc = ((yy - 13.5) ** 2 + (xx - 13.5) ** 2) < 10**2
    assert (back - smooth)[..., disc].abs().max() < 0.1


def test_random_angles_deterministic() -> None:
    a, b, c = random_angles(100, 0), random_angles(100, 0), random_angles(100, 1)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.dtype == torch.float64 and a.min() >= 0 and a.max() < 2 * math.pi


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="angles"):
        rotate_images(torch.zeros(2, 1, 5, 5), torch.zeros(3))
    with pytest.raises(ValueError, match="shape"):
        rotate_images(torch.zeros(5, 5), 0.0)


def test_non_square_half_turn() -> None:
    x = torch.rand(2, 1, 4, 6, generator=torch.Generator().manual_seed(1))
    out = rotate_images(x, math.pi)
    torch.testing.assert_close(out, torch.flip(x, dims=(-2, -1)), atol=1e-6, rtol=0)

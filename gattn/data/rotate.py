"""Batched image rotation with bilinear interpolation.

Convention: a positive angle rotates the image content **counterclockwise as displayed**
(row 0 at the top, i.e. the image y axis points up). Rotation is about the centre of the
pixel grid, ``((H - 1) / 2, (W - 1) / 2)`` in pixel-centre coordinates, so a rotation by
``pi / 2`` of a square image equals ``torch.rot90(img, 1, dims=(-2, -1))`` up to float32
rounding. Pixels sampled from outside the image are zero.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

__all__ = ["random_angles", "rotate_images", "rotation_theta"]

#: Rotations of more images than this show a progress bar when ``progress=None``.
PROGRESS_THRESHOLD = 20_000


def random_angles(n: int, seed: int | torch.Generator) -> torch.Tensor:
    """Draw ``n`` angles uniformly from ``[0, 2*pi)``, deterministically.

    Args:
        n: Number of angles.
        seed: Integer seed, or a ``torch.Generator`` to draw from (advanced in place).

    Returns:
        float64 tensor of shape ``(n,)`` with values in ``[0, 2*pi)``.
    """
    gen = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(int(seed))
    return torch.rand(n, generator=gen, dtype=torch.float64) * (2.0 * math.pi)


def rotation_theta(angles: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Affine matrices for ``F.affine_grid`` (``align_corners=True``) rotating by ``angles``.

    ``affine_grid`` maps each *output* location to the *input* location it samples from, in
    normalised coordinates (x right, y down). Counterclockwise display rotation by ``a`` in
    y-down coordinates samples the input at ``[[cos a, -sin a], [sin a, cos a]] @ p`` (pixel
    units, relative to the centre). Pixel half-extents rescale this for non-square images.

    Args:
        angles: Rotation angles in radians, shape ``(N,)``.
        height: Image height ``H``.
        width: Image width ``W``.

    Returns:
        float64 tensor of shape ``(N, 2, 3)``.
    """
    a = angles.to(torch.float64)
    c, s = torch.cos(a), torch.sin(a)
    # normalised coordinate = pixel offset / half extent (align_corners=True)
    hx = max(width - 1, 1) / 2.0
    hy = max(height - 1, 1) / 2.0
    theta = torch.zeros(a.shape[0], 2, 3, dtype=torch.float64)
    theta[:, 0, 0] = c
    theta[:, 0, 1] = -s * hy / hx
    theta[:, 1, 0] = s * hx / hy
    theta[:, 1, 1] = c
    return theta


def rotate_images(
    images: torch.Tensor,
    angles: torch.Tensor | float,
    *,
    chunk_size: int = 8192,
    progress: bool | None = None,
    desc: str = "rotating",
) -> torch.Tensor:
    """Rotate a batch of images by per-image angles (bilinear, zero padding).

    The interpolation is computed in float64 so that rotations by multiples of ``pi / 2``
    reproduce ``torch.rot90`` to within float32 rounding.

    Args:
        images: Tensor of shape ``(N, C, H, W)`` or ``(N, H, W)``; any real dtype.
        angles: Angles in radians, shape ``(N,)``, or a single float used for all images.
            Positive angles rotate counterclockwise as displayed. Pass float64 angles for
            exact right angles (``float32(pi)`` is off by about ``1e-7``).
        chunk_size: Number of images rotated per batched ``grid_sample`` call.
        progress: Show a tqdm bar; ``None`` shows one only for more than
            ``PROGRESS_THRESHOLD`` images.
        desc: Progress bar label.

    Returns:
        float32 tensor with the same shape as ``images``.
    """
    if images.ndim not in (3, 4):
        raise ValueError(
            f"images must have shape (N, C, H, W) or (N, H, W), got {tuple(images.shape)}"
        )
    squeeze = images.ndim == 3
    x = images.unsqueeze(1) if squeeze else images
    n, _, h, w = x.shape
    if not torch.is_tensor(angles):
        angles = torch.full((n,), float(angles), dtype=torch.float64)
    angles = angles.reshape(-1)
    if angles.shape[0] != n:
        raise ValueError(f"got {angles.shape[0]} angles for {n} images")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    if progress is None:
        progress = n > PROGRESS_THRESHOLD
    theta = rotation_theta(angles, h, w)
    out = torch.empty(x.shape, dtype=torch.float32)
    with torch.no_grad(), tqdm(total=n, desc=desc, unit="img", disable=not progress) as bar:
        for start in range(0, n, chunk_size):
            stop = min(start + chunk_size, n)
            th = theta[start:stop]
            chunk = x[start:stop].to(torch.float64)
            grid = F.affine_grid(th, list(chunk.shape), align_corners=True)
            rotated = F.grid_sample(
                chunk, grid, mode="bilinear", padding_mode="zeros", align_corners=True
            )
            out[start:stop] = rotated.to(torch.float32)
            bar.update(stop - start)
    return out.squeeze(1) if squeeze else out

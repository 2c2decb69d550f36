"""Hypothesis strategies for groups, elements, images and group signals.

Example::

    from hypothesis import given
    from gattn.groups import p4m
    from gattn.testing import group_signals

    @given(group_signals(p4m(), channels=3))
    def test_my_layer(x):
        assert_equivariant(my_layer, p4m(), x)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from hypothesis import strategies as st
from torch import Tensor

from ..groups import Group, SemidirectProduct, catalogue, finite_tables, stabiliser_of

__all__ = ["elements", "group_signals", "images", "image_sizes", "groups", "finite_groups"]


def groups(names: Sequence[str] | None = None) -> st.SearchStrategy[Group]:
    """A group from the catalogue (optionally restricted to ``names``)."""
    cat = catalogue()
    keys = list(names) if names is not None else sorted(cat)
    return st.sampled_from([cat[k] for k in keys])


def finite_groups(dims: int | None = 2) -> st.SearchStrategy[Group]:
    """Affine groups of the catalogue with a finite stabiliser (they act on group signals),
    acting on :math:`\\mathbb{R}^{dims}` (``None``: every dimension)."""
    cat = catalogue()
    keys = sorted(
        k
        for k, g in cat.items()
        if isinstance(g, SemidirectProduct)
        and g.stabiliser.is_finite
        and (dims is None or g.translation_dim == dims)
    )
    return st.sampled_from([cat[k] for k in keys])


@st.composite
def elements(draw, group: Group, batch_shape: Sequence[int] = (), dtype=torch.float64):
    """Elements of ``group`` with the given batch shape (drawn through a seeded generator)."""
    seed = draw(st.integers(0, 2**31 - 1))
    gen = torch.Generator().manual_seed(seed)
    g = group.sample(*batch_shape, generator=gen, dtype=dtype)
    return g


def image_sizes(min_size: int = 3, max_size: int = 16) -> st.SearchStrategy[int]:
    """Square image sizes, odd and even."""
    return st.integers(min_size, max_size)


def _draw(draw, value):
    return draw(value) if isinstance(value, st.SearchStrategy) else value


def _random_tensor(
    draw, batch, channels, size, group_axis: tuple[int, ...], dtype, dims: int = 2
) -> Tensor:
    b, c = _draw(draw, batch), _draw(draw, channels)
    s = _draw(draw, image_sizes() if size is None else size)
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    shape = (b, c, *group_axis, *([s] * dims))
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)


@st.composite
def images(
    draw,
    batch: int | st.SearchStrategy[int] = 2,
    channels: int | st.SearchStrategy[int] = 3,
    size: int | st.SearchStrategy[int] | None = None,
    dtype: torch.dtype = torch.float64,
    dims: int = 2,
) -> Tensor:
    """Random spatial signals ``(B, C, *spatial)`` with ``dims`` equal axes (odd or even size):
    images by default, 1-D signals with ``dims=1``, volumes with ``dims=3``."""
    return _random_tensor(draw, batch, channels, size, (), dtype, dims)


@st.composite
def group_signals(
    draw,
    group: Group,
    batch: int | st.SearchStrategy[int] = 2,
    channels: int | st.SearchStrategy[int] = 3,
    size: int | st.SearchStrategy[int] | None = None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Random signals ``(B, C, |H|, *spatial)`` on :math:`\\mathbb{R}^d \\rtimes H` (d from the
    group) — random along the group axis too (a lifted image would hide wrong group-axis
    permutations)."""
    stab = stabiliser_of(group, finite=True)
    order = finite_tables(stab).order
    return _random_tensor(draw, batch, channels, size, (order,), dtype, stab.action_dim)

"""Property, in 1-D and 3-D: the size analysis predicts the measured equivariance error, per
element and per axis, for drawn strided networks (sizes odd and even, kernels, strides,
paddings as per-axis tuples).

Predicate: an element is predicted exact iff every axis it moves is exact at every layer; then
the measured relative error (float64) is <= 1e-10, otherwise > 1e-6.

Why an inexact size really shows an error: the drawn networks are *linear* (convolutions with
kernels symmetrised under the group, average pools; no ReLU, no max-pool), so
:math:`\\Phi(L_g x) - L_g\\Phi(x) = M x` for a fixed matrix :math:`M`. On an inexact axis
every layer drops the remainder on the right, so the sampling grid's centre moves left of the
axis centre and never back: :math:`\\Phi(L_g x)` reads other pixels than :math:`L_g\\Phi(x)`
and :math:`M \\ne 0`, and a Gaussian :math:`x` has :math:`M x \\ne 0` almost surely. Max-pools
are left out on purpose: overlapping windows of the shifted grids can pick the same maximum,
so an inexact size can measure zero by a tie (they are covered by deterministic tests).
Paddings are drawn with ``p < k`` (pools ``p <= k / 2``) so that no window lies wholly in the
padding. The elements of the 3-D check are the 8 axis flips: they never exchange axes, so each
axis of a non-cubic size is tested on its own.
"""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from gattn.analysis import OUTPUT, equivariance_error, exact_input_sizes
from gattn.analysis.recording import element_label
from gattn.groups import FiniteGroup, SemidirectProduct, cube, finite_tables, p1m
from gattn.nn import GroupConv, LiftingConv
from gattn.testing import images

EXACT, INEXACT = 1e-10, 1e-6

FLIPS = SemidirectProduct(
    FiniteGroup.from_generators(
        "flips3",
        [
            [[-1, 0, 0], [0, 1, 0], [0, 0, 1]],
            [[1, 0, 0], [0, -1, 0], [0, 0, 1]],
            [[1, 0, 0], [0, 1, 0], [0, 0, -1]],
        ],
    ),
    lattice=True,
    name="Z3 x| flips",
)


def _symmetrised(conv: nn.Module, dims: int) -> nn.Module:
    """Average the kernel over the flips of its spatial axes (equivariant to every flip)."""
    with torch.no_grad():
        w = conv.weight
        for axis in range(-dims, 0):
            w = (w + w.flip(axis)) / 2
        conv.weight.copy_(w)
    return conv


@st.composite
def layer_params(draw: st.DrawFn, dims: int, pool: bool) -> tuple[tuple[int, ...], ...]:
    k = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    s = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    p = tuple(draw(st.integers(0, (kk // 2) if pool else kk - 1)) for kk in k)
    return k, s, p


@st.composite
def linear_net(draw: st.DrawFn, dims: int) -> nn.Module:
    conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[dims - 1]
    pool = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)[dims - 1]
    mods: list[nn.Module] = []
    channels = 1
    for i in range(draw(st.integers(1, 3))):
        is_pool = i > 0 and draw(st.booleans())
        k, s, p = draw(layer_params(dims, is_pool))
        if is_pool:
            mods.append(pool(k, stride=s, padding=p))
        else:
            mods.append(_symmetrised(conv(channels, 2, k, stride=s, padding=p), dims))
            channels = 2
    return nn.Sequential(*mods).double().eval()


def _measurable(report, size, model: nn.Module, x: torch.Tensor) -> bool:
    steps = report.explain(size).steps
    if steps and steps[-1].outgoing is None:
        return False  # too small for this network
    if any(1 in tuple(s.incoming) for s in steps[1:]):
        # a layer sees a single sample along some axis: a lone sample is its own mirror image,
        # so (with the flip-symmetrised kernels) every later map is symmetric along that axis
        # and both samplings of a later stride agree by coincidence, although the size rule
        # rightly calls the size inexact in general (e.g. n = 3 -> conv 3 -> length 1)
        return False
    try:  # torch's 3-d average pool also wants the *unpadded* input to cover the kernel
        model(x)
    except RuntimeError as exc:
        if "smaller than kernel" in str(exc):
            return False
        raise
    return True


@given(linear_net(3), st.tuples(*[st.integers(3, 9)] * 3), st.integers(0, 2**31 - 1))
def test_volumes_per_axis_prediction_matches_each_flip(model, size, seed) -> None:
    report = exact_input_sizes(model, sizes=[size], group=FLIPS)
    x = torch.randn(1, 1, *size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    if not _measurable(report, size, model, x):
        return
    axes = report.explain(size).axes_exact  # tensor-axis order (Z, Y, X)
    tables = finite_tables(FLIPS.stabiliser)
    measured = equivariance_error(model, x, FLIPS, layers=[OUTPUT])
    for i, label in enumerate(measured.elements):
        flipped = (tables.matrices[i].diagonal() < 0).tolist()  # coordinates (x, y, z)
        predicted = all(axes[2 - c] for c in range(3) if flipped[c])
        err = measured.get(OUTPUT, label).relative
        assert (err <= EXACT) if predicted else (err > INEXACT), (label, size, axes, err, model)


@given(linear_net(1), st.integers(3, 24), st.integers(0, 2**31 - 1))
def test_signals_prediction_matches_the_reflection(model, n, seed) -> None:
    report = exact_input_sizes(model, sizes=[n], group=p1m())
    x = torch.randn(2, 1, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    if not _measurable(report, n, model, x):
        return
    err = equivariance_error(model, x, p1m(), layers=[OUTPUT]).get(OUTPUT, "mirror").relative
    assert (err <= EXACT) if report.is_exact(n) else (err > INEXACT), (n, err, model)


@st.composite
def cube_net(draw: st.DrawFn) -> nn.Module:
    g = cube()
    k1, s1 = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    k2, s2 = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    p1, p2 = draw(st.integers(0, k1 - 1)), draw(st.integers(0, k2 - 1))
    torch.manual_seed(draw(st.integers(0, 100)))
    return nn.Sequential(
        LiftingConv(g, 1, 2, k1, stride=s1, padding=p1),
        GroupConv(g, 2, 2, k2, stride=s2, padding=p2),
    ).double()


@settings(max_examples=8)  # each example runs 4 forward passes of a 24-element group network
@given(cube_net(), images(batch=1, channels=1, size=st.integers(3, 8), dims=3))
def test_cube_group_networks_on_volumes(model, x) -> None:
    n = x.shape[-1]
    report = exact_input_sizes(model, sizes=[n])
    assert report.dims == 3  # from the layers' group, not from the rank
    if not _measurable(report, n, model, x):
        return
    # quarter turns about z and x and a 3-fold turn about the diagonal: each moves every axis,
    # so an inexact (isotropic) size shows under each of them
    labels = {"(-y,x,z)", "(x,-z,y)", "(z,x,y)"}
    tables = finite_tables(cube().stabiliser)
    els = [i for i in range(tables.order) if element_label(tables.matrices[i], 3)[1] in labels]
    report_err = equivariance_error(model, x, cube(), elements=els, layers=[OUTPUT])
    assert sorted(report_err.elements) == sorted(labels)
    for label in report_err.elements:
        err = report_err.get(OUTPUT, label).relative
        assert (err <= EXACT) if report.is_exact(n) else (err > INEXACT), (n, label, err, model)

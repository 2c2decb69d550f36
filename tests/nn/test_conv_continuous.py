"""Lifting and group convolutions on continuous stabilisers: SE(2), E(2), Sim(2), SE(3) and the
scaling group, with neural-field kernels over shared H samples (docs/continuous.md).

Exactness is tested (float64, relative 1e-10) for the elements that map both the samples and
the pixel lattice onto themselves: 90-degree rotations (the samples are uniform, with N a
multiple of 4), the mirror of E(2); for SE(3) the quarter turns of the cube (its grid is closed
under the 24 cube rotations). Translations are left out: on a finite crop they move content
across the border, and the convolution's translation equivariance is not what is new here.
"""

from __future__ import annotations

import math

import pytest
import torch

from gattn.groups import E2, SE2, SE3, SO2, Sim2, scaling, transform_image
from gattn.nn import (
    FieldConfig,
    GroupBatchNorm,
    GroupConv,
    GroupPool,
    HSamples,
    LiftingConv,
    SpatialPool,
    resample,
)

TOL = 1e-10


pytestmark = pytest.mark.usefixtures("float64_default")  # tests/conftest.py


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max().detach() / b.abs().max().detach())


def _network(group, samples, d=2, kernel_size=3, field=None):
    lift = LiftingConv(group, 2, 3, kernel_size, samples=samples, padding=1, field=field)
    conv = GroupConv(group, 3, 2, kernel_size, samples=samples, padding=1, field=field)
    return torch.nn.Sequential(lift, GroupBatchNorm(3), torch.nn.ReLU(), conv).eval(), conv


def _check_exact(group, g, x, samples, **kw):
    net, last = _network(group, samples, **kw)
    lhs = net(transform_image(group, g, x))
    rhs = last.out_layout.act(group, g, net(x))
    assert _rel(lhs, rhs) <= TOL
    return net


def _planar(theta: float, mirror: float | None = None, t=(0.0, 0.0)) -> torch.Tensor:
    parts = [t[0], t[1], theta] + ([] if mirror is None else [mirror])
    return torch.tensor(parts)


@pytest.mark.parametrize("field", [FieldConfig(), FieldConfig(activation="siren", omega0=10.0)])
def test_se2_exact_for_quarter_turns(field):
    torch.manual_seed(0)
    x = torch.randn(2, 2, 13, 13)
    for g in (_planar(math.pi / 2), _planar(-math.pi / 2), _planar(math.pi)):
        _check_exact(SE2(), g, x, HSamples(SE2(), n=8), field=field)


def test_group_conv_alone_is_exact_on_random_group_signals():
    torch.manual_seed(1)
    q = HSamples(SE2(), n=12)
    conv = GroupConv(SE2(), 3, 4, 5, samples=q, padding=2)
    x = torch.randn(2, 3, 12, 11, 11)  # a random signal on R^2 x 12 samples
    g = _planar(math.pi / 2)
    lhs = conv(conv.in_layout.act(SE2(), g, x))
    assert _rel(lhs, conv.out_layout.act(SE2(), g, conv(x))) <= TOL


def test_e2_exact_for_the_mirror_and_quarter_turns():
    torch.manual_seed(2)
    x = torch.randn(1, 2, 11, 11)
    q = HSamples(E2(), n=4)  # 4 rotations and their mirror images
    assert q.order == 8
    for g in (_planar(0.0, 1.0), _planar(math.pi / 2, 1.0), _planar(math.pi / 2, 0.0)):
        _check_exact(E2(), g, x, q)


def test_sim2_exact_for_quarter_turns():
    torch.manual_seed(3)
    group = Sim2()
    q = HSamples(group, n=12)  # 4 rotations x 3 scales
    x = torch.randn(1, 2, 15, 15)
    _check_exact(group, torch.tensor([0.0, 0.0, math.pi / 2, 0.0]), x, q, kernel_size=5)


def test_se3_exact_for_cube_quarter_turns():
    torch.manual_seed(4)
    group = SE3()
    q = HSamples(group, n=24)
    x = torch.randn(1, 2, 7, 7, 7)
    half = math.sqrt(0.5)
    for quat in ([half, 0.0, 0.0, half], [half, half, 0.0, 0.0]):  # about z, about x
        g = torch.tensor([0.0, 0.0, 0.0] + quat)
        _check_exact(group, g, x, q)


def test_scaling_group_lifting_weighted_by_det():
    group = scaling()
    q = HSamples(group, n=3)
    lift = LiftingConv(group, 1, 1, 5, samples=q, bias=False)
    # the lifting bank carries 1/|det A(h)| = e^{-2t}: the same field at a larger scale is
    # spread over more pixels and divided by the area
    u, scale = lift.transform.embedding()
    det = torch.exp(2 * q.elements)
    centre = 12  # the kernel's middle pixel, where the window is 1
    assert torch.allclose(scale[:, centre], 1 / det)


def test_field_kernels_on_a_finite_group_are_exact_too():
    from gattn.groups import p4

    torch.manual_seed(6)
    x = torch.randn(1, 2, 9, 9)
    assert LiftingConv(p4(), 2, 3, 3).kernel == "pixel"  # "auto" on a finite H
    lift = LiftingConv(p4(), 2, 3, 3, kernel="field")
    conv = GroupConv(p4(), 3, 2, 3, kernel="field", samples=lift.samples)
    net = torch.nn.Sequential(lift, conv)
    g = torch.tensor([0.0, 0.0, 1.0])  # a quarter turn (index 1)
    lhs = net(transform_image(p4(), g, x))
    assert _rel(lhs, conv.out_layout.act(p4(), g, net(x))) <= TOL


def test_off_grid_rotation_is_not_exact_and_refused_by_the_layout():
    torch.manual_seed(7)
    conv = LiftingConv(SE2(), 1, 2, 3, samples=8)
    g = _planar(math.pi / 8)  # 22.5 degrees: not a permutation of 8 samples
    with pytest.raises(ValueError, match="does not map the 8 samples"):
        conv.out_layout.act(SE2(), g, conv(torch.randn(1, 1, 9, 9)))


def test_pooling_and_batch_norm_over_samples():
    q = HSamples(SE2(), n=8)
    x = torch.randn(2, 3, 8, 6, 6)
    assert GroupPool("max", group=SE2(), samples=q)(x).shape == (2, 3, 6, 6)
    assert SpatialPool(2, group=SE2(), samples=q)(x).shape == (2, 3, 8, 3, 3)
    assert GroupBatchNorm(3, group=SE2(), samples=q)(x).shape == x.shape
    with pytest.raises(ValueError, match="group axis length 4"):
        SpatialPool(2, group=SE2(), samples=q)(torch.randn(2, 3, 4, 6, 6))
    with pytest.raises(ValueError, match="finite"):
        GroupPool("max", group=SE2())  # a continuous H needs the samples


def test_monte_carlo_samples_are_redrawn_in_training_and_fixed_in_eval():
    q = HSamples(SE2(), n=8, monte_carlo=True, seed=0)
    lift = LiftingConv(SE2(), 1, 2, 3, samples=q)
    grid = q.elements.clone()
    model = torch.nn.Sequential(lift, GroupConv(SE2(), 2, 2, 3, samples=q))
    model.train()
    resample(model)
    first = q.elements.clone()
    assert not torch.allclose(first, grid)
    resample(model)
    assert not torch.allclose(q.elements, first)
    assert torch.allclose(q.weights, torch.full((8,), 1 / 8, dtype=torch.float64))
    model.eval()
    resample(model)
    assert torch.equal(q.elements, grid)


def test_monte_carlo_network_is_trainable():
    q = HSamples(SE2(), n=4, monte_carlo=True, seed=1)
    model = torch.nn.Sequential(
        LiftingConv(SE2(), 1, 2, 3, samples=q), GroupConv(SE2(), 2, 1, 3, samples=q)
    ).train()
    resample(model)
    model(torch.randn(2, 1, 9, 9)).square().mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_bad_samples_give_clear_errors():
    with pytest.raises(ValueError, match="continuous: give the number of H samples"):
        LiftingConv(SE2(), 1, 1, 3)
    with pytest.raises(ValueError, match="samples"):
        LiftingConv(SE2(), 1, 1, 3, samples=torch.zeros(0))
    with pytest.raises(ValueError, match="non-finite"):
        LiftingConv(SE2(), 1, 1, 3, samples=torch.tensor([0.0, float("nan")]))
    with pytest.raises(ValueError, match="shape"):
        LiftingConv(SE2(), 1, 1, 3, samples=torch.zeros(3, 2))  # O(2)-shaped, not SO(2)
    with pytest.raises(ValueError, match="mirror"):
        LiftingConv(E2(), 1, 1, 3, samples=torch.tensor([[0.0, 0.5]]))  # flag not 0/1
    with pytest.raises(ValueError, match="samples are of"):
        LiftingConv(SE2(), 1, 1, 3, samples=HSamples(E2(), n=4))
    with pytest.raises(ValueError, match="needs kernel='field'"):
        LiftingConv(SE2(8), 1, 1, 3, samples=8, kernel="pixel")
    with pytest.raises(TypeError, match="samples must be"):
        LiftingConv(SE2(), 1, 1, 3, samples="eight")
    with pytest.raises(TypeError, match="FieldConfig"):
        LiftingConv(SE2(), 1, 1, 3, samples=8, field={"width": 8})
    with pytest.raises(ValueError, match="width"):
        FieldConfig(width=0)
    with pytest.raises(ValueError, match="activation"):
        FieldConfig(activation="tanh")


def test_non_finite_haar_weights_are_refused():
    class BrokenSO2(SO2):
        def haar_weights(self, grid):
            w = super().haar_weights(grid)
            w[0] = float("inf")
            return w

    with pytest.raises(ValueError, match="non-finite Haar weights"):
        HSamples(BrokenSO2(), n=4)


def test_zoo_field_model_is_invariant_under_quarter_turns():
    from gattn.models import get_model

    torch.manual_seed(8)
    model = get_model("se2-field-cnn", size_check=None).eval()
    x = torch.randn(2, 1, 28, 28)
    logits = model(x)
    rotated = model(torch.rot90(x, 1, dims=(2, 3)))
    assert _rel(rotated, logits) <= TOL

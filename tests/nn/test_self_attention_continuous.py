"""Lifting and group self-attention on a continuous (sampled) H: SE(2) with 8 samples, E(2)
with 4 rotations x mirror, Sim(2) and SE(3). Exact equivariance (float64, relative error
<= 1e-10) for elements that permute the samples, through the layers' declared layouts; the
features computed from the samples; the errors."""

from __future__ import annotations

import math

import pytest
import torch

from gattn.groups import E2, SE2, SE3, Sim2, p4m
from gattn.nn import GroupSelfAttention, HSamples, LiftingSelfAttention, resample
from gattn.nn.positional import patch_offsets, relative_position_features

TOL = 1e-10


pytestmark = pytest.mark.usefixtures("float64_default")  # tests/conftest.py


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def _se2(angle, t=(0.0, 0.0)):
    return torch.tensor([*t, angle], dtype=torch.float64)


def _e2(angle, mirror, t=(0.0, 0.0)):
    return torch.tensor([*t, angle, float(mirror)], dtype=torch.float64)


CASES = {
    "SE2": (SE2(), 8, [_se2(math.pi / 2), _se2(-math.pi / 2)]),
    "E2": (E2(), 4, [_e2(math.pi / 2, 0), _e2(0.0, 1), _e2(math.pi, 1)]),
}
LAYERS = {"lifting": LiftingSelfAttention, "group": GroupSelfAttention}


def _input(cls, samples, size):
    if cls is LiftingSelfAttention:
        return torch.randn(2, 3, size, size)
    return torch.randn(2, 3, samples.order, size, size)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("patch", [3, None], ids=["local", "global"])
def test_exactly_equivariant_under_sample_permutations(name, kind, patch):
    """Rotations (and mirrors) about the centre that permute the samples commute with the
    layer, local and global attention."""
    group, n, elements = CASES[name]
    torch.manual_seed(0)
    samples = HSamples(group, n)
    layer = LAYERS[kind](group, 3, 4, 2, patch_size=patch, samples=samples)
    assert layer.out_layout.samples is samples
    x = _input(LAYERS[kind], samples, 9)
    with torch.no_grad():
        y = layer(x)
        assert y.shape == (2, 4, samples.order, 9, 9)
        for g in elements:
            lhs = layer(layer.in_layout.act(group, g, x))
            rhs = layer.out_layout.act(group, g, y)
            assert _relative(lhs, rhs) <= TOL, (name, kind, g)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_rotation_with_translation_local(name, kind):
    """A rotation composed with an integer translation: the input is zero within 2 pixels of
    the border (nothing is lost) and the outputs agree wherever the query's 3x3 patch lies in
    the signal before and after (3 pixels from the border)."""
    group, n, elements = CASES[name]
    torch.manual_seed(1)
    samples = HSamples(group, n)
    layer = LAYERS[kind](group, 3, 4, 2, patch_size=3, samples=samples)
    x = _input(LAYERS[kind], samples, 13)
    mask = torch.zeros(13, 13)
    mask[2:-2, 2:-2] = 1
    x = x * mask
    with torch.no_grad():
        for g in elements:
            g = g.clone()
            g[:2] = torch.tensor([2.0, -1.0])
            lhs = layer(layer.in_layout.act(group, g, x))[..., 3:-3, 3:-3]
            rhs = layer.out_layout.act(group, g, layer(x))[..., 3:-3, 3:-3]
            assert _relative(lhs, rhs) <= TOL


def test_not_equivariant_with_absolute_features(monkeypatch):
    """The comparison above detects a positional encoding of absolute instead of relative
    elements (features of h_j, not h_i^{-1} h_j)."""
    import gattn.nn.positional as positional

    real = positional.relative_group_features

    def absolute(stab, samples=None):
        if samples is None:
            return real(stab)
        feats = stab.features(samples).reshape(samples.shape[0], -1).double()
        return feats[None].expand(samples.shape[0], *feats.shape)

    monkeypatch.setattr(positional, "relative_group_features", absolute)
    group, n, elements = CASES["SE2"]
    torch.manual_seed(0)
    samples = HSamples(group, n)
    layer = GroupSelfAttention(group, 3, 4, 2, patch_size=3, samples=samples)
    x = torch.randn(2, 3, 8, 7, 7)
    with torch.no_grad():
        lhs = layer(layer.in_layout.act(group, elements[0], x))
        rhs = layer.out_layout.act(group, elements[0], layer(x))
    assert _relative(lhs, rhs) > 1e-4


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("patch", [3, None], ids=["local", "global"])
def test_finite_group_samples_match_tables(kind, patch):
    """For a finite H, the samples path (features from the interface's product) equals the
    table path (finite_tables) with the same parameters."""
    torch.manual_seed(2)
    table = LAYERS[kind](p4m(), 3, 4, 2, patch_size=patch)
    sampled = LAYERS[kind](p4m(), 3, 4, 2, patch_size=patch, samples=HSamples(p4m()))
    missing, unexpected = sampled.load_state_dict(table.state_dict(), strict=False)
    assert not missing and set(unexpected) <= {"pos_features", "inverse_matrices", "group_features"}
    x = _input(LAYERS[kind], sampled.samples, 6)
    with torch.no_grad():
        assert _relative(sampled(x), table(x)) <= 1e-12


def test_sample_features_are_the_relative_elements():
    """relative_position_features(samples=) holds A(h_i)^{-1} offsets and features(h_i^{-1} h_j)."""
    group = SE2()
    samples = HSamples(group, 8).elements
    offsets = patch_offsets(3, 2)
    feats = relative_position_features(group.stabiliser, offsets, True, 1.0, samples=samples)
    assert feats.shape == (8, 8, 9, 4)
    i, j, p = 3, 6, 5
    a = group.stabiliser.matrix(samples[i])
    assert torch.allclose(feats[i, j, p, :2], torch.linalg.solve(a, offsets[p]), atol=1e-14)
    diff = samples[j] - samples[i]
    assert torch.allclose(feats[i, j, p, 2:], torch.stack([diff.cos(), diff.sin()]), atol=1e-14)


def test_monte_carlo_samples_are_read_every_forward():
    torch.manual_seed(3)
    samples = HSamples(SE2(), 5, monte_carlo=True, seed=0)
    layer = GroupSelfAttention(SE2(), 3, 4, 2, patch_size=3, samples=samples)
    x = torch.randn(1, 3, 5, 6, 6)
    with torch.no_grad():
        layer.eval()
        resample(layer)
        y_grid = layer(x)
        layer.train()
        resample(layer)
        assert not torch.allclose(layer(x), y_grid)
        layer.eval()
        resample(layer)
        assert torch.equal(layer(x), y_grid)


def test_gradients_reach_the_positional_mlp():
    samples = HSamples(E2(), 2)
    layer = GroupSelfAttention(E2(), 2, 4, 2, patch_size=3, samples=samples)
    layer(torch.randn(1, 2, 4, 5, 5)).pow(2).sum().backward()
    assert float(layer.pos.fc1.weight.grad.abs().max()) > 0


def test_sim2_group_self_attention():
    """Sim(2) with 4 rotations x 2 scales: a quarter turn (scale 1) permutes the samples."""
    group = Sim2(scales=2)
    torch.manual_seed(4)
    samples = HSamples(group, 8)
    g = group.join(torch.zeros(2), torch.tensor([math.pi / 2, 0.0]))
    for cls in (LiftingSelfAttention, GroupSelfAttention):
        layer = cls(group, 3, 4, 2, patch_size=3, samples=samples)
        x = _input(cls, samples, 7)
        with torch.no_grad():
            lhs = layer(layer.in_layout.act(group, g, x))
            rhs = layer.out_layout.act(group, g, layer(x))
        assert _relative(lhs, rhs) <= TOL


def test_se3_group_self_attention_on_a_volume():
    """SE(3) with 24 samples: a quarter turn among them commutes with the layer."""
    group = SE3()
    torch.manual_seed(5)
    samples = HSamples(group, 24)
    matrices = group.stabiliser.matrix(samples.elements)
    quarter = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    k = int(((matrices - quarter).abs().amax((1, 2)) < 1e-12).nonzero()[0])
    g = group.embed(samples.elements[k])
    for cls in (LiftingSelfAttention, GroupSelfAttention):
        layer = cls(group, 2, 4, 2, patch_size=3, samples=samples)
        x = (
            torch.randn(1, 2, 5, 5, 5)
            if cls is LiftingSelfAttention
            else torch.randn(1, 2, 24, 5, 5, 5)
        )
        with torch.no_grad():
            lhs = layer(layer.in_layout.act(group, g, x))
            rhs = layer.out_layout.act(group, g, layer(x))
        assert _relative(lhs, rhs) <= TOL


def test_errors():
    for cls in (LiftingSelfAttention, GroupSelfAttention):
        with pytest.raises(ValueError, match="samples="):
            cls(SE2(), 2, 4, 2)
        with pytest.raises(ValueError, match="samples are of O\\(2\\)"):
            cls(SE2(), 2, 4, 2, samples=HSamples(E2(), 4))
        with pytest.raises(TypeError, match="samples"):
            cls(SE2(), 2, 4, 2, samples=8.0)
    layer = GroupSelfAttention(SE2(), 2, 4, 2, patch_size=3, samples=8)
    with pytest.raises(ValueError, match="group axis length 4"):
        layer(torch.randn(1, 2, 4, 5, 5))

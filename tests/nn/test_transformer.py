"""Tests for the GroupTransformer: exact invariance of the logits, equivariance of the
features, the rot-MNIST configuration and input validation."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gattn.groups import p4, p4m
from gattn.models.transformer import (
    ChannelLayerNorm,
    GroupTransformer,
    count_parameters,
    gsa_rotmnist,
    resolve_group,
)
from gattn.testing import assert_equivariant

F64 = torch.float64


def _small(group, patch=3, stages=(1, 1)):
    torch.manual_seed(0)
    model = GroupTransformer(
        group,
        in_channels=2,
        num_classes=5,
        channels=6,
        heads=3,
        patch_size=patch,
        stages=stages,
        pos_hidden=8,
    )
    return model.double()


@given(
    name=st.sampled_from(["p4", "p4m"]),
    half=st.integers(3, 4),
    patch=st.sampled_from([3, None]),
    seed=st.integers(0, 999),
)
def test_logits_invariant_float64(name, half, patch, seed):
    group = resolve_group(name)
    model = _small(group, patch)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 2, 2 * half, 2 * half, generator=gen, dtype=F64)
    assert model.is_exact(2 * half)
    assert assert_equivariant(model, group, x, atol=1e-10).relative <= 1e-10


@pytest.mark.parametrize("size", [5, 6])
def test_features_equivariant_odd_and_even(size):
    model = _small(p4m(), 3, stages=(2,))
    x = torch.randn(2, 2, size, size, dtype=F64)
    assert assert_equivariant(model.features, p4m(), x).relative <= 1e-10


def test_logits_invariant_float32():
    torch.manual_seed(0)
    model = GroupTransformer(p4(), 1, 10, channels=9, heads=3, stages=(1, 1), patch_size=3)
    x = torch.randn(2, 1, 8, 8)
    assert assert_equivariant(model, p4(), x, atol=1e-5).relative <= 1e-5


def test_rotmnist_configuration():
    for name in ("p4", "p4m"):
        model = gsa_rotmnist(name)
        assert count_parameters(model) == 44494
        assert model.lift.heads == 9 and model.lift.patch_size == 5
    assert model.is_exact(28) and not model.is_exact(27)
    with torch.no_grad():
        assert gsa_rotmnist("p4")(torch.randn(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["p4", "p4m"])
def test_rotmnist_model_invariant_float64(name):
    torch.manual_seed(0)
    model = gsa_rotmnist(name).double()
    x = torch.randn(1, 1, 28, 28, dtype=F64)
    with torch.no_grad():
        assert assert_equivariant(model, resolve_group(name), x).relative <= 1e-10


def test_training_step_runs_and_changes_parameters():
    model = _small(p4())
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    x = torch.randn(3, 2, 6, 6, dtype=F64)
    before = [p.detach().clone() for p in model.parameters()]
    loss = torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2]))
    loss.backward()
    opt.step()
    assert all(p.grad is not None for p in model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_channel_layer_norm_is_pointwise():
    norm = ChannelLayerNorm(4).double()
    x = torch.randn(2, 4, 8, 3, 3, dtype=F64)
    y = norm(x)
    assert torch.allclose(y.mean(1), torch.zeros(2, 8, 3, 3, dtype=F64), atol=1e-12)
    perm = torch.randperm(8)
    assert torch.allclose(norm(x[:, :, perm]), y[:, :, perm])


def test_resolve_group_and_errors():
    assert resolve_group("p4m") is p4m()
    assert resolve_group("C8").stabiliser.order == 8
    assert resolve_group("D4").stabiliser.order == 8
    assert resolve_group("R2").stabiliser.order == 1
    with pytest.raises(ValueError, match="group_name='q7'"):
        resolve_group("q7")
    with pytest.raises(ValueError, match="stages"):
        GroupTransformer(p4(), stages=())
    with pytest.raises(ValueError, match="num_classes"):
        GroupTransformer(p4(), num_classes=0)
    with pytest.raises(ValueError, match="out_channels=10 is not divisible by heads=9"):
        GroupTransformer(p4(), channels=10)
    model = _small(p4())
    with pytest.raises(ValueError, match="image batch"):
        model(torch.randn(1, 2, 4, 6, 6, dtype=F64))
    with pytest.raises(ValueError, match="3 channels"):
        model(torch.randn(1, 3, 6, 6, dtype=F64))

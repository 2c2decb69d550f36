"""Attentive model variants (the layers of ``gattn.attention``)."""

from __future__ import annotations

import pytest
import torch

from gattn.models import get_model, model_info
from gattn.testing import assert_equivariant

#: parameter counts of the paper (SPEC §3), matched exactly
PAPER = {"a-p4cnn": 73_130, "af-p4cnn": 29_462}
#: ours for the variants the paper does not count
OURS = {"a-ch-p4cnn": 48_630, "a-sp-p4cnn": 49_110, "a-p4mcnn": 145_050, "af-p4mcnn": 58_614}


def _invariance(name: str, **kw) -> float:
    torch.manual_seed(0)
    info = model_info(name)
    model = get_model(name, **kw).double().eval()
    x = torch.rand(1, info.in_channels, info.input_size, info.input_size, dtype=torch.float64)
    return assert_equivariant(model, info.group(), x).relative


@pytest.mark.parametrize(
    "name",
    [
        "af-p4cnn",
        "a-ch-p4cnn",
        # full / spatial attention: ~20 s per forward pass on CPU with the current layers
        pytest.param("a-p4cnn", marks=pytest.mark.slow),
        pytest.param("a-sp-p4cnn", marks=pytest.mark.slow),
    ],
)
def test_attentive_p4cnn_invariant(name):
    assert _invariance(name, channels=4) <= 1e-10


@pytest.mark.slow
@pytest.mark.parametrize("name", ["af-p4cnn", "a-p4cnn"])
def test_attentive_p4cnn_full_width_invariant(name):
    assert _invariance(name) <= 1e-10


@pytest.mark.parametrize("name", ["af-p4mcnn", "af-p4-allcnnc"])
def test_attentive_small_invariant(name):
    kw = {"widths": (4, 4), "reduction": 2} if "allcnnc" in name else {"channels": 3}
    assert _invariance(name, **kw) <= 1e-10


@pytest.mark.parametrize("name,count", sorted({**PAPER, **OURS}.items()))
def test_attentive_parameter_counts(name, count):
    assert sum(p.numel() for p in get_model(name).parameters()) == count

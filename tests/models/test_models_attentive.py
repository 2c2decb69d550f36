"""Attentive model variants: only when ``gattn.nn.attentive`` has landed."""

from __future__ import annotations

import pytest
import torch

from gattn.models import get_model, model_info
from gattn.testing import assert_equivariant

pytest.importorskip("gattn.nn.attentive")

#: parameter counts of the paper (SPEC §3) for reference; see docs/training.md for ours
PAPER = {"a-p4cnn": 73_130, "af-p4cnn": 29_462}


@pytest.mark.parametrize("name", ["af-p4cnn", "a-p4cnn", "a-ch-p4cnn", "a-sp-p4cnn"])
def test_attentive_p4cnn_invariant(name):
    torch.manual_seed(0)
    info = model_info(name)
    model = get_model(name).double().eval()
    x = torch.rand(2, 1, 28, 28, dtype=torch.float64)
    assert assert_equivariant(model, info.group(), x).relative <= 1e-10


@pytest.mark.parametrize("name", ["af-p4mcnn", "af-p4-allcnnc"])
def test_attentive_small_invariant(name):
    torch.manual_seed(0)
    info = model_info(name)
    kw = {"channels": 4} if "cnn" in name and "allcnnc" not in name else {"widths": (4, 4)}
    if "allcnnc" in name:
        kw["reduction"] = 2
    model = get_model(name, **kw).double().eval()
    x = torch.rand(1, info.in_channels, info.input_size, info.input_size, dtype=torch.float64)
    assert assert_equivariant(model, info.group(), x).relative <= 1e-10


@pytest.mark.parametrize("name", sorted(PAPER))
def test_attentive_parameter_counts_close_to_paper(name):
    n = sum(p.numel() for p in get_model(name).parameters())
    assert n > 24_610  # attention adds parameters to P4CNN

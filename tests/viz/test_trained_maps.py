"""After a short training, α-P4CNN's spatial attention maps are no longer near-uniform, and
they still rotate with the input (docs/results.md, "Trained attention maps").

Why the threshold: at initialisation the spatial-attention logits are close to 0 everywhere,
so :math:`\\alpha^X = \\sigma(\\cdot) \\approx 0.5` with a spatial spread (5–95 % quantile range
over the pixels, largest over H) of at most ~3e-3 in the hidden layers (measured: 0.0–0.003);
after three short epochs it is 0.011–0.036 (about 10×). We require every hidden layer's spread
to grow at least 3× and the mean over those layers to exceed 0.01 — a map that varies by at
least 1 % of the gate's range across the image — while the rotation error stays at float32
rounding. Slow (about a minute on 2 cores): it trains.
"""

from __future__ import annotations

import pytest
import torch

from gattn.data import get_dataset
from gattn.models import get_model
from gattn.viz import compare_maps


def _spreads(model, image):
    model.eval()
    comparison = compare_maps(model, image, rotation=1)
    out = {}
    for name, maps in comparison.maps.items():
        flat = maps.flatten(-2).double()
        if flat.shape[-1] < 4:  # a map of 1-3 pixels has no spatial spread to speak of
            continue
        q = torch.quantile(flat, torch.tensor([0.05, 0.95], dtype=torch.float64), dim=-1)
        out[name] = float((q[1] - q[0]).max())
    return out, comparison.errors


@pytest.mark.slow
def test_short_training_makes_maps_informative_and_equivariant():
    torch.manual_seed(0)
    data = get_dataset("rotmnist-small", limit=640).train
    x, y = data.tensors
    model = get_model("a-p4cnn", channels=4, dropout=0.0)
    before, _ = _spreads(model, x[3:4])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        model.train()
        for idx in torch.randperm(len(x), generator=gen).split(32):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    after, errors = _spreads(model, x[3:4])
    hidden = [name for name in after if not name.startswith("features.0.")]
    assert hidden, after
    assert all(after[n] >= 3 * before[n] for n in hidden), (before, after)
    assert sum(after[n] for n in hidden) / len(hidden) > 0.01, after
    assert max(errors.values()) < 1e-5, errors  # float32: the maps rotate with the digit

"""Zoo models warn (or raise) before running at a size that breaks exact equivariance."""

from __future__ import annotations

import warnings

import pytest
import torch

from gattn.analysis import EquivarianceWarning
from gattn.models import get_model


def test_zoo_model_warns_once_at_inexact_size() -> None:
    model = get_model("p4cnn").eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model(torch.randn(1, 1, 28, 28))
        assert not [w for w in caught if issubclass(w.category, EquivarianceWarning)]
        for _ in range(2):  # the 4x4 last layer cannot run at 25 px after the pool: ignore
            try:
                model(torch.randn(1, 1, 31, 31))
            except (RuntimeError, ValueError):
                pass
    hits = [w for w in caught if issubclass(w.category, EquivarianceWarning)]
    assert len(hits) == 1 and "31x31" in str(hits[0].message)


def test_strict_size_check_raises_and_none_disables() -> None:
    with pytest.raises(ValueError, match="approximately equivariant at input size 31x31"):
        get_model("p4cnn", size_check="error").eval()(torch.randn(1, 1, 31, 31))
    with warnings.catch_warnings():
        warnings.simplefilter("error", EquivarianceWarning)
        get_model("p4cnn", size_check=None).eval()(torch.randn(1, 1, 31, 31))
    with pytest.raises(ValueError, match="size_check must be"):
        get_model("p4cnn", size_check="loud")

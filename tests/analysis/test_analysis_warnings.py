"""EquivarianceWarning, warn_if_inexact and install_size_check."""

from __future__ import annotations

import warnings

import pytest
import torch

from gattn.analysis import EquivarianceWarning, install_size_check, warn_if_inexact
from gattn.analysis.examples import p4cnn, strided_p4_cnn


def test_warns_once_per_size() -> None:
    model = p4cnn()
    handle = install_size_check(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model(torch.randn(1, 1, 28, 28))
        model(torch.randn(1, 1, 27, 27))
        model(torch.randn(3, 1, 27, 27))
        model(torch.randn(1, 1, 29, 29))
    msgs = [str(w.message) for w in caught if issubclass(w.category, EquivarianceWarning)]
    assert len(msgs) == 2
    assert "27x27" in msgs[0] and "'6'" in msgs[0] and "below 26, above 28" in msgs[0]
    handle.remove()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model(torch.randn(1, 1, 27, 27))
    assert not caught


def test_strict_raises_and_filter_works() -> None:
    model = strided_p4_cnn()
    with pytest.raises(ValueError, match="approximately equivariant at input size 10x10"):
        warn_if_inexact(model, (1, 1, 10, 10), strict=True)
    assert warn_if_inexact(model, (1, 1, 11, 11)) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # anything else would fail the test
        warnings.simplefilter("ignore", EquivarianceWarning)  # later filters take precedence
        assert warn_if_inexact(model, (1, 1, 10, 10)) is not None
    install_size_check(model, strict=True)
    with pytest.raises(ValueError):
        model(torch.randn(1, 1, 12, 12))


def test_training_mode_and_bad_shape() -> None:
    model = p4cnn().train()
    before = [m.running_mean.clone() for m in model.modules() if hasattr(m, "running_mean")]
    with pytest.warns(EquivarianceWarning):
        warn_if_inexact(model, (4, 1, 29, 29))
    after = [m.running_mean for m in model.modules() if hasattr(m, "running_mean")]
    assert model.training and all(torch.equal(a, b) for a, b in zip(before, after))
    with pytest.raises(ValueError, match="input_shape"):
        warn_if_inexact(model, (29, 29))


def test_warning_points_at_the_users_call() -> None:
    model = p4cnn(channels=2)
    install_size_check(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model(torch.randn(1, 1, 29, 29))  # the line the warning must name
        warn_if_inexact(model, (1, 1, 27, 27))
    hits = [w for w in caught if issubclass(w.category, EquivarianceWarning)]
    assert len(hits) == 2
    assert all(w.filename == __file__ for w in hits), [w.filename for w in hits]

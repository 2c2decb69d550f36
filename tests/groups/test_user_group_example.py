"""The docs example of a user-defined group (rotation-scaling, non-trivial Haar factor)."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest
import torch

from gattn.groups import SemidirectProduct
from gattn.testing import GroupAxiomError, check_group_axioms

EXAMPLE = pathlib.Path(__file__).parents[2] / "docs" / "examples" / "rotation_scaling_group.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("rotation_scaling_group", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rotation_scaling_group_axioms(example, dtype) -> None:
    g = SemidirectProduct(example.RotationScaling())
    check_group_axioms(g, dtype=dtype)


def test_haar_factor_makes_measure_left_invariant(example) -> None:
    g = SemidirectProduct(example.RotationScaling())
    assert example.haar_density_invariance(g) < 1e-10


def test_missing_haar_factor_is_detected(example) -> None:
    """Dropping 1/|det A(h)| (a constant density) breaks left-invariance: the check fails."""
    g = SemidirectProduct(example.RotationScaling())
    err = example.haar_density_invariance(g, density=lambda el: torch.ones(el.shape[:-1]))
    assert err > 1e-2


def test_exp_log_round_trip(example) -> None:
    g = SemidirectProduct(example.RotationScaling())
    el = g.sample(5, dtype=torch.float64)
    assert torch.allclose(g.exp(g.log(el)), el, atol=1e-10)


def test_broken_user_group_caught(example) -> None:
    class Broken(example.RotationScaling):
        def inverse(self, g):
            return g

    with pytest.raises(GroupAxiomError):
        check_group_axioms(SemidirectProduct(Broken()))


def test_example_script_runs(example, capsys) -> None:
    example.main()
    assert "left-invariant" in capsys.readouterr().out

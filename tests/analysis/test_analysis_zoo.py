"""Every zoo model: the size analysis' prediction agrees with the measured output error, at an
exact and at an inexact size, and no internal row gets a bogus number (docs/analysis.md)."""

from __future__ import annotations

import pytest
import torch

from gattn.analysis import OUTPUT, equivariance_error, exact_input_sizes
from gattn.models import available_models, get_model, model_info

TOL = 1e-8


def _small(name: str) -> dict:
    """Builder options that keep the zoo model's layer structure but make it fast."""
    if name.startswith("gsa-"):
        return {"channels": 4, "heads": 2, "pos_hidden": 4, "checkpoint": False}
    if name.endswith("resnet44"):
        return {"widths": (2, 2, 2), "depth": 8}
    if name.endswith("allcnnc"):
        return {"widths": (2, 2), "reduction": 1}
    return {"channels": 2, "reduction": 1} if "-ch-" in name else {"channels": 2}


def _sizes(name: str) -> list[tuple[int, bool]]:
    info = model_info(name)
    n = info.input_size
    sizes = [(n, True), (n + 1, False)]
    if name.endswith("resnet44"):  # residual branches: both pools of a block see 40 -> 20
        sizes.append((40, True))
    return sizes


SLOW = {"a-p4mcnn", "gsa-p4m"}  # one float64 forward takes seconds: run with the slow tests
ZOO = [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in available_models()]


@pytest.mark.parametrize("name", ZOO)
def test_prediction_agrees_with_measurement(name: str) -> None:
    info = model_info(name)
    # a seeded initialisation: with 2 channels some draws leave every ReLU dead, and an
    # all-zero output shows no error at any size
    torch.manual_seed(0)
    model = get_model(name, size_check=None, **_small(name)).eval().double()
    for n, exact in _sizes(name):
        hint = (1, info.in_channels, n, n)
        predicted = exact_input_sizes(model, sizes=[n], input_shape_hint=hint).is_exact(n)
        assert predicted == exact, f"{name} at {n}"
        x = torch.randn(
            1,
            info.in_channels,
            n,
            n,
            dtype=torch.float64,
            generator=torch.Generator().manual_seed(n),
        )
        layers = None if n == info.input_size else [OUTPUT]  # all rows once
        report = equivariance_error(model, x, info.group(), layers=layers)
        measured = report.output_error()
        if info.group().stabiliser.order == 1:  # Z2CNN: no rotation to measure
            assert measured is None
            continue
        assert measured is not None
        assert (measured <= TOL) == predicted, f"{name} at {n}: measured {measured:.2e}"
        if predicted:  # every layer measured in its own layout is exact too: no bogus rows
            for e in report.entries:
                if e.relative is not None and not e.interpolated:
                    assert e.relative <= TOL, f"{name} at {n}: {e.layer} {e.element}"


def test_gsa_internal_rows_are_compared_in_their_own_layout() -> None:
    model = get_model("gsa-p4", size_check=None, **_small("gsa-p4")).eval().double()
    x = torch.randn(1, 1, 28, 28, dtype=torch.float64)
    report = equivariance_error(model, x, model_info("gsa-p4").group())
    layouts = {e.layer: e.layout for e in report.entries}
    assert layouts["lift.out"] == "B,Y*X,|H|,C"
    assert layouts["stages.0.0.norm1.norm"] == "B,|H|,Y,X,C"
    assert layouts[OUTPUT] == "B,F"
    # every layer of the lifting and first stages is measured, and exact at 28
    for name in ("lift.out", "stages.0.0.attn.out", "stages.0.0.mlp.fc2"):
        assert all(e.relative is not None for e in report.entries if e.layer == name)
        assert report.max_relative(name) <= TOL


@pytest.mark.slow
@pytest.mark.parametrize("name", available_models())
def test_cli_verdict_on_the_default_zoo(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    from gattn.cli import main

    for n, exact in _sizes(name)[:2]:
        rc = main(["check", name, "--size", str(n)])
        out = capsys.readouterr().out
        assert "MISMATCH" not in out and rc == (0 if exact else 1), out[-600:]

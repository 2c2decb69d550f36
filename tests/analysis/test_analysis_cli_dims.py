"""``gattn check`` on models taking 1-D signals and volumes."""

from __future__ import annotations

import json

import pytest

from gattn.cli import main
from gattn.cli.check import parse_size

EX = "gattn.analysis.examples:"


def test_check_volumes_exact_and_not(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", EX + "strided_cube_cnn", "--size", "7"]) == 0
    out = capsys.readouterr().out
    assert "verdict: EXACT" in out and "d = 3" in out and "(-y,x,z)" in out
    assert main(["check", EX + "strided_cube_cnn", "--size", "9,9,9"]) == 1
    assert "verdict: NOT exact" in capsys.readouterr().out


def test_check_non_cubic_volume_measures_the_grid_exact_rotations(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 7x11x7: exact on every axis; only the rotations keeping the y axis map the grid to itself
    rc = main(["check", EX + "strided_cube_cnn", "--size", "7,11,7", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 0 and data["size"] == [7, 11, 7] and data["predicted_exact"] is True
    assert len(data["errors"]["elements"]) == 8
    # 7x9x7: the height axis breaks, and the measurement agrees
    rc = main(["check", EX + "strided_cube_cnn", "--size", "7,9,7", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 1 and data["measured_output_error"] > 1e-2


def test_check_plain_torch_volume_model_defaults_to_the_cube_group(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check", EX + "pooled_volume_net", "--size", "11", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["group"] == "Z3 x| O" and data["verdict"] == "EXACT"
    assert main(["check", EX + "pooled_volume_net", "--size", "10"]) == 1


def test_check_signals(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", EX + "strided_p1m_cnn", "--size", "9"]) == 0
    out = capsys.readouterr().out
    assert "mirror" in out and "verdict: EXACT" in out
    assert main(["check", EX + "strided_p1m_cnn", "--size", "10"]) == 1


def test_check_bad_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", EX + "strided_cube_cnn", "--size", "7,7"]) == 2
    assert "has 2 axes, but Z3 x| O acts on R^3" in capsys.readouterr().err
    for bad in ("0", "a", "7,,7", "1,2,3,4", "-3"):
        assert main(["check", EX + "strided_cube_cnn", "--size", bad]) == 2
        assert "--size must be" in capsys.readouterr().err
    assert parse_size("16") == 16 and parse_size("16,16,16") == (16, 16, 16)

"""``gattn check`` on example factories given as import paths."""

from __future__ import annotations

import json

import pytest

from gattn.cli import main


def test_check_text_output_inexact(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["check", "gattn.analysis.examples:small_p4_cnn", "--size", "13"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "NOT exact" in out and "SpatialPool" in out and "below 12, above 14" in out
    assert "rot90" in out


def test_check_json_exact(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["check", "gattn.analysis.examples:strided_p4_cnn", "--size", "9", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 0 and data["exact"] is True and data["group"] == "p4"
    assert data["layers"][0]["stride"] == [2, 2]
    worst = max(e["relative"] for e in data["errors"]["entries"] if e["relative"] is not None)
    assert worst <= 1e-10


def test_check_bad_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "gattn.analysis.examples:nope", "--size", "9"]) == 2
    assert "no callable 'nope'" in capsys.readouterr().err
    assert main(["check", "no_such_module_xyz:f", "--size", "9"]) == 2
    assert main(["check", "gattn.analysis.examples:p4cnn", "--size", "9", "--group", "x"]) == 2

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


def test_check_mismatch_when_the_analysis_misses_a_subsampling_step(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # x[..., ::2, ::2] is invisible to the size analysis: it predicts 10 exact, the output is not
    rc = main(["check", "gattn.analysis.examples:hidden_stride_p4_cnn", "--size", "10"])
    out = capsys.readouterr().out
    assert rc == 3
    assert "verdict: MISMATCH: prediction and measurement disagree" in out
    assert "verdict: EXACT" not in out
    assert main(["check", "gattn.analysis.examples:hidden_stride_p4_cnn", "--size", "9"]) == 0


def test_check_mismatch_when_a_flagged_layer_does_not_affect_the_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc = main(["check", "gattn.analysis.examples:unused_pool_p4_cnn", "--size", "9", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 3 and data["verdict"] == "MISMATCH" and data["exact"] is False
    assert data["predicted_exact"] is False and data["measured_output_error"] <= 1e-8


def test_check_sees_a_functional_pool(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["check", "gattn.analysis.examples:functional_pool_p4_cnn", "--size", "9"])
    out = capsys.readouterr().out
    assert rc == 1 and "F.max_pool2d" in out and "verdict: NOT exact" in out
    assert "1 spatial layers" not in out or "functional" in out


def test_verdict_never_says_exact_against_the_measurement() -> None:
    from gattn.cli.check import EXIT_CODES, verdict

    assert verdict(True, 1e-16, 1e-8)[0] == "EXACT"
    assert verdict(False, 0.1, 1e-8)[0] == "NOT exact"
    assert verdict(True, 3.5e-2, 1e-8)[0] == "MISMATCH"
    assert verdict(False, 1e-16, 1e-8)[0] == "MISMATCH"
    assert verdict(True, None, 1e-8) == ("EXACT", verdict(True, None, 1e-8)[1])
    assert "not measured" in verdict(True, None, 1e-8)[1]
    assert EXIT_CODES["MISMATCH"] not in (0, 1, 2)


def test_check_bad_tolerance(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "gattn.analysis.examples:p4cnn", "--size", "9", "--tol", "0"]) == 2
    assert "--tol" in capsys.readouterr().err

"""The benchmark harness itself (tiny shapes; the real numbers come from `gattn bench`)."""

from __future__ import annotations

import pytest
import torch

from gattn.bench import default_suite, run_isolated, to_markdown
from gattn.bench.cases import build_case


def test_isolated_case_reports_time_and_memory() -> None:
    out = run_isolated(
        "group_conv", {"batch": 2, "cin": 2, "cout": 2, "size": 8, "repeats": 1}, timeout=120
    )
    assert "error" not in out, out
    assert out["time_s"] > 0 and out["peak_mb"] >= 0
    assert out["extra"]["params"] == 2 * 2 * 4 * 9


def test_failing_case_is_reported_not_raised() -> None:
    out = run_isolated("group_conv", {"group": "nope", "repeats": 1}, timeout=120)
    assert "unknown benchmark group" in out["error"]


def test_unknown_case_lists_valid_ones() -> None:
    with pytest.raises(ValueError, match="valid: .*conv2d"):
        build_case("warp_drive", "cpu", {})


def test_suite_covers_the_issue_targets_and_renders() -> None:
    rows = default_suite(quick=True)
    names = " ".join(r.name for r in rows)
    for needle in ("Conv2d", "e2cnn", "(full)", "(input)", "GSA", "scaling |H|=16", "size="):
        assert needle in names
    fake = {
        "device": "cpu-test",
        "torch": "x",
        "threads": 1,
        "date": "now",
        "rows": [
            {
                "name": "a vs b",
                "targets": {"time": 3.0},
                "case": {"time_s": 2.0, "peak_mb": 4.0},
                "baseline": {"time_s": 1.0, "peak_mb": 2.0},
                "time_ratio": 2.0,
                "memory_ratio": 2.0,
                "target_met": True,
            }
        ],
    }
    md = to_markdown(fake)
    assert "| a vs b | 2.00× | 2.00× | time ≤ 3.0× | yes |" in md


def test_rounds_take_the_median_of_same_round_ratios(monkeypatch, tmp_path) -> None:
    """Round-robin rounds: the ratio is the median of per-round ratios (a drift that slows
    case and baseline of one round alike cancels), numbers are per-round medians."""
    import gattn.bench.suite as suite

    calls: list[str] = []
    # round r: conv2d takes 1, 1, 10 s (a slow third round); group_conv 2x conv2d in-round
    slow = {"conv2d": [1.0, 1.0, 10.0], "group_conv": [2.0, 2.0, 20.0]}

    def fake(case, params, timeout=900.0):
        calls.append(case)
        r = sum(1 for c in calls if c == case) - 1
        return {"time_s": slow[case][r], "peak_mb": 1.0 + r, "repeats": 1, "extra": {}}

    monkeypatch.setattr(suite, "run_isolated", fake)
    res = suite.run_suite(
        quick=True, rounds=3, out_dir=tmp_path, select="Conv2d (floor)", progress=False
    )
    (row,) = res["rows"]
    assert calls == ["group_conv", "conv2d"] * 3  # round-robin
    assert row["time_ratio"] == pytest.approx(2.0)
    assert row["time_ratio_rounds"] == pytest.approx([2.0, 2.0, 2.0])
    assert row["case"]["time_s"] == 2.0 and row["baseline"]["peak_mb"] == 2.0
    assert "3 rounds" in (tmp_path / f"{res['device']}-quick.md").read_text()
    with pytest.raises(ValueError, match="rounds"):
        suite.run_suite(quick=True, rounds=0, out_dir=None, select="Conv2d (floor)", progress=False)


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--rounds", "0"], "rounds must be a positive integer"),
        (["--select", "no-such-row", "--quick"], "matches no benchmark row"),
        (["--device", "cuda:7"], "CUDA is not available"),
    ],
)
def test_bench_cli_bad_input_is_one_error_line(argv, message, capsys, tmp_path):
    if "cuda" in argv[-1] and torch.cuda.is_available():
        pytest.skip("a machine with CUDA")
    from gattn.cli import main

    assert main(["bench", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gattn bench: error:") and message in err

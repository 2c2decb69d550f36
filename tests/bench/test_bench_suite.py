"""The benchmark harness itself (tiny shapes; the real numbers come from `gattn bench`)."""

from __future__ import annotations

import pytest

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

"""The field-kernel benchmark row (issue: within 2x the time and memory of the p8 GroupConv)."""

from __future__ import annotations

from gattn.bench import default_suite, run_isolated
from gattn.bench.cases import build_case
from gattn.groups import SE2
from gattn.nn import GroupConv


def test_field_case_builds_and_steps_at_a_tiny_size() -> None:
    step, extra = build_case(
        "field_group_conv", "cpu", {"batch": 2, "cin": 2, "cout": 3, "size": 8, "samples": 4}
    )
    step()
    step()  # twice: gradients are reset, not accumulated into an error
    ref = GroupConv(SE2(), 2, 3, 3, bias=False, samples=4)
    assert extra["params"] == sum(p.numel() for p in ref.parameters()) > 0


def test_field_case_is_measured_in_isolation() -> None:
    params = {"batch": 2, "cin": 2, "cout": 2, "size": 8, "samples": 8, "repeats": 1}
    out = run_isolated("field_group_conv", params, timeout=120)
    assert "error" not in out, out
    assert out["time_s"] > 0 and out["peak_mb"] >= 0


def test_the_row_compares_against_the_plain_p8_group_conv() -> None:
    for quick in (False, True):
        (row,) = [r for r in default_suite(quick) if r.case[0] == "field_group_conv"]
        assert row.baseline[0] == "group_conv" and row.baseline[1]["group"] == "C8"
        assert row.case[1]["samples"] == 8
        assert row.targets == {"time": 2.0, "memory": 2.0}
        shape = {k: v for k, v in row.case[1].items() if k != "samples"}
        assert shape == {k: v for k, v in row.baseline[1].items() if k != "group"}
        if not quick:
            assert shape == {"batch": 128, "cin": 10, "cout": 10, "size": 28, "kernel": 3}

"""The drop-in example runs: same numbers after the swap, equivariant with p4."""

from __future__ import annotations

import runpy
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "tutorials" / "special_cases.py"


def test_dropin_example_runs_and_matches():
    results = runpy.run_path(str(EXAMPLE))["main"]()
    assert results["dropin_train"] <= 1e-6
    assert results["dropin_eval"] <= 1e-6
    assert results["p4_equivariance"] <= 1e-10
    assert results["timm_cbam_train"] <= 1e-12  # float64
    assert results["timm_cbam_eval"] <= 1e-12
    assert results["timm_cbam_p4_equivariance"] <= 1e-10


def test_docs_snippets_run():
    import re

    doc = EXAMPLE.parents[1] / "special_cases.md"
    code = "\n".join(re.findall(r"```python\n(.*?)```", doc.read_text(), re.S))
    assert "SqueezeExcitation" in code
    exec(compile(code, str(doc), "exec"), {})

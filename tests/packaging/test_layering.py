"""Every import points down: groups < ops < nn < attention < models/train/cli/viz/bench/analysis.

Each subpackage is imported alone in a fresh interpreter and the ``gattn.*`` modules it loaded
are listed; statically, no function-level import in ``gattn/nn`` or ``gattn/ops`` reaches up
(a lazy import would hide a cycle from the first check).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "gattn"
ABOVE_ATTENTION = ("models", "train", "cli", "viz", "bench", "analysis")


def _loaded(sub: str) -> set[str]:
    """The ``gattn.*`` modules in ``sys.modules`` after ``import gattn.<sub>`` alone."""
    code = (
        "import json, sys\n"
        f"import gattn.{sub}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('gattn'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _subpackages(modules: set[str]) -> set[str]:
    """``{"groups", "nn", ...}``: the subpackages the modules belong to."""
    return {m.split(".")[1] for m in modules if m.count(".") >= 1}


def test_groups_loads_no_other_subpackage():
    assert _subpackages(_loaded("groups")) == {"groups"}


def test_ops_loads_only_ops_and_groups():
    assert _subpackages(_loaded("ops")) <= {"ops", "groups"}


def test_nn_never_loads_attention():
    loaded = _subpackages(_loaded("nn"))
    assert "attention" not in loaded
    assert loaded <= {"groups", "ops", "nn"}


def test_attention_loads_nothing_above_it():
    loaded = _subpackages(_loaded("attention"))
    assert "attention" in loaded
    assert not loaded & set(ABOVE_ATTENTION), sorted(loaded & set(ABOVE_ATTENTION))


def _resolve(path: Path, node: ast.ImportFrom | ast.Import) -> list[str]:
    """Absolute names of the modules an import statement in ``path`` reads."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level == 0:
        return [node.module or ""]
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    base = parts[: len(parts) - node.level]  # the package the relative import starts from
    return [".".join(base + ([node.module] if node.module else []))]


def _nested_imports(path: Path, source: str | None = None):
    """``(line, module)`` of every import inside a function or class body of ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8") if source is None else source)
    for top in tree.body:
        if not isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for node in ast.walk(top):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for name in _resolve(path, node):
                    yield node.lineno, name


@pytest.mark.parametrize(
    ("floor", "allowed"),
    [
        ("ops", ("gattn.ops", "gattn.groups.validation")),
        ("nn", ("gattn.groups", "gattn.ops", "gattn.nn")),
    ],
)
def test_no_function_level_import_reaches_up(floor, allowed):
    """A lazy ``from ..attention import ...`` inside a function would hide a cycle."""
    bad = []
    for path in sorted((PACKAGE / floor).rglob("*.py")):
        for line, name in _nested_imports(path):
            if name.startswith("gattn") and not any(
                name == a or name.startswith(a + ".") for a in allowed
            ):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not bad, bad


def test_the_static_check_sees_a_lazy_upward_import():
    """The AST walk finds ``from ..attention import x`` inside a function of gattn/nn (the
    hidden cycle of gattn 0.2), so the check above can fail."""
    source = "def f():\n    from ..attention import build_attention\n    return build_attention\n"
    found = list(_nested_imports(PACKAGE / "nn" / "probe.py", source))
    assert found == [(2, "gattn.attention")]

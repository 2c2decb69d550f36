"""Runtime code must work without the test-only packages (hypothesis, pytest).

A fresh ``pip install -e .`` has neither, while this suite always runs with both installed, so
each check runs in a fresh interpreter in which importing them raises (a ``sys.meta_path``
blocker), as on a user's machine without the ``test`` extra.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib import resources

import pytest

BLOCKER = """
import sys
for _name in [m for m in sys.modules if m.split(".")[0] in ("hypothesis", "pytest", "_pytest")]:
    del sys.modules[_name]
# None in sys.modules: `import hypothesis` raises ModuleNotFoundError, find_spec returns None,
# exactly as when the package is not installed
sys.modules.update(hypothesis=None, pytest=None, _pytest=None)
"""

#: the only modules that may need Hypothesis: the strategies and the profiles
NEEDS_HYPOTHESIS = {"gattn.testing.strategies", "gattn.testing.profiles"}


def _run(code: str) -> subprocess.CompletedProcess:
    src = BLOCKER + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", src], capture_output=True, text=True, timeout=300, check=False
    )


def test_blocker_blocks():
    """The harness itself works: with the blocker, importing hypothesis fails."""
    res = _run("import hypothesis\n")
    assert res.returncode != 0 and "ModuleNotFoundError" in res.stderr


def test_every_runtime_module_imports_without_test_packages():
    res = _run(
        f"""
        import importlib, pkgutil, gattn
        skip = {sorted(NEEDS_HYPOTHESIS)!r}
        names = [m.name for m in pkgutil.walk_packages(gattn.__path__, "gattn.")]
        assert len(names) > 50, names
        for name in names:
            if name not in skip and not name.endswith(".__main__"):  # __main__ runs the CLI
                importlib.import_module(name)
        print("imported", len(names) - len(skip))
        """
    )
    assert res.returncode == 0, res.stderr
    assert "imported" in res.stdout


def test_main_job_pieces_and_tour_work_without_test_packages():
    """get_model (the main job's first step) and the README tour's testing imports."""
    res = _run(
        """
        import torch
        from gattn.models import get_model
        from gattn.testing import assert_equivariant, check_group_axioms, check_theorem1
        from gattn.testing import *  # noqa: F403  (star import must not need Hypothesis)
        from gattn.groups import p4
        model = get_model("af-p4cnn").double().eval()
        x = torch.randn(2, 1, 28, 28, dtype=torch.float64)
        rep = assert_equivariant(model, p4(), x)
        print("relative", rep.relative)
        """
    )
    assert res.returncode == 0, res.stderr
    assert "relative" in res.stdout


def test_strategies_without_hypothesis_say_what_to_install():
    res = _run(
        """
        import gattn.testing as t
        try:
            t.group_signals
        except ImportError as e:
            print("ERR", e)
        """
    )
    assert res.returncode == 0, res.stderr
    assert "ERR" in res.stdout and "gattn[test]" in res.stdout


def test_strategies_with_hypothesis_still_load():
    from gattn.testing import group_signals, load_profile

    assert callable(group_signals) and callable(load_profile)


def test_unknown_testing_attribute_is_an_attribute_error():
    import gattn.testing

    with pytest.raises(AttributeError, match="no_such_helper"):
        gattn.testing.no_such_helper  # noqa: B018


def test_package_ships_py_typed():
    assert resources.files("gattn").joinpath("py.typed").is_file()


def test_version_flag(capsys):
    from gattn import __version__
    from gattn.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out

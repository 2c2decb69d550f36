"""Public testing helpers: equivariance assertions, group-axiom checks and Hypothesis
strategies, for users who property-test their own groups and layers.

The checks (:func:`assert_equivariant`, :func:`check_group_axioms`, :func:`check_theorem1`, ...)
need only gattn's runtime dependencies. The Hypothesis strategies (:func:`groups`,
:func:`group_signals`, ...) and profiles (:func:`load_profile`) need the ``test`` extra
(``pip install "gattn[test]"``); they are imported on first use, so ``import gattn.testing``
works without Hypothesis.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from ..groups import apply_group_element, disc_mask
from .axioms import AxiomReport, GroupAxiomError, check_group_axioms
from .equivariance import (
    ElementResult,
    EquivarianceError,
    EquivarianceReport,
    assert_equivariant,
    default_tolerance,
)
from .theorem1 import Theorem1Error, Theorem1Report, check_theorem1, transform_pairs

_NEEDS_HYPOTHESIS = {
    "load_profile": "profiles",
    "register_profiles": "profiles",
    "elements": "strategies",
    "finite_groups": "strategies",
    "group_signals": "strategies",
    "groups": "strategies",
    "image_sizes": "strategies",
    "images": "strategies",
}

__all__ = [
    "AxiomReport",
    "GroupAxiomError",
    "check_group_axioms",
    "ElementResult",
    "EquivarianceError",
    "EquivarianceReport",
    "apply_group_element",
    "assert_equivariant",
    "default_tolerance",
    "disc_mask",
    "check_theorem1",
    "Theorem1Report",
    "Theorem1Error",
    "transform_pairs",
]


def _has_hypothesis() -> bool:
    try:
        return importlib.util.find_spec("hypothesis") is not None
    except (ImportError, ValueError):
        return False


if _has_hypothesis():  # so that `from gattn.testing import *` works without it
    __all__ += list(_NEEDS_HYPOTHESIS)


def __getattr__(name: str) -> Any:
    """Import the Hypothesis-based helpers on first use, with a clear error without Hypothesis."""
    module = _NEEDS_HYPOTHESIS.get(name)
    if module is None:
        raise AttributeError(f"module 'gattn.testing' has no attribute {name!r}")
    try:
        mod = importlib.import_module(f"{__name__}.{module}")
    except ModuleNotFoundError as exc:
        if exc.name != "hypothesis":
            raise
        raise ImportError(
            f"gattn.testing.{name} needs Hypothesis, which is not installed: "
            'install the test extra, e.g. pip install "gattn[test]" (or pip install hypothesis)'
        ) from exc
    value = getattr(mod, name)
    globals()[name] = value
    return value

"""Hypothesis profiles: ``ci`` (derandomised, no deadline) and ``dev`` (fewer examples)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

__all__ = ["register_profiles", "load_profile"]


def register_profiles() -> None:
    """Register the ``ci`` and ``dev`` Hypothesis profiles."""
    settings.register_profile(
        "ci",
        derandomize=True,
        deadline=None,
        max_examples=25,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    settings.register_profile(
        "dev",
        deadline=None,
        max_examples=10,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def load_profile(name: str | None = None) -> None:
    """Load ``name``, or ``$HYPOTHESIS_PROFILE``, or ``ci`` when ``$CI`` is set, else ``dev``."""
    register_profiles()
    name = name or os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
    settings.load_profile(name)

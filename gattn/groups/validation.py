"""Argument validation shared by every floor of gattn (groups, ops, nn, attention, ...).

It lives in :mod:`gattn.groups`, the bottom floor, so that every import points down.
"""

from __future__ import annotations

__all__ = ["check_int", "check_choice"]


def check_int(name: str, value: object, minimum: int = 1) -> int:
    """Return ``value`` if it is an integer ``>= minimum`` (bools refused), else raise.

    Args:
        name: the argument's name, used in the message.
        value: the candidate.
        minimum: the smallest accepted value.

    Returns:
        ``value``, unchanged.

    Raises:
        ValueError: ``value`` is not an ``int`` (or is a ``bool``), or is below ``minimum``.
    """
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {name}={value!r}")
    return value


def check_choice(name: str, value: object, choices: tuple) -> object:
    """Return ``value`` if it is one of ``choices``, else raise a ``ValueError`` naming them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {name}={value!r}")
    return value

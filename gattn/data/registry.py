"""Name -> builder registry for datasets."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Any

from .splits import Splits

__all__ = ["available_datasets", "get_dataset", "register_dataset"]

Builder = Callable[..., Splits]
_REGISTRY: dict[str, Builder] = {}


def register_dataset(name: str) -> Callable[[Builder], Builder]:
    """Decorator registering ``builder(root=None, seed=0, **kw) -> Splits`` under ``name``.

    Args:
        name: Dataset name (lowercase, e.g. ``"rotmnist-small"``).

    Returns:
        The decorator, which returns the builder unchanged.
    """

    def deco(builder: Builder) -> Builder:
        if name in _REGISTRY and _REGISTRY[name] is not builder:
            raise ValueError(f"dataset {name!r} is already registered")
        _REGISTRY[name] = builder
        return builder

    return deco


def available_datasets() -> list[str]:
    """Sorted names accepted by :func:`get_dataset`."""
    return sorted(_REGISTRY)


def get_dataset(
    name: str, root: str | os.PathLike[str] | None = None, seed: int = 0, **kw: Any
) -> Splits:
    """Build dataset ``name`` with its train / val / test splits.

    Args:
        name: One of :func:`available_datasets`.
        root: Where the raw files are (dataset-specific default when ``None``).
        seed: Seed for every random choice (rotation angles, split shuffles).
        **kw: Dataset-specific options, e.g. ``limit=`` (max items per split).

    Returns:
        A :class:`Splits`.

    Raises:
        ValueError: If ``name`` is unknown (the message lists valid names).
        TypeError: If ``kw`` holds an option the dataset does not take (the message lists the
            options it takes).
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in _REGISTRY:
        raise ValueError(
            f"unknown dataset {name!r}; valid names: {', '.join(available_datasets())}"
        )
    builder = _REGISTRY[key]
    params = inspect.signature(builder).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(kw) - set(params))
        if unknown:
            options = [n for n in params if n not in ("root", "seed")]
            raise TypeError(
                f"dataset {key!r} takes no option {', '.join(map(repr, unknown))}; "
                f"its options: {', '.join(options) or 'none'}"
            )
    return builder(root=root, seed=seed, **kw)

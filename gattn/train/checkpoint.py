"""Atomic checkpoints, safe loading and random-number-generator state capture.

A checkpoint is written to ``<path>.tmp`` then moved over ``path`` with ``os.replace`` (atomic
on POSIX), so a crash never leaves a half-written file where a valid one was.

Loading never runs code from the file: :func:`load_checkpoint` calls ``torch.load`` with
``weights_only=True``, so only tensors and plain Python values (dicts, lists, tuples, strings,
numbers, ``None``) are rebuilt. A file that holds anything else (a pickled callable, a class
instance) is refused with a :class:`CheckpointError`, as is an empty, truncated or garbled file.
The RNG states of :func:`capture_rng` are therefore stored as plain values and tensors (see
docs/training.md, "Run folder").
"""

from __future__ import annotations

import os
import pickle
import random
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["CheckpointError", "capture_rng", "load_checkpoint", "restore_rng", "save_checkpoint"]


class CheckpointError(ValueError):
    """A checkpoint file cannot be loaded: damaged, empty, not a gattn checkpoint, or refused
    because it holds objects other than tensors and plain values. The message names the file
    and says what to do."""


def _numpy_state() -> dict[str, Any]:
    """NumPy's global (legacy ``RandomState``) generator state as plain values."""
    kind, key, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    return {
        "bit_generator": str(kind),
        "key": [int(k) for k in key],
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached),
    }


def _set_numpy_state(state: Any) -> None:
    if isinstance(state, dict):  # the plain form of _numpy_state
        state = (
            state["bit_generator"],
            np.asarray(state["key"], dtype=np.uint32),
            state["pos"],
            state["has_gauss"],
            state["cached_gaussian"],
        )
    np.random.set_state(state)  # noqa: NPY002  (also the tuple of older checkpoints)


def capture_rng(generator: torch.Generator | None = None) -> dict[str, Any]:
    """Snapshot of the Python, NumPy and torch (CPU and CUDA) generators, plus ``generator``
    (e.g. the DataLoader's) if given.

    Args:
        generator: an extra torch generator whose state is captured too.

    Returns:
        A dictionary of plain values (ints, floats, strings, lists) and tensors, loadable with
        ``torch.load(..., weights_only=True)``.
    """
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss_next],
        "numpy": _numpy_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if generator is not None:
        state["generator"] = generator.get_state()
    return state


def restore_rng(state: dict[str, Any], generator: torch.Generator | None = None) -> None:
    """Inverse of :func:`capture_rng`.

    Args:
        state: a dictionary returned by :func:`capture_rng` (possibly saved and reloaded).
        generator: the generator to restore ``state["generator"]`` into, if any.
    """
    version, internal, gauss_next = state["python"]
    random.setstate((int(version), tuple(int(v) for v in internal), gauss_next))
    _set_numpy_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if generator is not None and "generator" in state:
        generator.set_state(state["generator"])


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write ``state`` with ``torch.save`` atomically (tmp file, fsync, ``os.replace``).

    Args:
        path: destination file.
        state: dictionary of tensors, state dicts and plain values (anything else could not
            be read back by :func:`load_checkpoint`).

    Returns:
        ``Path(path)``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        torch.save(state, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def _legacy_numpy_globals() -> list[Any]:
    """The NumPy globals of the RNG-state array in checkpoints written before the RNG states
    were stored as plain values: a ``uint32`` array (no object dtype, nothing callable)."""
    core = getattr(np, "_core", None) or np.core
    rec = core.multiarray._reconstruct
    u32 = type(np.dtype(np.uint32))
    return [rec, (rec, "numpy.core.multiarray._reconstruct"), np.ndarray, np.dtype, u32]


_WHAT_TO_DO = (
    "delete it and train the run again (use a new --out), or restore the file from a backup; "
    "if it is a run's last.pt and best.pt is intact, `gattn evaluate` still works"
)


def load_checkpoint(
    path: str | os.PathLike[str],
    map_location: str | torch.device = "cpu",
    required: Iterable[str] = (),
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, without running any code from it.

    Args:
        path: the checkpoint file.
        map_location: where to put its tensors.
        required: keys the checkpoint must have (e.g. ``("model",)``).

    Returns:
        The saved dictionary.

    Raises:
        FileNotFoundError: ``path`` does not exist (the message names it).
        CheckpointError: the file is empty, truncated or garbled, is not a dictionary with the
            ``required`` keys, or holds objects other than tensors and plain values (refused
            unread: a pickled callable in it is never called).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"checkpoint {str(path)!r} is empty (0 bytes): {_WHAT_TO_DO}")
    if not zipfile.is_zipfile(path):  # torch.save always writes a zip archive
        raise CheckpointError(
            f"checkpoint {str(path)!r} is not a gattn checkpoint, or is truncated or damaged "
            f"({size} bytes, not a torch zip archive); refused, nothing in it was run: "
            f"{_WHAT_TO_DO}"
        )
    try:
        with torch.serialization.safe_globals(_legacy_numpy_globals()):
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        inner = str(exc.__context__ or exc.__cause__ or "")
        if "Unsupported global" in inner:
            what = inner.split(" was not an allowed global")[0].replace("Unsupported global: ", "")
            raise CheckpointError(
                f"checkpoint {str(path)!r} refused: it holds a pickled object that gattn "
                f"checkpoints never contain ({what}), so it is not a gattn checkpoint (or was "
                f"tampered with); it was not loaded and nothing in it was run"
            ) from None
        raise CheckpointError(
            f"checkpoint {str(path)!r} is damaged or not a gattn checkpoint "
            f"({inner or exc.__class__.__name__}); refused, nothing in it was run: {_WHAT_TO_DO}"
        ) from None
    except Exception as exc:  # any failure to read it: the file is damaged
        text = str(exc).strip()
        reason = f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
        raise CheckpointError(
            f"checkpoint {str(path)!r} is damaged (truncated or partly overwritten?): "
            f"{reason}; {_WHAT_TO_DO}"
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(
            f"checkpoint {str(path)!r} is not a gattn checkpoint: it holds a "
            f"{type(state).__name__}, not a dictionary"
        )
    missing = [k for k in required if k not in state]
    if missing:
        raise CheckpointError(
            f"checkpoint {str(path)!r} is not a gattn checkpoint of this kind: it has no "
            f"{', '.join(map(repr, missing))} (keys: {', '.join(map(repr, state))})"
        )
    return state

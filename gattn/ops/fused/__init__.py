r"""Backends of the lean full attentive convolution: eager PyTorch or ``torch.compile``.

One name, one concept: the **backend** of an attentive layer / operator says how its fused
chunk kernels run (docs/attention.md, "Backends"):

* ``"eager"`` — the eager lean path of :mod:`gattn.ops.lean_attention` (the reference, and the
  fallback of every other backend);
* ``"compiled"`` — the same chunk computations written so that ``torch.compile`` (inductor:
  C++/OpenMP on the CPU, Triton on CUDA) fuses the products of the partial responses with
  their sum / max reductions (:mod:`gattn.ops.fused.compiled`); if ``torch.compile`` is
  unavailable or fails, a ``RuntimeWarning`` is issued once and the eager kernels are used;
* ``"auto"`` — :data:`AUTO_RULE` per device type (measured, docs/benchmarks.md, "Fused kernels
  (issue 17)").

Layers pass their backend down with :func:`use_backend`; the lean kernels read it with
:func:`current_backend` and resolve it with :func:`resolve_backend`.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import torch

__all__ = [
    "BACKENDS",
    "AUTO_RULE",
    "check_backend",
    "resolve_backend",
    "use_backend",
    "current_backend",
]

#: the accepted backend names
BACKENDS = ("auto", "eager", "compiled")

#: what ``"auto"`` resolves to per device type (devices not listed: ``"eager"``). On the
#: 2-core CPU the compiled chunk kernels measured slower than the eager ones
#: (docs/benchmarks.md); no GPU measurement exists yet, so CUDA stays on the
#: measured-correct eager path until one does.
AUTO_RULE: dict[str, str] = {"cpu": "eager", "cuda": "eager"}

_BACKEND: contextvars.ContextVar[str] = contextvars.ContextVar("gattn_backend", default="auto")


def check_backend(backend: object) -> str:
    """Validate a backend name.

    Args:
        backend: one of :data:`BACKENDS`.

    Returns:
        ``backend``.

    Raises:
        TypeError: ``backend`` is not a string.
        ValueError: ``backend`` is not one of :data:`BACKENDS`.
    """
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a string, one of {BACKENDS}, got {backend!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return backend


def resolve_backend(backend: str, device: torch.device | str) -> str:
    """The concrete backend (``"eager"`` or ``"compiled"``) for ``device``.

    Args:
        backend: one of :data:`BACKENDS`.
        device: the device of the computation.

    Returns:
        ``backend`` itself unless it is ``"auto"``; then :data:`AUTO_RULE` of the device type.

    Raises:
        TypeError, ValueError: as :func:`check_backend`.
    """
    check_backend(backend)
    if backend != "auto":
        return backend
    return AUTO_RULE.get(torch.device(device).type, "eager")


@contextlib.contextmanager
def use_backend(backend: str) -> Iterator[str]:
    """Run the enclosed lean kernels with ``backend``.

    Args:
        backend: one of :data:`BACKENDS`.

    Yields:
        ``backend``.

    Raises:
        TypeError, ValueError: as :func:`check_backend`.

    While ``torch.compile`` traces a model (``torch.compiler.is_compiling()``) nothing is set:
    the traced lean kernels run eagerly inside the compiled graph (:func:`current_backend`).
    """
    check_backend(backend)
    if torch.compiler.is_compiling():  # dynamo cannot trace ContextVar.set
        yield backend
        return
    token = _BACKEND.set(backend)
    try:
        yield backend
    finally:
        _BACKEND.reset(token)


def current_backend() -> str:
    """The backend set by the innermost :func:`use_backend` (``"auto"`` outside any;
    ``"eager"`` while ``torch.compile`` traces a model: its chunk kernels are then part of the
    traced graph, not compiled on their own)."""
    if torch.compiler.is_compiling():
        return "eager"
    return _BACKEND.get()

r"""The group catalogue: :math:`\mathbb{R}^n`, SE(2), E(2), p4, p4m and their stabilisers.

Factories return cached singletons, so building a group twice is free and groups can be
compared with ``is``.
"""

from __future__ import annotations

from functools import cache

from .affine import SemidirectProduct
from .base import MatrixGroup
from .continuous import O2, SO2
from .finite import CyclicGroup, DihedralGroup, TrivialGroup

__all__ = ["Rn", "SE2", "E2", "p4", "p4m", "cyclic", "dihedral", "catalogue"]


@cache
def cyclic(n: int) -> CyclicGroup:
    """The cached cyclic group :math:`C_n` on the plane."""
    return CyclicGroup(n)


@cache
def dihedral(n: int) -> DihedralGroup:
    """The cached dihedral group :math:`D_n` on the plane."""
    return DihedralGroup(n)


def _check_n(name: str, n: int | None) -> None:
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise ValueError(f"{name}(n=...) takes None (continuous) or an integer >= 1, got n={n!r}")


@cache
def Rn(n: int = 2) -> SemidirectProduct:
    r"""Translations :math:`\mathbb{R}^n` (the trivial stabiliser)."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"Rn(n) needs an integer dimension n >= 1, got n={n!r}")
    return SemidirectProduct(TrivialGroup(n), name=f"R^{n}")


@cache
def SE2(n: int | None = None) -> SemidirectProduct:
    r""":math:`SE(2) = \mathbb{R}^2 \rtimes SO(2)`; with ``n`` the discretisation
    :math:`\mathbb{R}^2 \rtimes C_n` (exact on the pixel grid only for n in {1, 2, 4})."""
    _check_n("SE2", n)
    stab: MatrixGroup = SO2() if n is None else cyclic(n)
    return SemidirectProduct(stab, name="SE(2)" if n is None else f"SE(2,C{n})")


@cache
def E2(n: int | None = None) -> SemidirectProduct:
    r""":math:`E(2) = \mathbb{R}^2 \rtimes O(2)`; with ``n`` the discretisation
    :math:`\mathbb{R}^2 \rtimes D_n`."""
    _check_n("E2", n)
    stab: MatrixGroup = O2() if n is None else dihedral(n)
    return SemidirectProduct(stab, name="E(2)" if n is None else f"E(2,D{n})")


@cache
def p4() -> SemidirectProduct:
    r""":math:`p4 = \mathbb{Z}^2 \rtimes C_4`."""
    return SemidirectProduct(cyclic(4), lattice=True, name="p4")


@cache
def p4m() -> SemidirectProduct:
    r""":math:`p4m = \mathbb{Z}^2 \rtimes D_4`."""
    return SemidirectProduct(dihedral(4), lattice=True, name="p4m")


def catalogue() -> dict[str, MatrixGroup]:
    """Every shipped group by name (used to parametrise test suites over the catalogue)."""
    groups: dict[str, MatrixGroup] = {
        "R2": Rn(2),
        "R3": Rn(3),
        "SO2": SO2(),
        "O2": O2(),
        "SE2": SE2(),
        "E2": E2(),
        "p4": p4(),
        "p4m": p4m(),
    }
    for n in (1, 2, 4, 8):
        groups[f"C{n}"] = cyclic(n)
        groups[f"SE2_C{n}"] = SE2(n)
    for n in (1, 4, 8):
        groups[f"D{n}"] = dihedral(n)
        groups[f"E2_D{n}"] = E2(n)
    return groups

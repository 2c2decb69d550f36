r"""Everything a layer needs of a finite group, derived from the :class:`Group` interface.

A finite stabiliser :math:`H` is enumerated by ``H.grid()`` (element ``i`` of the group axis of
every group signal is ``H.grid()[i]``). From ``product`` and ``inverse`` alone (and ``matrix``
for a matrix group) this module derives, once per group and cached:

* the Cayley table ``cayley[i, j]`` = index of :math:`h_i h_j`,
* the inverse table ``inverses[i]`` = index of :math:`h_i^{-1}`,
* the relative table ``relative[i, j]`` = index of :math:`h_i^{-1} h_j` (the relative element
  of docs/maths.md, :meth:`Group.relative`, tabulated),
* the matrices :math:`A(h_i)` and which of them map the integer lattice onto itself
  (integer entries, :math:`|\det| = 1`): those act on pixel / voxel grids by a permutation.

Any correct :class:`~gattn.groups.Group` whose ``is_finite`` is true works; nothing here reads a
concrete class's private tables. Elements are matched back to grid indices with
:meth:`Group.equal` (exact for integer elements, up to a tolerance for float ones).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .base import Group, MatrixGroup

__all__ = ["FiniteTables", "finite_tables", "element_indices"]

_LATTICE_TOL = 1e-9
_ATTR = "_gattn_finite_tables"


@dataclass(frozen=True)
class FiniteTables:
    """Tables of a finite group :math:`H` in ``H.grid()`` order (all on the CPU).

    Attributes:
        order: :math:`|H|`.
        elements: ``H.grid()``, ``(N, *element_shape)``.
        identity_index: index of the identity.
        cayley: ``(N, N)`` int64, index of :math:`h_i h_j`.
        inverses: ``(N,)`` int64, index of :math:`h_i^{-1}`.
        relative: ``(N, N)`` int64, index of :math:`h_i^{-1} h_j`.
        matrices: ``(N, d, d)`` float64 :math:`A(h_i)` (``None`` if ``H`` is not a matrix group).
        lattice_preserving: ``(N,)`` bool, :math:`A(h_i)` maps :math:`\\mathbb{Z}^d` onto itself
            (all ``False`` if ``H`` is not a matrix group).
    """

    order: int
    elements: Tensor
    identity_index: int
    cayley: Tensor
    inverses: Tensor
    relative: Tensor
    matrices: Tensor | None
    lattice_preserving: Tensor

    @property
    def all_lattice_preserving(self) -> bool:
        """Whether every element maps the integer lattice onto itself."""
        return bool(self.lattice_preserving.all())


def element_indices(group: Group, elements: Tensor, g: Tensor, name: str = "g") -> Tensor:
    """Indices into ``elements`` (a finite group's grid) of the elements ``g``: ``(*batch,)``.

    Raises:
        ValueError: some element of ``g`` is not in ``elements`` (or matches more than one).
    """
    n = elements.shape[0]
    es = len(group.element_shape)
    if _indexed(group, elements):  # elements are their own indices: a range check suffices
        out = g.detach().cpu().long()
        if g.numel() and (int(out.min()) < 0 or int(out.max()) >= n):
            raise ValueError(
                f"{name}: {group.name} produced indices outside 0..{n - 1} "
                f"(min {int(out.min())}, max {int(out.max())})"
            )
        return out
    batch = g.shape[: g.dim() - es]
    flat = g.reshape(-1, *g.shape[g.dim() - es :])
    out = torch.empty(flat.shape[0], dtype=torch.long)
    step = max(1, 65536 // max(n, 1))
    for start in range(0, flat.shape[0], step):  # chunked: (step, N) comparisons at a time
        chunk = flat[start : start + step]
        a = chunk.reshape(chunk.shape[0], 1, *chunk.shape[1:])
        b = elements.to(chunk.device).reshape(1, n, *elements.shape[1:])
        hits = group.equal(a, b)  # (step, N)
        counts = hits.sum(-1)
        if not bool((counts == 1).all()):
            bad = int((counts != 1).nonzero()[0, 0]) + start
            raise ValueError(
                f"{name}: element {flat[bad].tolist()} of {group.name} matches "
                f"{int(counts[bad - start])} grid elements, expected exactly one (is the product "
                f"closed, is the grid complete, is `equal` right?)"
            )
        out[start : start + step] = hits.long().argmax(-1).cpu()
    return out.reshape(batch)


def _indexed(group: Group, elements: Tensor) -> bool:
    """Whether elements are int64 indices equal to their position in the grid."""
    return (
        group.element_dtype == "long"
        and elements.dim() == 1
        and elements.dtype == torch.long
        and torch.equal(elements, torch.arange(elements.shape[0]))
    )


def _lattice_flags(matrices: Tensor) -> Tensor:
    integral = ((matrices - matrices.round()).abs() <= _LATTICE_TOL).flatten(1).all(-1)
    det = torch.linalg.det(matrices.round()).abs()
    return integral & ((det - 1).abs() <= _LATTICE_TOL)


def _build(group: Group) -> FiniteTables:
    if not group.is_finite:
        raise ValueError(
            f"{group.name} is not finite (its is_finite is False), so it has no Cayley table; "
            f"layers with a group axis need a finite group, e.g. a discretisation such as SE2(n=8)"
        )
    elements = group.grid()
    if not isinstance(elements, Tensor) or elements.dim() < len(group.element_shape):
        raise TypeError(f"{group.name}.grid() must return a tensor of elements, got {elements!r}")
    elements = elements.detach().cpu()
    n = elements.shape[0]
    if n == 0:
        raise ValueError(f"{group.name}.grid() returned no elements")
    a = elements.reshape(n, 1, *elements.shape[1:])
    b = elements.reshape(1, n, *elements.shape[1:])
    cayley = element_indices(group, elements, group.product(a, b), "product")
    inverses = element_indices(group, elements, group.inverse(elements), "inverse")
    ident = element_indices(group, elements, group.identity(device="cpu"), "identity")
    relative = element_indices(group, elements, group.relative(a, b), "relative")
    matrices, lattice = None, torch.zeros(n, dtype=torch.bool)
    if isinstance(group, MatrixGroup):
        matrices = group.matrix(elements, dtype=torch.float64).detach().cpu()
        lattice = _lattice_flags(matrices)
    return FiniteTables(
        order=n,
        elements=elements,
        identity_index=int(ident),
        cayley=cayley,
        inverses=inverses,
        relative=relative,
        matrices=matrices,
        lattice_preserving=lattice,
    )


def finite_tables(group: Group) -> FiniteTables:
    """The cached :class:`FiniteTables` of a finite group (built on first use).

    Args:
        group: a finite :class:`~gattn.groups.Group` (``group.is_finite``).

    Returns:
        its tables, in ``group.grid()`` order.

    Raises:
        ValueError: the group is not finite, or its product / inverse leave the grid.
    """
    cache = getattr(group, "__dict__", None)  # cached on the group itself (no id reuse)
    tables = cache.get(_ATTR) if cache is not None else None
    if tables is None:
        tables = _build(group)
        if cache is not None:
            cache[_ATTR] = tables  # also works for frozen dataclasses; slotted groups rebuild
    return tables

r"""``check_group_axioms``: verify that an implementation of :class:`~gattn.groups.Group` is a
group and that its action, Haar weights and Lie maps are consistent.

Every check can fail: the test suite keeps deliberately broken groups (a non-associative
product, a wrong inverse, ...) and asserts that they are caught.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..groups import Group, SemidirectProduct, finite_tables

__all__ = ["GroupAxiomError", "AxiomReport", "check_group_axioms"]


class GroupAxiomError(AssertionError):
    """Raised by :func:`check_group_axioms` when an axiom fails."""


@dataclass
class AxiomReport:
    """Largest violation of each checked property (0 for exact ones that hold)."""

    errors: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def _to(g: Tensor, dtype: torch.dtype) -> Tensor:
    return g.to(dtype) if g.is_floating_point() else g


def _dist(group: Group, a: Tensor, b: Tensor) -> float:
    if group.element_dtype == "long":
        return float((a != b).any())
    fa, fb = group.features(a), group.features(b)
    return float((fa - fb).abs().max()) if fa.numel() else 0.0


def check_group_axioms(
    group: Group,
    dtype: torch.dtype = torch.float64,
    n_samples: int = 16,
    seed: int = 0,
    atol: float | None = None,
    raise_on_failure: bool = True,
) -> AxiomReport:
    r"""Check the group axioms and the consistency of the whole interface.

    Checked: associativity, identity (both sides), inverse (both sides), action homomorphism
    :math:`(gh)\cdot x = g\cdot(h\cdot x)` and :math:`e\cdot x = x`, closure of finite groups
    (Cayley table in range, each row a permutation), left-invariance of the Haar weights on
    finite grids, :math:`\exp(\log g) = g` where defined, and batched == looped evaluation.

    Args:
        group: the group to check.
        dtype: float dtype of elements and points.
        n_samples: number of random elements per check.
        seed: seed of the sampling generator.
        atol: tolerance for continuous groups (default: 1e-9 in float64, 1e-4 in float32).
        raise_on_failure: raise :class:`GroupAxiomError` listing every failure.

    Returns:
        An :class:`AxiomReport` with the largest violation of each property.
    """
    tol = atol if atol is not None else (1e-9 if dtype == torch.float64 else 1e-4)
    gen = torch.Generator().manual_seed(seed)
    rep = AxiomReport()
    a = _to(group.sample(n_samples, generator=gen, dtype=dtype), dtype)
    b = _to(group.sample(n_samples, generator=gen, dtype=dtype), dtype)
    c = _to(group.sample(n_samples, generator=gen, dtype=dtype), dtype)
    e = group.identity((n_samples,), dtype=dtype)

    rep.errors["associativity"] = _dist(
        group, group.product(group.product(a, b), c), group.product(a, group.product(b, c))
    )
    rep.errors["identity"] = max(
        _dist(group, group.product(e, a), a), _dist(group, group.product(a, e), a)
    )
    rep.errors["inverse"] = max(
        _dist(group, group.product(a, group.inverse(a)), e),
        _dist(group, group.product(group.inverse(a), a), e),
    )
    if group.action_dim:
        x = torch.randn(n_samples, group.action_dim, generator=gen, dtype=torch.float64).to(dtype)
        lhs = group.act(group.product(a, b), x)
        rhs = group.act(a, group.act(b, x))
        rep.errors["action_homomorphism"] = float((lhs - rhs).abs().max())
        rep.errors["action_identity"] = float((group.act(e, x) - x).abs().max())
        looped = torch.stack([group.act(a[i], x[i]) for i in range(n_samples)])
        rep.errors["batched_equals_looped_act"] = float((looped - group.act(a, x)).abs().max())
    looped = torch.stack([group.product(a[i], b[i]) for i in range(n_samples)])
    rep.errors["batched_equals_looped_product"] = _dist(group, looped, group.product(a, b))

    if group.is_finite:
        # the tables every layer uses, derived from product / inverse (gattn.groups.tables)
        try:
            tables = finite_tables(group)
        except ValueError:  # the product or inverse leaves the grid
            rep.errors["closure"] = 1.0
            tables = None
        if tables is not None:
            n = tables.order
            table = tables.cayley
            perm = all(torch.equal(row.sort().values, torch.arange(n)) for row in table)
            inv_ok = bool((table[torch.arange(n), tables.inverses] == tables.identity_index).all())
            rep.errors["closure"] = 0.0 if (perm and inv_ok) else 1.0
            w = group.haar_weights(tables.elements)
            for i in range(min(n, 8)):
                shifted = torch.empty_like(w)
                shifted[table[i]] = w
                rep.errors["haar_left_invariance"] = max(
                    rep.errors.get("haar_left_invariance", 0.0), float((shifted - w).abs().max())
                )
    elif isinstance(group, SemidirectProduct) and group.stabiliser.is_finite:
        # left-invariance of the Haar weights: translations and rotations of the lattice
        grid = group.grid(radius=2).to(dtype)
        w = group.haar_weights(grid)
        rep.errors["haar_left_invariance"] = float((w - w[0]).abs().max())
    else:
        rep.skipped.append("haar_left_invariance (no finite invariant grid)")

    if hasattr(group, "log") and hasattr(group, "exp"):
        try:
            rt = group.exp(group.log(a))
            rep.errors["exp_log_round_trip"] = _dist(group, rt, a)
        except NotImplementedError:
            rep.skipped.append("exp_log_round_trip (not implemented)")
    else:
        rep.skipped.append("exp_log_round_trip (not a Lie group)")

    exact = {"closure"}
    failures = []
    for name, err in rep.errors.items():
        limit = (
            0.0
            if (
                group.element_dtype == "long"
                and name
                not in (
                    "action_homomorphism",
                    "action_identity",
                    "batched_equals_looped_act",
                    "haar_left_invariance",
                )
            )
            or name in exact
            else tol
        )
        if err > limit or err != err:
            failures.append(f"{name}: {err:.3e} > {limit:.1e}")
    if failures and raise_on_failure:
        raise GroupAxiomError(f"{group.name} violates: " + "; ".join(failures))
    return rep

"""``FiniteGroup.from_generators`` bounds its work: generators of infinite groups (or inexact
ones) fail fast with a ValueError that says how to give them exactly, never a hang."""

from __future__ import annotations

import math
import threading
import time

import pytest
import sympy
import torch

from gattn.groups import FiniteGroup, finite_tables, rotation_matrix

# generous: the checks below answer in well under a second
_BOUND_S = 10.0


def _outcome_within(seconds: float, fn, *args, **kwargs) -> BaseException | object:
    """Run ``fn`` in a daemon thread; fail the test (instead of hanging) if it has not
    returned after ``seconds``. Returns the exception raised, or the result."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["result"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box["error"] = exc

    start = time.monotonic()
    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    elapsed = time.monotonic() - start
    assert not worker.is_alive(), f"from_generators still running after {seconds} s"
    assert elapsed < seconds
    return box.get("error", box.get("result"))


def _float_rotation(theta: float) -> list[list[float]]:
    c, s = math.cos(theta), math.sin(theta)
    return [[c, -s], [s, c]]


def test_float_rotation_by_one_radian_fails_fast_with_a_helpful_message() -> None:
    err = _outcome_within(_BOUND_S, FiniteGroup.from_generators, "R1", [_float_rotation(1.0)])
    assert isinstance(err, ValueError)
    msg = str(err)
    assert "do not generate a finite group" in msg
    assert "not given exactly" in msg
    assert "sympy.sqrt(2) / 2" in msg  # how to give them exactly
    assert "0.5403023058681398" in msg  # which float could not be made exact


@pytest.mark.parametrize(
    ("name", "generator", "reason"),
    [
        # rational rotation of infinite order (det exactly 1): entries grow with every power
        ("pythagorean", [[0.6, -0.8], [0.8, 0.6]], "bits"),
        ("pythagorean_exact", [[sympy.Rational(3, 5), -sympy.Rational(4, 5)], [0.8, 0.6]], "bits"),
        # hyperbolic, det 1, trace 3
        ("hyperbolic", [[2, 1], [1, 1]], "bits"),
        # shear: unipotent, entries grow by one per power
        ("shear", [[1, 1], [0, 1]], "max_order=1024"),
        ("scaling", [[2, 0], [0, 2]], "determinant 4"),
        ("anisotropic", [[1, 0], [0, sympy.Rational(1, 2)]], "determinant 0.5"),
        ("float_cos_2pi_7", _float_rotation(2 * math.pi / 7), "determinant"),
    ],
)
def test_infinite_or_inexact_generators_fail_fast(name: str, generator, reason: str) -> None:
    err = _outcome_within(_BOUND_S, FiniteGroup.from_generators, name, [generator])
    assert isinstance(err, ValueError), err
    assert "do not generate a finite group" in str(err)
    assert reason in str(err)


def test_infinite_group_from_two_generators_hits_max_order() -> None:
    gens = [[[2, 1], [1, 1]], [[0, -1], [1, 0]]]
    err = _outcome_within(_BOUND_S, FiniteGroup.from_generators, "SL2Z-ish", gens, max_order=64)
    assert isinstance(err, ValueError)
    assert "max_order=64" in str(err)


def test_explicit_bounds_are_honoured() -> None:
    r = rotation_matrix(1, 8)
    with pytest.raises(ValueError, match="max_order=4"):
        FiniteGroup.from_generators("C8", [r], max_order=4)
    with pytest.raises(ValueError, match="time_limit=0"):
        FiniteGroup.from_generators("C8", [r], time_limit=0)
    conj = sympy.Matrix([[1, 2], [3, 7]])
    d4 = [conj.inv() * sympy.Matrix(m) * conj for m in ([[0, -1], [1, 0]], [[-1, 0], [0, 1]])]
    with pytest.raises(ValueError, match="max_entry_bits=2"):
        FiniteGroup.from_generators("D4conj", d4, max_entry_bits=2)
    assert FiniteGroup.from_generators("D4conj", d4).order == 8


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_order": 0},
        {"max_order": 2.5},
        {"max_entry_bits": 0},
        {"time_limit": -1.0},
        {"time_limit": float("nan")},
    ],
)
def test_invalid_bounds_rejected(kwargs) -> None:
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        FiniteGroup.from_generators("C4", [[[0, -1], [1, 0]]], **kwargs)


def test_finite_groups_still_close_with_default_bounds() -> None:
    half = sympy.sqrt(2) / 2
    c8 = FiniteGroup.from_generators("C8", [[[half, -half], [half, half]]])
    assert c8.order == 8 and finite_tables(c8).identity_index == 0
    c16 = FiniteGroup.from_generators("C16f", [_float_rotation(math.pi / 8)])  # snapped floats
    assert c16.order == 16
    conj = sympy.Matrix([[13, 21], [34, 55]])  # a non-orthogonal copy of D4
    d4 = [conj.inv() * sympy.Matrix(m) * conj for m in ([[0, -1], [1, 0]], [[-1, 0], [0, 1]])]
    assert FiniteGroup.from_generators("D4conj", d4).order == 8


def test_closure_tables_match_exact_products() -> None:
    """The Cayley table read off the closure equals the one of the element list."""
    gens = [rotation_matrix(1, 6), [[-1, 0], [0, 1]]]
    g = FiniteGroup.from_generators("D6", gens)
    ref = FiniteGroup("D6ref", g.exact_matrices)
    tg, tr = finite_tables(g), finite_tables(ref)
    assert torch.equal(tg.cayley, tr.cayley)
    assert torch.equal(tg.inverses, tr.inverses)
    assert torch.equal(tg.matrices, tr.matrices)
    m = tg.matrices
    assert torch.allclose(m[tg.cayley], m[:, None] @ m[None, :], atol=1e-12)


def test_hyperoctahedral_group_closes_quickly() -> None:
    """384 signed permutations of R^4: the table comes from the closure (one exact product per
    element and generator), not from all N^2 products."""
    gens = [
        [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
        [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0]],
        [[-1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
    ]
    out = _outcome_within(_BOUND_S, FiniteGroup.from_generators, "B4", gens)
    assert isinstance(out, FiniteGroup) and out.order == 384
    m = out.matrix(torch.arange(384))
    idx = torch.randint(384, (200, 2), generator=torch.Generator().manual_seed(0))
    prod = m[idx[:, 0]] @ m[idx[:, 1]]
    assert torch.equal(prod, m[out.product(idx[:, 0], idx[:, 1])])

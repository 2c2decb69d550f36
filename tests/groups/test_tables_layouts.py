"""Tables derived from the interface, layouts, the action in d = 1, 2, 3, the cube groups."""

from __future__ import annotations

import itertools

import pytest
import torch
from interface_groups import ShuffledC4

from gattn.groups import (
    CyclicGroup,
    GroupSignal,
    Image,
    Invariant,
    PairSignal,
    SemidirectProduct,
    cube,
    cubem,
    finite_tables,
    is_grid_exact,
    octahedral,
    p1m,
    p4m,
    pixel_coordinates,
    stabiliser_of,
    transform_image,
    transform_signal,
)
from gattn.testing import check_group_axioms

F64 = torch.float64


def test_tables_derived_from_the_interface_alone() -> None:
    h = ShuffledC4()
    assert h.is_finite and h.order == 4  # derived: int64 elements, len(grid())
    t = finite_tables(h)
    el = t.elements.tolist()  # [0, 2, 1, 3]
    for i, j in itertools.product(range(4), repeat=2):
        assert el[int(t.cayley[i, j])] == (el[i] + el[j]) % 4
        assert el[int(t.relative[i, j])] == (el[j] - el[i]) % 4
    assert [el[int(k)] for k in t.inverses] == [(-e) % 4 for e in el]
    assert el[t.identity_index] == 0 and t.all_lattice_preserving
    check_group_axioms(h)
    check_group_axioms(SemidirectProduct(h))


def test_interface_group_acts_like_p4_on_signals() -> None:
    """The shuffled C4 and gattn's p4 are the same group: same action after reordering."""
    from gattn.groups import p4

    mine = SemidirectProduct(ShuffledC4(), lattice=True)
    order = [0, 2, 1, 3]  # grid position -> rotation index
    x = torch.randn(2, 3, 4, 7, 7, dtype=F64)
    x_p4 = x[:, :, torch.argsort(torch.tensor(order))]  # same signal in p4's order
    for k in range(4):
        g = mine.embed(torch.tensor(k), dtype=F64)
        assert g.dtype == F64 and mine.split(g)[1].dtype == torch.long  # stabiliser part: int64
        y = transform_signal(mine, g, x)
        y_p4 = transform_signal(p4(), p4().embed(torch.tensor(k), dtype=F64), x_p4)
        assert torch.equal(y, y_p4[:, :, torch.tensor(order)])


def test_non_finite_group_has_no_tables() -> None:
    from gattn.groups import SO2

    with pytest.raises(ValueError, match="not finite"):
        finite_tables(SO2())


def test_broken_product_leaving_the_grid_is_reported() -> None:
    class Leaky(ShuffledC4):
        def product(self, g, h):
            return g + h  # not reduced mod 4

    with pytest.raises(ValueError, match="element 4 of C4-shuffled matches 0 grid elements"):
        finite_tables(Leaky())


@pytest.mark.parametrize("reflections, order", [(False, 24), (True, 48)])
def test_cube_groups(reflections: bool, order: int) -> None:
    h = octahedral(reflections)
    t = finite_tables(h)
    assert t.order == order and t.all_lattice_preserving
    dets = torch.linalg.det(t.matrices).round()
    assert set(dets.tolist()) == ({1.0} if not reflections else {1.0, -1.0})
    check_group_axioms(h)
    check_group_axioms(cubem() if reflections else cube())


@pytest.mark.parametrize("group", [cube(), cubem()], ids=["cube", "cubem"])
def test_volume_action_is_a_homomorphism(group) -> None:
    """L_a L_b = L_{ab} on group signals over Z^3 x| H, exactly, on odd and even sizes."""
    stab = stabiliser_of(group)
    n = finite_tables(stab).order
    gen = torch.Generator().manual_seed(0)
    for size in (4, 5):
        x = torch.randn(1, 2, n, size, size, size, generator=gen, dtype=F64)
        els = [group.embed(torch.tensor(i), dtype=F64) for i in range(n)]
        assert all(is_grid_exact(group, g, size) for g in els)
        for i, j in [(1, 2), (5, 7), (n - 1, 3), (10, n - 2)]:
            ab = transform_signal(group, group.product(els[i], els[j]), x, "exact")
            a_b = transform_signal(group, els[i], transform_signal(group, els[j], x, "exact"))
            assert torch.equal(ab, a_b)


def test_quarter_turn_about_z_rotates_every_slice() -> None:
    """The rotation by +90° about z acts on each z-slice as the planar rotation (rot90)."""
    group = cube()
    t = finite_tables(stabiliser_of(group))
    quarter = torch.tensor([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]], dtype=F64)
    i = int(((t.matrices - quarter).abs().flatten(1).sum(-1) < 1e-12).nonzero()[0, 0])
    x = torch.randn(2, 3, 4, 5, 5, dtype=F64)
    y = transform_image(group, group.embed(t.elements[i], dtype=F64), x, "exact")
    assert torch.equal(y, torch.rot90(x, 1, dims=(-2, -1)))


def test_one_dimensional_reflection() -> None:
    group = p1m()
    x = torch.randn(2, 3, 2, 9, dtype=F64)
    m = group.embed(torch.tensor(1), dtype=F64)
    y = transform_signal(group, m, x)
    assert torch.equal(y[:, :, 1], x[:, :, 0].flip(-1))
    assert torch.equal(y[:, :, 0], x[:, :, 1].flip(-1))
    shift = torch.tensor([2.0, 0.0], dtype=F64)  # translation by 2, identity stabiliser part
    z = transform_image(group, shift, x[:, :, 0])
    assert torch.equal(z[..., 2:], x[:, :, 0, :-2]) and bool((z[..., :2] == 0).all())


def test_pixel_coordinates_conventions() -> None:
    c2 = pixel_coordinates(3, 4)
    assert c2.shape == (3, 4, 2)
    assert c2[0, 0].tolist() == [-1.5, 1.0]  # top-left: x left, y up
    c3 = pixel_coordinates(2, 3, 3)
    assert c3.shape == (2, 3, 3, 3) and c3[0, 0, 0].tolist() == [-1.0, 1.0, -0.5]
    assert pixel_coordinates(5)[:, 0].tolist() == [-2.0, -1.0, 0.0, 1.0, 2.0]


def test_layouts_check_and_act() -> None:
    stab = stabiliser_of(p4m())
    sig = GroupSignal(stab, 2, channels=3)
    with pytest.raises(ValueError, match=r"x must be a group signal \(B, C, \|H\|=8"):
        sig.check(torch.zeros(1, 3, 4, 5, 5))
    with pytest.raises(ValueError, match="2 channels, expected 3"):
        sig.check(torch.zeros(1, 2, 8, 5, 5))
    with pytest.raises(ValueError, match="an image"):
        Image(2).check(torch.zeros(1, 3, 5))
    with pytest.raises(ValueError, match="dims must be 1, 2 or 3"):
        Image(4)
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        Invariant().check([1, 2])
    g = p4m().embed(torch.tensor(5), dtype=F64)
    x = torch.randn(1, 3, 8, 5, 5, dtype=F64)
    assert torch.equal(sig.act(p4m(), g, x), transform_signal(p4m(), g, x))
    y = torch.randn(4, 7)
    assert Invariant().act(p4m(), g, y) is y


def test_pair_signal_permutes_both_group_axes() -> None:
    group = p4m()
    stab = stabiliser_of(group)
    t = finite_tables(stab)
    f = torch.randn(1, 2, 8, 3, 8, 5, 5, dtype=F64)
    g = group.embed(torch.tensor(3), dtype=F64)
    out = PairSignal(stab, 2).act(group, g, f)
    i = 3
    for h, ht in [(0, 0), (2, 5), (7, 1)]:  # out[k h, k h~] = rotated f[h, h~]
        ref = transform_image(group, g, f[:, :, h, :, ht])
        assert torch.equal(out[:, :, int(t.cayley[i, h]), :, int(t.cayley[i, ht])], ref)
    lifting = torch.randn(1, 2, 8, 3, 1, 5, 5, dtype=F64)
    out = PairSignal(stab, 2, lifting=True).act(group, g, lifting)
    assert torch.equal(
        out[:, :, int(t.cayley[i, 2]), :, 0], transform_image(group, g, lifting[:, :, 2, :, 0])
    )


def test_stabiliser_weights_divide_by_det_once() -> None:
    """The fibre weights are H's Haar weights over |det A(h)|, divided once (a finite group's
    own Haar measure is the counting measure)."""

    class Scaled(CyclicGroup):
        def det(self, g):
            return torch.full(g.shape, 2.0, dtype=F64)

    h = Scaled(4)
    grid = h.grid()
    assert torch.equal(h.haar_weights(grid), torch.ones(4, dtype=F64))
    w = SemidirectProduct(h).stabiliser_weights(grid)
    assert torch.allclose(w, torch.full((4,), 0.5, dtype=F64))


def test_stabiliser_of_errors() -> None:
    from gattn.groups import SE2

    with pytest.raises(ValueError, match="infinite stabiliser SO\\(2\\)"):
        stabiliser_of(SE2(), finite=True)
    with pytest.raises(ValueError, match="acts on R\\^3"):
        stabiliser_of(cube(), dims=(2,))
    with pytest.raises(TypeError, match="affine group"):
        stabiliser_of("p4")

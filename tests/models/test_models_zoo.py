"""Model zoo: registry, parameter counts (SPEC §3), exact invariance of the logits."""

from __future__ import annotations

import pytest
import torch

from gattn.models import available_models, get_model, model_info
from gattn.testing import EquivarianceError, assert_equivariant

PAPER_COUNTS = {"p4cnn": 24_610}
OUR_COUNTS = {"z2cnn": 21_620, "p4cnn": 24_610, "p4mcnn": 49_010}


def _params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_registry_lists_every_issue_model():
    names = set(available_models())
    expected = {
        "z2cnn", "p4cnn", "a-p4cnn", "af-p4cnn", "a-ch-p4cnn", "a-sp-p4cnn", "p4mcnn",
        "a-p4mcnn", "af-p4mcnn", "p4-allcnnc", "af-p4-allcnnc", "p4m-allcnnc",
        "af-p4m-allcnnc", "p4m-resnet44", "af-p4m-resnet44", "gsa-p4", "gsa-p4m",
    }  # fmt: skip
    assert expected <= names


def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError, match="p4cnn"):
        get_model("p5cnn")


@pytest.mark.parametrize("name", sorted(OUR_COUNTS))
def test_parameter_counts(name):
    assert _params(get_model(name)) == OUR_COUNTS[name]
    if name in PAPER_COUNTS:
        assert OUR_COUNTS[name] == PAPER_COUNTS[name]


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="channels"):
        get_model("p4cnn", channels=0)
    with pytest.raises(ValueError, match="dropout"):
        get_model("p4cnn", dropout=1.5)
    with pytest.raises(ValueError, match="depth"):
        get_model("p4m-resnet44", depth=45)


def _invariant(name: str, batch: int = 1, **kw) -> float:
    torch.manual_seed(0)
    info = model_info(name)
    model = get_model(name, **kw).double().eval()
    size = info.input_size
    x = torch.rand(batch, info.in_channels, size, size, dtype=torch.float64)
    rep = assert_equivariant(model, info.group(), x)
    return rep.relative


@pytest.mark.parametrize(
    "name,kw",
    [
        ("p4cnn", {}),
        ("p4mcnn", {"channels": 3}),
        ("z2cnn", {}),  # trivially invariant to the identity only
        ("p4-allcnnc", {"widths": (4, 6)}),
        ("p4m-allcnnc", {"widths": (2, 3)}),
    ],
)
def test_logits_exactly_invariant(name, kw):
    assert _invariant(name, **kw) <= 1e-10


def test_invariance_check_can_fail_off_grid_size():
    # 29 px: the 2x2 pool sees an odd size (27), so rotations are not exact symmetries (§5)
    torch.manual_seed(0)
    model = get_model("p4cnn").double().eval()
    x = torch.rand(2, 1, 29, 29, dtype=torch.float64)
    with pytest.raises(EquivarianceError):
        assert_equivariant(model, model_info("p4cnn").group(), x)


def test_z2cnn_is_not_rotation_invariant():
    torch.manual_seed(0)
    model = get_model("z2cnn").double().eval()
    x = torch.rand(2, 1, 28, 28, dtype=torch.float64)
    with pytest.raises(EquivarianceError):
        assert_equivariant(model, model_info("p4cnn").group(), x)


def test_resnet_small_invariant_and_shape():
    assert _invariant("p4m-resnet44", batch=1, depth=8, widths=(2, 3, 4)) <= 1e-10


@pytest.mark.slow
def test_resnet44_forward_shape():
    model = get_model("p4m-resnet44").eval()
    assert _params(model) > 2_000_000
    with torch.no_grad():
        assert model(torch.rand(1, 3, 32, 32)).shape == (1, 10)


def test_models_train_mode_backward():
    model = get_model("p4cnn")
    out = model(torch.rand(4, 1, 28, 28))
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())

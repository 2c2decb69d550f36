"""gattn.viz: attention-map capture, rotation of the maps with the input, the figure, the CLI."""

from __future__ import annotations

import json

import matplotlib.image as mpimg
import pytest
import torch
from torch import nn

from gattn.groups import p4, p4m, transform_image, transform_signal
from gattn.nn import GroupConv, LiftingConv
from gattn.viz import (
    attention_maps,
    group_element,
    maps_equivariance_error,
    plot_attention,
    reduce_map,
    spatial_attention_modules,
    upsample_maps,
)


class ToySpatialAttention(nn.Module):
    """Equivariant spatial attention on a group signal: sigma of a group correlation of the
    channel (mean, max). Output ``(B, 1, |H|, Y, X)``."""

    def __init__(self, group) -> None:
        super().__init__()
        self.conv = GroupConv(group, 2, 1, 3, padding=1)

    def forward(self, x):
        stats = torch.stack([x.mean(1), x.amax(1)], 1)
        return torch.sigmoid(self.conv(stats))


class BrokenSpatialAttention(ToySpatialAttention):
    """Ignores the group axis order: rolls it the wrong way, so the map does not rotate."""

    def forward(self, x):
        return super().forward(x).flip(2)


class ToyAttentiveNet(nn.Module):
    def __init__(self, group, attention=ToySpatialAttention) -> None:
        super().__init__()
        self.lift = LiftingConv(group, 1, 4, 3)
        self.att1 = attention(group)
        self.conv = GroupConv(group, 4, 4, 3, padding=1)
        self.att2 = attention(group)
        self.pool = nn.MaxPool3d((1, 2, 2))

    def forward(self, x):
        y = self.lift(x)
        y = y * self.att1(y)
        y = self.conv(torch.relu(y))
        y = y * self.att2(y)
        return self.pool(y).amax(dim=(2, 3, 4))


def _net(group=None, attention=ToySpatialAttention, seed=0):
    torch.manual_seed(seed)
    return ToyAttentiveNet(group or p4(), attention).double()


def test_modules_found_by_class_name():
    assert list(spatial_attention_modules(_net())) == ["att1", "att2"]
    assert list(spatial_attention_modules(_net(), layers=["att2"])) == ["att2"]
    with pytest.raises(ValueError, match="not submodules"):
        spatial_attention_modules(_net(), layers=["nope"])
    with pytest.raises(TypeError, match="nn.Module"):
        spatial_attention_modules("model")


def test_maps_shape_range_and_restored_mode():
    net = _net().train()
    x = torch.randn(2, 1, 16, 16, dtype=torch.float64)
    maps = attention_maps(net, x)
    assert set(maps) == {"att1", "att2"}
    for m in maps.values():
        assert m.shape == (2, 4, 16, 16)
        assert float(m.min()) >= 0 and float(m.max()) <= 1
    raw = attention_maps(net, x, upsample=False)
    assert raw["att1"].shape == (2, 4, 14, 14)
    assert net.training and net.att1.training


def test_maps_rotate_with_input_exactly_p4():
    """alpha[L_g x](h, y) = alpha[x](g^-1 h, g^-1 y): float64, odd size 15 (14 after the
    3x3 lifting: the 14 -> 15 upsampling grid is centred)."""
    group, net = p4(), _net()
    x = torch.randn(1, 1, 15, 15, dtype=torch.float64)
    maps = attention_maps(net, x)
    for k in range(1, 4):
        g = group_element(group, k)
        turned = attention_maps(net, transform_image(group, g, x, mode="exact"))
        for name, m in maps.items():
            expected = transform_signal(group, g, m[:, None], mode="exact")[:, 0]
            torch.testing.assert_close(turned[name], expected, atol=1e-12, rtol=0)
    assert max(maps_equivariance_error(net, x).values()) < 1e-12


def test_maps_rotate_p4m_mirror():
    group = p4m()
    errors = maps_equivariance_error(
        _net(group), torch.randn(1, 1, 13, 13, dtype=torch.float64), group, rotation=5
    )
    assert max(errors.values()) < 1e-12


def test_broken_attention_is_detected():
    x = torch.randn(1, 1, 15, 15, dtype=torch.float64)
    errors = maps_equivariance_error(_net(attention=BrokenSpatialAttention), x)
    assert max(errors.values()) > 1e-3


def test_reduce_and_upsample():
    full = torch.rand(2, 3, 4, 1, 4, 5, 5)  # (B, C, |H|, C_in, |H_in|, Y, X)
    m, layout = reduce_map(full)
    torch.testing.assert_close(m, full.mean(dim=(1, 3, 4)))
    assert layout == "group"
    signal = torch.rand(2, 3, 4, 5, 5)  # (B, C, |H|, Y, X)
    m, layout = reduce_map((signal,))
    torch.testing.assert_close(m, signal.mean(1))
    assert layout == "group"
    image = torch.rand(2, 3, 5, 5)  # (B, C, Y, X): a map on the plane, no group axis
    m, layout = reduce_map(image)
    torch.testing.assert_close(m, image.mean(1, keepdim=True))
    assert layout == "image"
    m, layout = reduce_map(torch.rand(2, 5, 5))
    assert m.shape == (2, 1, 5, 5) and layout == "image"
    with pytest.raises(ValueError, match="attention map"):
        reduce_map(torch.rand(3, 3))
    m = torch.rand(1, 4, 6, 6, dtype=torch.float64)
    up = upsample_maps(m, 9)
    assert up.shape == (1, 4, 9, 9)
    torch.testing.assert_close(
        upsample_maps(torch.rot90(m, 1, (-2, -1)), 9), torch.rot90(up, 1, (-2, -1))
    )


def test_errors_name_the_problem():
    net = nn.Sequential(nn.Conv2d(1, 1, 3))
    with pytest.raises(ValueError, match="no spatial attention"):
        attention_maps(net, torch.randn(1, 1, 8, 8))
    with pytest.raises(ValueError, match="shape"):
        attention_maps(_net(), torch.randn(8, 8))
    with pytest.raises(ValueError, match="rotation"):
        group_element(p4(), 4)
    with pytest.raises(ValueError, match="alpha"):
        plot_attention(_net(), torch.randn(1, 15, 15), alpha=2.0)


def _variance_of_png(path) -> float:
    img = mpimg.imread(path)
    return float(img[..., :3].var())


def test_figure_renders_not_blank(tmp_path):
    net = _net()
    image = torch.randn(1, 15, 15, dtype=torch.float64)
    fig = plot_attention(net, image, rotation=1)
    assert len(fig.axes) == 2 * 2 * (1 + 4) + 2  # panels, one colour bar per layer
    out = tmp_path / "fig.png"
    fig.savefig(out, dpi=60)
    assert out.stat().st_size > 1000
    assert _variance_of_png(out) > 1e-3


def test_predicate_selects_sigmoid_of_custom_module(tmp_path):
    """A model whose attention is not named *SpatialAttention: capture its nn.Sigmoid."""
    group = p4()
    torch.manual_seed(0)
    net = nn.Sequential(
        LiftingConv(group, 1, 2, 3),
        nn.Sequential(GroupConv(group, 2, 1, 3, padding=1), nn.Sigmoid()),
    ).double()
    maps = attention_maps(
        net, torch.randn(1, 1, 11, 11, dtype=torch.float64), predicate=lambda n, m: n == "1.1"
    )
    assert list(maps) == ["1.1"] and maps["1.1"].shape == (1, 4, 11, 11)


def test_cli_viz(tmp_path, capsys, monkeypatch):
    """`gattn viz RUN` on a run folder laid out as `gattn train` writes it (config.json +
    best.pt) with a toy registered model."""
    pytest.importorskip("gattn.train")
    from gattn import models
    from gattn.cli import main
    from gattn.train import save_checkpoint

    name = "viz-toy-test"
    if name not in models.available_models():
        models.register_model(name, lambda **kw: ToyAttentiveNet(p4()), p4, 28, 1, "viz test net")
    run = tmp_path / "run"
    run.mkdir()
    cfg = {"model": name, "data": "rotmnist-small", "data_seed": 0, "limit": 8}
    (run / "config.json").write_text(json.dumps(cfg))
    torch.manual_seed(1)
    save_checkpoint(run / "best.pt", {"model": ToyAttentiveNet(p4()).state_dict(), "epoch": 1})
    out = tmp_path / "fig.png"
    assert main(["viz", str(run), "--image", "3", "--out", str(out), "--dpi", "50"]) == 0
    assert _variance_of_png(out) > 1e-3
    printed = capsys.readouterr().out
    assert "att1" in printed and "relative error" in printed
    assert main(["viz", str(run), "--image", "999", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gattn viz: error:") and "image index" in err
    assert main(["viz", str(tmp_path), "--out", str(out)]) == 2
    assert "config.json" in capsys.readouterr().err
    assert main(["viz", str(run), "--rotation", "4", "--out", str(out)]) == 2
    assert "rotation" in capsys.readouterr().err


@pytest.mark.parametrize("attention", ["spatial", "full"])
def test_maps_of_the_attentive_layers_rotate(attention):
    """The real attentive layers (gattn.attention): maps found, exactly rotating (p4)."""
    attentive = pytest.importorskip("gattn.attention.layers")
    group = p4()
    torch.manual_seed(0)
    net = nn.Sequential(
        attentive.AttentiveLiftingConv(group, 1, 3, 3, attention=attention),
        nn.ReLU(),
        attentive.AttentiveGroupConv(group, 3, 3, 3, attention=attention),
    ).double()
    x = torch.randn(1, 1, 13, 13, dtype=torch.float64)
    maps = attention_maps(net, x)
    assert len(maps) == 2
    assert all(m.shape == (1, 4, 13, 13) for m in maps.values())
    assert max(maps_equivariance_error(net, x).values()) < 1e-10

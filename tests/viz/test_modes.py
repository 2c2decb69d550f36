"""gattn.viz on every attention mode of the model zoo: maps recorded from the forward pass on the
image itself, rotated as what they are (maps on G or on the plane), and the figure draws
exactly the maps whose errors it reports."""

from __future__ import annotations

import json
import re

import matplotlib.image as mpimg
import pytest
import torch
from matplotlib.image import AxesImage

from gattn.analysis import install_size_check
from gattn.attention import ATTENTION_MODES
from gattn.groups import p4, p4m
from gattn.models import get_model
from gattn.models.cnn import RotMNISTCNN
from gattn.viz import (
    AttentionMaps,
    attention_maps,
    compare_maps,
    element_label,
    group_element,
    load_run,
    plot_comparison,
    transform_maps,
)

MODES = [m for m in ATTENTION_MODES if m is not None]
#: the attentive rot-MNIST models of the zoo, one per mode and group
ZOO = ["a-p4cnn", "a-sp-p4cnn", "a-ch-p4cnn", "af-p4cnn", "a-p4mcnn", "af-p4mcnn"]


def _cnn(mode: str, group=None, seed: int = 0) -> RotMNISTCNN:
    """A narrow P4CNN with attention ``mode``, random weights, float64, with the size check
    that ``get_model`` installs (a dry run on zeros at the first call)."""
    torch.manual_seed(seed)
    model = RotMNISTCNN(group or p4(), channels=2, attention=mode, dropout=0.0).double().eval()
    install_size_check(model)
    return model


def _digit(seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 1, 28, 28, generator=g, dtype=torch.float64)


def _assert_same_maps(a: AttentionMaps, b: AttentionMaps) -> None:
    assert list(a) == list(b) and a.layouts == b.layouts
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=0, rtol=0)


@pytest.mark.parametrize("mode", MODES)
def test_every_attention_mode(mode):
    """Each mode: maps found (or a clear error for channel-only attention), rotating exactly,
    and they are the maps of a fresh forward pass on the image — not of the size check's dry
    run on zeros that the model's first call starts."""
    model, x = _cnn(mode), _digit()
    if mode == "channel":
        with pytest.raises(ValueError, match="no spatial attention module.*ChannelAttention"):
            compare_maps(model, x)
        return
    c = compare_maps(model, x)
    assert len(c.maps) == 7 and max(c.errors.values()) < 1e-10, c.errors
    first = "image" if mode == "input" else "group"  # alpha F of the lifting layer: on R^2
    assert list(c.maps.layouts.values()) == [first] + ["group"] * 6
    for name, m in c.maps.items():
        assert m.shape == ((1, 1, 28, 28) if c.maps.layout(name) == "image" else (1, 4, 28, 28))
    # the size check has run now: a second recording is one plain forward pass each
    _assert_same_maps(c.maps, attention_maps(model, x))
    _assert_same_maps(c.maps_transformed, attention_maps(model, c.x_transformed))


def test_input_attention_map_is_the_one_that_weights_the_image():
    """The recorded map of an alpha-F lifting layer is alpha^X of the channel-attended image."""
    model, x = _cnn("input"), _digit()
    maps = attention_maps(model, x)
    op = model.features[0][0].attention
    expected = op.operators[1](op.operators[0].attend(x))  # (1, 1, 28, 28)
    torch.testing.assert_close(maps["features.0.0.attention.operators.1"], expected)


def test_maps_of_a_nested_dry_run_are_discarded():
    """A pre-hook that runs the model on other data (as size checks and tracers do) does not
    leak its maps into the recording, whichever order the hooks were registered in."""
    model, x = _cnn("spatial"), _digit()
    install_size_check(model)
    reference = attention_maps(model, x)
    noise = torch.randn_like(x)
    calls = []

    def meddle(module, args):
        if not calls:
            calls.append(1)
            module(noise)

    handle = model.register_forward_pre_hook(meddle)
    try:
        _assert_same_maps(attention_maps(model, x), reference)
    finally:
        handle.remove()
    assert calls


def test_maps_on_the_plane_rotate_as_images():
    maps = AttentionMaps({"a": torch.rand(1, 1, 6, 6)}, {"a": "image"})
    g = group_element(p4(), 1)
    torch.testing.assert_close(
        transform_maps(p4(), g, maps)["a"], torch.rot90(maps["a"], 1, (-2, -1))
    )
    with pytest.raises(ValueError, match="layout"):
        AttentionMaps({"a": torch.rand(1, 1, 6, 6)}, {"a": "signal"})
    with pytest.raises(ValueError, match="orientation axis of length 2"):
        transform_maps(p4(), g, AttentionMaps({"a": torch.rand(1, 2, 6, 6)}, {"a": "group"}))


def test_element_labels_name_the_angle():
    assert [element_label(p4(), k) for k in range(4)] == ["0°", "+90°", "+180°", "+270°"]
    assert element_label(p4m(), 4) == "mirror" and element_label(p4m(), 5) == "mirror, +90°"


def _panels(fig, rows: int, cols: int):
    return [fig.axes[r * cols : (r + 1) * cols] for r in range(rows)]


def test_figure_draws_the_certified_maps():
    """Every map panel shows exactly the tensor of the comparison whose error is printed; both
    rows of a layer share one colour scale; columns and rows name the rotation's angle."""
    model = _cnn("input")
    c = compare_maps(
        model,
        _digit(),
        layers=["features.0.0.attention.operators.1", "features.1.0.attention.operators.1"],
    )
    fig = plot_comparison(c)
    names, cols = list(c.maps), 1 + 4
    rows = _panels(fig, 2 * len(names), cols)
    bars = fig.axes[2 * len(names) * cols :]
    assert len(bars) == len(names)
    for i, name in enumerate(names):
        lo = min(float(c.maps[name].min()), float(c.maps_transformed[name].min()))
        hi = max(float(c.maps[name].max()), float(c.maps_transformed[name].max()))
        for j, maps in enumerate((c.maps, c.maps_transformed)):
            panels = rows[2 * i + j]
            label = panels[0].get_ylabel()
            assert name.split(".")[0] in label
            assert ("input" if j == 0 else "rotated +90°") in label
            if j == 1:
                assert f"{c.errors[name]:.1e}" in label
            m = maps[name][0]
            for k in range(m.shape[0]):
                images = [a for a in panels[1 + k].get_children() if isinstance(a, AxesImage)]
                drawn = torch.as_tensor(images[-1].get_array().data)
                torch.testing.assert_close(drawn, m[k].double(), atol=0, rtol=0)
                assert images[-1].norm.vmin == lo and images[-1].norm.vmax == hi
            for ax in panels[1 + m.shape[0] :]:
                assert not ax.axison and not ax.get_images()  # no map: hidden panel
        assert tuple(bars[i].get_ylim()) == pytest.approx((lo, hi))
    titles = [ax.get_title() for ax in rows[2][1:]]
    assert titles == ["h = 0°", "h = +90°", "h = +180°", "h = +270°"]
    assert rows[0][1].get_title() == "map (no group axis)"


def test_figure_labels_are_not_clipped(tmp_path):
    """Saved PNG: nothing drawn in the outermost pixel columns (row labels and colour-bar ticks
    are inside the figure)."""
    c = compare_maps(_cnn("input"), _digit(), layers=["features.0.0.attention.operators.1"])
    out = tmp_path / "fig.png"
    plot_comparison(c).savefig(out, dpi=60)
    img = mpimg.imread(out)[..., :3]
    assert float(img[:, :2].min()) == 1.0 and float(img[:, -2:].min()) == 1.0
    assert float(img.var()) > 1e-3


@pytest.mark.parametrize("name", ZOO)
def test_zoo_models(name):
    """The registered attentive rot-MNIST models as get_model builds them (size check on)."""
    torch.manual_seed(0)
    model = get_model(name, channels=2, dropout=0.0).eval()
    x = _digit().float()
    if name.startswith("a-ch-"):
        with pytest.raises(ValueError, match="no spatial attention"):
            compare_maps(model, x)
        return
    c = compare_maps(model, x)
    assert max(c.errors.values()) < 1e-5, c.errors
    _assert_same_maps(c.maps, attention_maps(model, x))
    order = 8 if "p4m" in name else 4
    first = "image" if name.startswith("af-") else "group"
    assert c.maps.layout(next(iter(c.maps))) == first
    assert all(c.maps[n].shape[1] == order for n in list(c.maps)[1:])


def _printed_errors(text: str) -> dict[str, float]:
    pairs = re.findall(r"^  (\S+): relative error of the rotated maps (\S+)$", text, re.M)
    return {k: float(v) for k, v in pairs}


def test_cli_line_of_the_docs_on_a_tiny_run(tmp_path, capsys):
    """`gattn viz RUN --image 3 --out attention.png` (docs/getting_started.md) on a run that
    `gattn train` just wrote for the alpha-F model; the printed errors are those of the maps a
    fresh recording of that image gives."""
    from gattn.cli import main

    run = tmp_path / "run"
    argv = ["train", "--model", "af-p4cnn", "--data", "rotmnist-small", "--epochs", "1"]
    argv += ["--limit", "40", "--batch-size", "20", "--model-kw", "dropout=0.0"]
    argv += ["--model-kw", "channels=2", "--seed", "0", "--device", "cpu", "--quiet"]
    assert main([*argv, "--out", str(run)]) == 0
    capsys.readouterr()
    out = tmp_path / "attention.png"
    assert main(["viz", str(run), "--image", "3", "--out", str(out), "--dpi", "50"]) == 0
    printed = _printed_errors(capsys.readouterr().out)
    loaded = load_run(run)
    image, _ = loaded.test_image(3)
    c = compare_maps(loaded.model, image[None])
    assert list(printed) == list(c.maps) and len(printed) == 7
    for layer, err in c.errors.items():
        assert printed[layer] == float(f"{err:.1e}") and err < 1e-5
    assert float(mpimg.imread(out)[..., :3].var()) > 1e-3


def test_cli_on_a_channel_attention_run_says_why(tmp_path, capsys):
    from gattn.cli import main
    from gattn.train import save_checkpoint

    run = tmp_path / "run"
    run.mkdir()
    cfg = {"model": "a-ch-p4cnn", "data": "rotmnist-small", "data_seed": 0, "limit": 8}
    cfg["model_kwargs"] = {"channels": 2}
    (run / "config.json").write_text(json.dumps(cfg))
    model = get_model("a-ch-p4cnn", size_check=None, channels=2)
    save_checkpoint(run / "best.pt", {"model": model.state_dict(), "epoch": 1})
    assert main(["viz", str(run), "--out", str(tmp_path / "f.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gattn viz: error:") and "ChannelAttention" in err


def test_figure_of_a_batch_is_refused():
    c = compare_maps(_cnn("input"), torch.rand(2, 1, 28, 28, dtype=torch.float64))
    with pytest.raises(ValueError, match="one image"):
        plot_comparison(c)

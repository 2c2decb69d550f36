"""torch.compile / torch.export of gattn layers and models give the eager outputs.

The default run traces with the ``aot_eager`` backend (graph capture and AOT autograd, fast);
the inductor backend (C++ code generation, ~30 s per model on 2 cores) runs with --runslow.
"""

from __future__ import annotations

import importlib

import pytest
import torch

from gattn.groups import p4m
from gattn.nn import GroupBatchNorm, GroupConv, GroupPool, LiftingConv

MODELS = ["p4cnn", "af-p4cnn", "a-p4cnn", "gsa-p4"]


def small_net() -> torch.nn.Module:
    g = p4m()
    return torch.nn.Sequential(
        LiftingConv(g, 1, 4, 3),
        GroupBatchNorm(4),
        torch.nn.ReLU(),
        GroupConv(g, 4, 4, 3),
        GroupPool("max"),
    ).eval()


def zoo_model(name: str) -> torch.nn.Module:
    models = importlib.import_module("gattn.models")
    try:
        return models.get_model(name).eval()
    except (ValueError, ImportError, ModuleNotFoundError) as exc:  # model family not built
        pytest.skip(f"{name} unavailable: {exc}")


def _compare_compiled(model: torch.nn.Module, x: torch.Tensor, backend: str) -> None:
    with torch.no_grad():
        eager = model(x)
        compiled = torch.compile(model, backend=backend, fullgraph=True)(x)
    torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-5)


def test_compile_layers_aot_eager() -> None:
    torch._dynamo.reset()
    _compare_compiled(small_net(), torch.randn(2, 1, 11, 11), "aot_eager")


def test_compiled_training_step_matches_eager() -> None:
    torch._dynamo.reset()
    torch.manual_seed(0)
    net = small_net().train()
    x = torch.randn(3, 1, 9, 9)
    net(x).sum().backward()
    grads = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    torch.compile(net, backend="aot_eager")(x).sum().backward()
    for g, p in zip(grads, net.parameters()):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-6)


def test_export_layers() -> None:
    net = small_net()
    x = torch.randn(2, 1, 11, 11)
    exported = torch.export.export(net, (x,))
    torch.testing.assert_close(exported.module()(x), net(x))


@pytest.mark.parametrize("name", MODELS)
def test_compile_models_aot_eager(name: str) -> None:
    torch._dynamo.reset()
    model = zoo_model(name)
    _compare_compiled(model, torch.randn(2, 1, 28, 28), "aot_eager")


@pytest.mark.parametrize("name", MODELS)
def test_export_models(name: str) -> None:
    model = zoo_model(name)
    x = torch.randn(2, 1, 28, 28)
    exported = torch.export.export(model, (x,))
    torch.testing.assert_close(exported.module()(x), model(x), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_compile_models_inductor(name: str) -> None:
    torch._dynamo.reset()
    model = zoo_model(name)
    _compare_compiled(model, torch.randn(2, 1, 28, 28), "inductor")


def test_state_dict_round_trip_across_dtypes(tmp_path) -> None:
    """State dicts saved from one device/dtype load onto another (map_location)."""
    net = small_net()
    path = tmp_path / "net.pt"
    torch.save(net.state_dict(), path)
    other = small_net().double()
    other.load_state_dict(torch.load(path, map_location="cpu"))
    x = torch.randn(2, 1, 11, 11, dtype=torch.float64)
    torch.testing.assert_close(other(x).float(), net(x.float()), rtol=1e-4, atol=1e-5)

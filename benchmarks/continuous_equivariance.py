"""Equivariance off the grid: neural-field lifting layers on continuous SE(2) vs pixel lifting
layers on SE(2, C8) / p4 whose k x k kernels are rotated by bilinear interpolation.

Writes ``docs/img/continuous_equivariance.png`` and prints markdown tables (docs/benchmarks.md,
section "Continuous groups: equivariance off the grid", and docs/continuous.md).

The measurement, for a layer Phi and a plane rotation g by an angle:

* the input f is a smooth image (a sum of Gaussian bumps, float64) inside the central disc;
* **pooled**: ``P = GroupPool(mode)`` over the group axis, error
  ``max |disc * (P Phi(L_g f) - L_g P Phi(f))| / max |disc * L_g P Phi(f)|``
  (``L_g`` on images: bilinear rotation about the centre, ``gattn.groups.transform_image``);
* **group signal** at 45 deg, where g maps the 8 samples / C8 onto themselves, so
  ``out_layout.act`` is defined: the same with ``Phi`` and ``out_layout.act`` in place of
  ``P Phi`` and ``L_g`` on images; at other angles (field layers) ``L_g Phi(f)`` is computed
  on the translated samples ``h^-1 h_j`` (``HSamples.translated``) and rotated spatially.

This is the ``relative`` number of ``gattn.analysis.equivariance_error`` for interpolated
elements (masked input, outputs compared inside the disc). Every number is the mean over
``--seeds`` initialisations of the layer (and one batch of 4 smooth images).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/continuous_equivariance.py [--seeds 20] [--out PNG]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import time
from pathlib import Path

import torch

from gattn.groups import SE2, disc_mask, p4, transform_image
from gattn.nn import FieldConfig, GroupPool, LiftingConv

SIZE = 33
CHANNELS = 8
ANGLES = [7.5 * i for i in range(13)]  # 0 .. 90 degrees
SAMPLES = [4, 8, 16, 32]
KERNELS = [3, 5, 7]
PANEL_KERNEL = 5


def smooth_images(batch: int = 4, size: int = SIZE, seed: int = 1234) -> torch.Tensor:
    """``(batch, 1, size, size)`` float64: sums of 6 Gaussian bumps (sigma 2-3.5 px, signed
    amplitudes) centred within 0.55 of the disc radius, times the disc mask."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(
        torch.arange(size, dtype=torch.float64) - (size - 1) / 2,
        torch.arange(size, dtype=torch.float64) - (size - 1) / 2,
        indexing="ij",
    )
    r = 0.55 * size / 2
    out = torch.zeros(batch, 1, size, size, dtype=torch.float64)
    for b in range(batch):
        for _ in range(6):
            rho = r * math.sqrt(float(torch.rand((), generator=g, dtype=torch.float64)))
            phi = 2 * math.pi * float(torch.rand((), generator=g, dtype=torch.float64))
            sigma = 2.0 + 1.5 * float(torch.rand((), generator=g, dtype=torch.float64))
            amp = float(torch.randn((), generator=g, dtype=torch.float64))
            cx, cy = rho * math.cos(phi), rho * math.sin(phi)
            out[b, 0] += amp * torch.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))
    return out * disc_mask(size, size, dtype=torch.float64)


FIELDS = {
    "field GELU": FieldConfig(depth=2),  # the default activation
    "field SIREN ω0=3": FieldConfig(depth=2, activation="siren"),  # the default omega0
    "field SIREN ω0=10": FieldConfig(depth=2, activation="siren", omega0=10.0),
}


def _field_params(width: int, channels: int = CHANNELS) -> int:
    """Parameters of a depth-2 field lifting kernel (2 inputs, ``channels`` outputs)."""
    return (2 * width + width) + (width * width + width) + (width * channels + channels)


def matched_width(kernel: int, channels: int = CHANNELS) -> int:
    """The field width whose parameter count is nearest the pixel layer's ``C k^2``."""
    target = channels * kernel**2
    return min(range(1, 64), key=lambda w: abs(_field_params(w, channels) - target))


def field_layer(kind: str, n: int, kernel: int, seed: int) -> LiftingConv:
    """A field lifting layer on ``SE2()`` with ``n`` samples, width matched to ``C k^2``."""
    torch.manual_seed(seed)
    cfg = dataclasses.replace(FIELDS[kind], width=matched_width(kernel))
    m = LiftingConv(
        SE2(), 1, CHANNELS, kernel, padding=kernel // 2, bias=False, samples=n, field=cfg
    )
    return m.double().eval()


def pixel_layer(group, kernel: int, seed: int) -> LiftingConv:
    """Today's pixel lifting layer (``k^2`` values per filter, rotated by interpolation)."""
    torch.manual_seed(seed)
    m = LiftingConv(group, 1, CHANNELS, kernel, padding=kernel // 2, bias=False)
    return m.double().eval()


class GaussianBlur(torch.nn.Module):
    """An isotropic Gaussian blur (sigma 1 px) on a ``k x k`` support, as a one-element group
    axis: its continuum version commutes with every rotation, so its measured error is the
    floor that the bilinear resampling of the inputs and outputs sets."""

    def __init__(self, kernel: int) -> None:
        super().__init__()
        r = torch.arange(kernel, dtype=torch.float64) - (kernel - 1) / 2
        w = torch.exp(-(r[:, None] ** 2 + r[None] ** 2) / 2)
        self.register_buffer("weight", (w / w.sum())[None, None])
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.conv2d(x, self.weight, padding=self.padding)[:, :, None]


def anisotropy(layer: LiftingConv) -> float:
    """Share of the filter bank's energy that is not invariant under 90-degree rotations
    (0 for isotropic kernels, 0.75 for white noise)."""
    b = layer.filter_bank().detach().double()
    sym = sum(torch.rot90(b, i, dims=(-2, -1)) for i in range(4)) / 4
    return float((b - sym).pow(2).sum() / b.pow(2).sum())


def _rotation(deg: float) -> torch.Tensor:
    return torch.tensor([0.0, 0.0, math.radians(deg)], dtype=torch.float64)


def _relative(lhs: torch.Tensor, rhs: torch.Tensor) -> float:
    m = disc_mask(*lhs.shape[-2:], dtype=torch.float64)
    return float(((lhs - rhs) * m).abs().max() / ((rhs * m).abs().max()))


@torch.no_grad()
def pooled_error(layer: torch.nn.Module, x: torch.Tensor, deg: float, mode: str) -> float:
    """Relative error of the group-pooled output under the rotation by ``deg``."""
    group = SE2()
    g = _rotation(deg)
    pool = GroupPool(mode)
    ref = transform_image(group, g, pool(layer(x)))
    moved = pool(layer(transform_image(group, g, x)))
    return _relative(moved, ref)


@torch.no_grad()
def signal_error(layer: LiftingConv, x: torch.Tensor, group, g: torch.Tensor) -> float:
    """Relative error of the group signal, ``out_layout.act`` for ``L_g`` on the output."""
    ref = layer.out_layout.act(group, g, layer(x))
    moved = layer(transform_image(group, g, x))
    return _relative(moved, ref)


@torch.no_grad()
def translated_signal_error(layer: LiftingConv, x: torch.Tensor, deg: float) -> float:
    r"""Group-signal error for any angle: :math:`[L_g \Phi f](y, h_j) = \Phi f(R^{-1} y,
    h^{-1} h_j)`, so :math:`\Phi f` is computed on the translated samples
    :math:`h^{-1} h_j` (``HSamples.translated``), rotated spatially and compared with
    :math:`\Phi(L_g f)` on the samples themselves."""
    group = SE2()
    moved = layer(transform_image(group, _rotation(deg), x))
    with layer.samples.translated(torch.tensor(-math.radians(deg), dtype=torch.float64)):
        ref = transform_image(group, _rotation(deg), layer(x))
    return _relative(moved, ref)


def _mean(values: list[float]) -> float:
    return statistics.fmean(values)


def measure(seeds: int) -> dict:
    """Every number of the figure and the tables (means over ``seeds`` initialisations)."""
    x = smooth_images()
    s = list(range(seeds))
    res: dict = {"angles": ANGLES, "samples": SAMPLES, "kernels": KERNELS}
    k = PANEL_KERNEL
    # panel 1: pooled error against the angle
    layers = {f"{kind} N=8": [field_layer(kind, 8, k, i) for i in s] for kind in FIELDS}
    layers["pixel C8"] = [pixel_layer(SE2(8), k, i) for i in s]
    layers["pixel p4"] = [pixel_layer(p4(), k, i) for i in s]
    layers["floor (isotropic blur)"] = [GaussianBlur(k)]
    res["angle"] = {
        name: [_mean([pooled_error(m, x, a, "max") for m in ms]) for a in ANGLES]
        for name, ms in layers.items()
    }
    # panel 2: pooled error against N at 45 and 30 degrees
    res["n"] = {
        (kind, deg): [
            _mean([pooled_error(field_layer(kind, n, k, i), x, deg, "max") for i in s])
            for n in SAMPLES
        ]
        for kind in FIELDS
        for deg in (45.0, 30.0)
    }
    res["n_signal"] = {
        kind: [
            _mean([translated_signal_error(field_layer(kind, n, k, i), x, 30.0) for i in s])
            for n in SAMPLES
        ]
        for kind in FIELDS
    }
    res["n_reference"] = {
        (name, deg): _mean([pooled_error(m, x, deg, "max") for m in layers[name]])
        for name in ("pixel C8", "floor (isotropic blur)")
        for deg in (45.0, 30.0)
    }
    # the 45 degree tables: kernel sizes 3, 5, 7
    g_field = _rotation(45.0)
    g_c8 = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)  # SE2(8): the 45 deg rotation
    table = []
    for k in KERNELS:
        models = {kind: [field_layer(kind, 8, k, i) for i in s] for kind in FIELDS}
        models["pixel C8"] = [pixel_layer(SE2(8), k, i) for i in s]
        row: dict = {"kernel": k, "width": matched_width(k), "layers": {}}
        for name, ms in models.items():
            grp, g = (SE2(8), g_c8) if name == "pixel C8" else (SE2(), g_field)
            row["layers"][name] = {
                "params": sum(p.numel() for p in ms[0].parameters()),
                "anisotropy": _mean([anisotropy(m) for m in ms]),
                "signal": _mean([signal_error(m, x, grp, g) for m in ms]),
                "max": _mean([pooled_error(m, x, 45.0, "max") for m in ms]),
                "mean": _mean([pooled_error(m, x, 45.0, "mean") for m in ms]),
                "max30": _mean([pooled_error(m, x, 30.0, "max") for m in ms]),
            }
        row["floor"] = pooled_error(GaussianBlur(k), x, 45.0, "max")
        table.append(row)
    res["table"] = table
    return res


def _pct(v: float) -> str:
    return f"{100 * v:.2f} %"


def markdown(res: dict, seeds: int) -> str:
    """The tables of docs/benchmarks.md ("Continuous groups: equivariance off the grid")."""
    names = list(res["table"][0]["layers"])
    lines = [
        f"Relative equivariance error under the rotation by 45° (mean over {seeds} "
        f"initialisations; {SIZE}×{SIZE} smooth float64 inputs, disc mask; 1 → {CHANNELS} "
        "channels, `padding=k//2`, no bias; fields: depth 2, width for the nearest parameter "
        "count, 8 samples of SO(2); *anisotropy*: share of the filter energy not invariant "
        "under 90° rotations; *floor*: an isotropic Gaussian blur, i.e. the resampling error "
        "of the measurement itself):",
        "",
        "| k | layer | params | anisotropy | group signal | ratio pixel / this | max-pooled | "
        "ratio pixel / this | mean-pooled | max-pooled at 30° |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in res["table"]:
        px = r["layers"]["pixel C8"]
        for name in names:
            m = r["layers"][name]
            width = "" if name == "pixel C8" else f" (width {r['width']})"
            rs, rm = (
                ("", "")
                if name == "pixel C8"
                else (f"{px['signal'] / m['signal']:.1f}×", f"{px['max'] / m['max']:.1f}×")
            )
            lines.append(
                f"| {r['kernel']} | {name}{width} | {m['params']} | {m['anisotropy']:.2f} | "
                f"{_pct(m['signal'])} | {rs} | {_pct(m['max'])} | {rm} | "
                f"{_pct(m['mean'])} | {_pct(m['max30'])} |"
            )
        lines.append(
            f"| {r['kernel']} | floor (isotropic blur) | 0 | 0 | | | {_pct(r['floor'])} | | | |"
        )
    lines += [
        "",
        f"Max-pooled error of the field layers (k={PANEL_KERNEL}) against the number of samples N:",
        "",
        "| layer | angle | " + " | ".join(f"N={n}" for n in res["samples"]) + " |",
        "|---|---|" + "---:|" * len(res["samples"]),
    ]
    for (kind, deg), vals in res["n"].items():
        lines.append(f"| {kind} | {deg:g}° | " + " | ".join(_pct(v) for v in vals) + " |")
    for kind, vals in res["n_signal"].items():
        lines.append(
            f"| {kind}, group signal (translated samples) | 30° | "
            + " | ".join(_pct(v) for v in vals)
            + " |"
        )
    for (name, deg), v in res["n_reference"].items():
        lines.append(f"| {name} | {deg:g}° | " + " | ".join([_pct(v)] * len(res["samples"])) + " |")
    lines += [
        "",
        f"Max-pooled error (%) against the angle (k={PANEL_KERNEL}, N=8):",
        "",
        "| layer | " + " | ".join(f"{a:g}°" for a in res["angles"]) + " |",
        "|---|" + "---:|" * len(res["angles"]),
    ]
    for name, vals in res["angle"].items():
        lines.append(f"| {name} | " + " | ".join(f"{100 * v:.2f}" for v in vals) + " |")
    return "\n".join(lines)


def plot(res: dict, path: Path) -> None:
    """The two panels: against the angle, and against N."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {
        "field GELU N=8": "o-",
        "field SIREN ω0=3 N=8": "D-",
        "field SIREN ω0=10 N=8": "v-",
        "pixel C8": "s--",
        "pixel p4": "^:",
        "floor (isotropic blur)": "k-",
    }
    for name, vals in res["angle"].items():
        lw = 0.8 if name.startswith("floor") else 1.5
        a1.plot(res["angles"], [100 * v for v in vals], styles[name], label=name, lw=lw)
    a1.set_xlabel("rotation angle (degrees)")
    a1.set_ylabel("relative error, max-pooled output (%)")
    a1.set_title(f"against the angle (k={PANEL_KERNEL})")
    a1.set_xticks(range(0, 91, 15))
    a1.grid(alpha=0.3)
    a1.legend(fontsize=8)
    colours = dict(zip(FIELDS, ("C0", "C1", "C2")))
    for (kind, deg), vals in res["n"].items():
        a2.plot(
            res["samples"],
            [100 * v for v in vals],
            "o-" if deg == 45.0 else "s--",
            color=colours[kind],
            label=f"{kind}, {deg:g}°",
        )
    for (name, deg), v in res["n_reference"].items():
        if deg == 45.0:
            ls, col = ("--", "C3") if name == "pixel C8" else (":", "k")
            a2.axhline(100 * v, ls=ls, color=col, lw=1, label=f"{name}, {deg:g}°")
    a2.set_xscale("log", base=2)
    a2.set_yscale("log")
    a2.set_xticks(res["samples"], [str(n) for n in res["samples"]])
    a2.set_xlabel("number of SO(2) samples N")
    a2.set_ylabel("relative error, max-pooled output (%, log)")
    a2.set_title(f"field kernels against N (k={PANEL_KERNEL})")
    a2.grid(alpha=0.3, which="both")
    a2.set_ylim(0.8, 150)
    fmt = matplotlib.ticker.FormatStrFormatter("%g")
    a2.yaxis.set_major_formatter(fmt)
    a2.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    a2.legend(fontsize=7, ncol=2, loc="upper right")
    fig.suptitle("Lifting layers: equivariance error off the grid (smooth inputs, disc mask)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=20, help="layer initialisations per number")
    p.add_argument("--out", default="docs/img/continuous_equivariance.png", help="figure path")
    args = p.parse_args()
    if args.seeds < 1:
        p.error(f"--seeds must be a positive integer, got {args.seeds}")
    t0 = time.perf_counter()
    res = measure(args.seeds)
    plot(res, Path(args.out))
    print(markdown(res, args.seeds))
    print(
        f"\n({time.perf_counter() - t0:.0f} s, {torch.get_num_threads()} thread(s); "
        f"figure: {args.out})"
    )


if __name__ == "__main__":
    main()

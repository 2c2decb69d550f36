"""Equivariance analysis (docs/analysis.md): which input sizes keep a network exactly equivariant,
per-layer measured equivariance errors, and a warning when a model runs at an inexact size."""

from .measure import OUTPUT, EquivarianceErrorReport, LayerError, equivariance_error
from .sizes import (
    LayerSpec,
    LayerStep,
    SizeExplanation,
    SizeReport,
    exact_input_sizes,
    explain_size,
    propagate,
    spatial_layers,
    trace_spatial_layers,
)
from .warnings import EquivarianceWarning, install_size_check, warn_if_inexact

__all__ = [
    "OUTPUT",
    "EquivarianceErrorReport",
    "LayerError",
    "equivariance_error",
    "EquivarianceWarning",
    "install_size_check",
    "warn_if_inexact",
    "LayerSpec",
    "LayerStep",
    "SizeExplanation",
    "SizeReport",
    "exact_input_sizes",
    "explain_size",
    "propagate",
    "spatial_layers",
    "trace_spatial_layers",
]

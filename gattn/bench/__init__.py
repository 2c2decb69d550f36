"""Benchmark suite: forward+backward time and peak memory of layers and models, reported as
ratios measured in one run (``gattn bench``)."""

from .measure import Measurement, device_name, measure_step, run_isolated
from .suite import Comparison, default_suite, run_suite, to_markdown

__all__ = [
    "Measurement",
    "measure_step",
    "run_isolated",
    "device_name",
    "Comparison",
    "default_suite",
    "run_suite",
    "to_markdown",
]

"""Public testing helpers: equivariance assertions, group-axiom checks and Hypothesis
strategies, for users who property-test their own groups and layers."""

from .axioms import AxiomReport, GroupAxiomError, check_group_axioms
from .equivariance import (
    EquivarianceError,
    EquivarianceReport,
    apply_group_element,
    assert_equivariant,
    default_tolerance,
    disc_mask,
)
from .profiles import load_profile, register_profiles
from .strategies import elements, finite_groups, group_signals, groups, image_sizes, images
from .theorem1 import Theorem1Error, Theorem1Report, check_theorem1, transform_pairs

__all__ = [
    "AxiomReport",
    "GroupAxiomError",
    "check_group_axioms",
    "EquivarianceError",
    "EquivarianceReport",
    "apply_group_element",
    "assert_equivariant",
    "default_tolerance",
    "disc_mask",
    "load_profile",
    "register_profiles",
    "elements",
    "finite_groups",
    "group_signals",
    "groups",
    "image_sizes",
    "images",
    "check_theorem1",
    "Theorem1Report",
    "Theorem1Error",
    "transform_pairs",
]

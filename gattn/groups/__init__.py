"""Groups: the abstract interface, finite groups from generators, SO(2)/O(2), affine groups,
the catalogue and the action on images and group signals."""

from .affine import SemidirectProduct
from .base import Group, MatrixGroup, check_element_shape
from .catalogue import E2, SE2, Rn, catalogue, cyclic, dihedral, p4, p4m
from .continuous import O2, SO2, wrap_angle
from .finite import CyclicGroup, DihedralGroup, FiniteGroup, TrivialGroup, rotation_matrix
from .naming import planar_label
from .signals import (
    apply_group_element,
    disc_mask,
    is_grid_exact,
    pixel_coordinates,
    transform_image,
    transform_points_index,
    transform_signal,
)

__all__ = [
    "Group",
    "MatrixGroup",
    "check_element_shape",
    "FiniteGroup",
    "CyclicGroup",
    "DihedralGroup",
    "TrivialGroup",
    "rotation_matrix",
    "SO2",
    "O2",
    "wrap_angle",
    "SemidirectProduct",
    "Rn",
    "SE2",
    "E2",
    "p4",
    "p4m",
    "cyclic",
    "dihedral",
    "catalogue",
    "pixel_coordinates",
    "is_grid_exact",
    "transform_image",
    "transform_signal",
    "transform_points_index",
    "disc_mask",
    "apply_group_element",
    "planar_label",
]

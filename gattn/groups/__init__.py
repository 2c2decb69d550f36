"""Groups: the abstract interface, finite groups from generators and the tables derived from
them, SO(2)/O(2), affine groups R^d x| H (d = 1, 2, 3), the catalogue, layouts and the action on
signals, images, volumes and group signals."""

from .affine import SemidirectProduct, fibre_weights, stabiliser_of
from .base import Group, MatrixGroup, check_element_shape
from .catalogue import (
    E2,
    SE2,
    SE3,
    Rn,
    Sim2,
    catalogue,
    cube,
    cubem,
    cyclic,
    dihedral,
    line_reflection,
    octahedral,
    p1m,
    p4,
    p4m,
    scaling,
)
from .continuous import O2, SO2, wrap_angle
from .finite import CyclicGroup, DihedralGroup, FiniteGroup, TrivialGroup, rotation_matrix
from .layouts import GroupSignal, Image, Invariant, Layout, PairSignal, module_layouts
from .naming import planar_label
from .quadrature import (
    QUADRATURE_KINDS,
    check_quadrature_weights,
    check_samples,
    haar_quadrature,
    relative_sample_features,
    relative_samples,
    sample_permutation,
    translate_samples,
)
from .rotations3d import SO3
from .scaling import RotationScaling, ScalingGroup
from .signals import (
    apply_group_element,
    disc_mask,
    group_axis_source,
    is_grid_exact,
    pixel_coordinates,
    sampling_positions,
    transform_image,
    transform_signal,
)
from .tables import FiniteTables, element_indices, finite_tables
from .validation import check_choice, check_int

__all__ = [
    "Group",
    "MatrixGroup",
    "check_element_shape",
    "FiniteGroup",
    "CyclicGroup",
    "DihedralGroup",
    "TrivialGroup",
    "rotation_matrix",
    "QUADRATURE_KINDS",
    "haar_quadrature",
    "check_samples",
    "check_quadrature_weights",
    "sample_permutation",
    "relative_samples",
    "relative_sample_features",
    "translate_samples",
    "FiniteTables",
    "finite_tables",
    "element_indices",
    "SO2",
    "O2",
    "wrap_angle",
    "ScalingGroup",
    "RotationScaling",
    "SO3",
    "SemidirectProduct",
    "stabiliser_of",
    "fibre_weights",
    "Rn",
    "SE2",
    "E2",
    "p4",
    "p4m",
    "p1m",
    "cube",
    "cubem",
    "cyclic",
    "dihedral",
    "octahedral",
    "line_reflection",
    "scaling",
    "Sim2",
    "SE3",
    "catalogue",
    "Layout",
    "Invariant",
    "Image",
    "GroupSignal",
    "PairSignal",
    "module_layouts",
    "pixel_coordinates",
    "sampling_positions",
    "is_grid_exact",
    "group_axis_source",
    "transform_image",
    "transform_signal",
    "disc_mask",
    "apply_group_element",
    "planar_label",
    "check_int",
    "check_choice",
]

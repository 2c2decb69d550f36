"""Datasets for rotation-equivariance experiments.

Every dataset is built with :func:`get_dataset` and returned as :class:`Splits` (train /
val / test ``TensorDataset`` s of float32 images ``(N, 1, 28, 28)`` in ``[0, 1]`` and int64
labels ``(N,)``), deterministically from ``seed``. See ``docs/data.md``.
"""

from . import folder, rotfashion, rotmnist, rotmnist_small  # noqa: F401  (register datasets)
from .amat import read_amat
from .arrays import load_array_folder, to_image_tensor
from .cache import cache_dir
from .download import download, sha256sum
from .folder import load_arrays_dataset
from .idx import read_idx, write_idx
from .registry import available_datasets, get_dataset, register_dataset
from .rotate import random_angles, rotate_images
from .rotfashion import load_rotfashion
from .rotmnist import MNIST_ROT_URL, load_rotmnist
from .rotmnist_small import load_rotmnist_small
from .splits import Splits

__all__ = [
    "MNIST_ROT_URL",
    "Splits",
    "available_datasets",
    "cache_dir",
    "download",
    "get_dataset",
    "load_array_folder",
    "load_arrays_dataset",
    "load_rotfashion",
    "load_rotmnist",
    "load_rotmnist_small",
    "random_angles",
    "read_amat",
    "read_idx",
    "register_dataset",
    "rotate_images",
    "sha256sum",
    "to_image_tensor",
    "write_idx",
]

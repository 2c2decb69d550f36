"""``rotmnist``: the MNIST-rot benchmark (Larochelle et al., 2007) from its ``.amat`` files."""

from __future__ import annotations

import os
import urllib.parse
import zipfile
from pathlib import Path

import torch

from .amat import read_amat
from .cache import cache_dir as default_cache_dir
from .cache import cached_tensors, files_fingerprint
from .download import download as download_file
from .registry import register_dataset
from .splits import Splits, make_tensor_dataset, take

__all__ = ["MNIST_ROT_FILES", "MNIST_ROT_URL", "find_mnist_rot_files", "load_rotmnist"]

MNIST_ROT_URL = "http://www.iro.umontreal.ca/~lisa/icml2007data/mnist_rotation_new.zip"
MNIST_ROT_FILES = {
    "train_valid": "mnist_all_rotation_normalized_float_train_valid.amat",
    "test": "mnist_all_rotation_normalized_float_test.amat",
}
_CACHE_VERSION = 1


def _default_root() -> Path:
    return default_cache_dir() / "mnist_rotation_new"


def _fetch(root: Path, url: str, sha256: str | None) -> None:
    """Download the zip archive into ``root`` and extract the two ``.amat`` files."""
    name = Path(urllib.parse.urlparse(url).path).name or "mnist_rotation_new.zip"
    archive = download_file(url, root / name, sha256=sha256)
    with zipfile.ZipFile(archive) as zf:
        for member in zf.namelist():
            name = Path(member).name
            if name in MNIST_ROT_FILES.values():
                target = root / name
                tmp = root / f".{name}.part"
                with zf.open(member) as src, open(tmp, "wb") as dst:
                    while block := src.read(1 << 20):
                        dst.write(block)
                os.replace(tmp, target)


def find_mnist_rot_files(root: str | os.PathLike[str] | None = None) -> dict[str, Path]:
    """Locate the two MNIST-rot ``.amat`` files.

    Args:
        root: Directory holding the unzipped files; defaults to
            ``<cache dir>/mnist_rotation_new``.

    Returns:
        ``{"train_valid": path, "test": path}``.

    Raises:
        FileNotFoundError: Naming the path tried and the download URL.
    """
    root = Path(root) if root is not None else _default_root()
    files = {key: root / name for key, name in MNIST_ROT_FILES.items()}
    for path in files.values():
        if not path.is_file():
            raise FileNotFoundError(
                f"MNIST-rot file not found: {path}. Download and unzip {MNIST_ROT_URL} into "
                f"{root} (or pass root= pointing to the unzipped files, or download=True)."
            )
    return files


def _parse(files: dict[str, Path]) -> dict[str, torch.Tensor]:
    out = {}
    for key, path in files.items():
        x, y = read_amat(path)
        out[f"{key}_x"] = torch.from_numpy(x).unsqueeze(1)
        out[f"{key}_y"] = torch.from_numpy(y)
    return out


@register_dataset("rotmnist")
def load_rotmnist(
    root: str | os.PathLike[str] | None = None,
    seed: int = 0,
    *,
    limit: int | None = None,
    n_val: int = 2000,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    url: str = MNIST_ROT_URL,
    sha256: str | None = None,
) -> Splits:
    """Load MNIST-rot: 10k train / 2k val (from the 12k ``train_valid`` file) / 50k test.

    The images come pre-rotated, so ``seed`` changes nothing: ``train`` is the first
    ``N - n_val`` rows of the ``train_valid`` file and ``val`` the last ``n_val`` rows (the
    original protocol); ``test`` is the test file in order. Pixels are read row-major
    (``reshape(28, 28)``) without transposition. Parsing the 62k text rows takes several
    seconds, so the parsed tensors are cached as a ``.pt`` file (keyed by file path, size and
    modification time) unless ``cache=False``.

    Args:
        root: Directory with the two unzipped ``.amat`` files; defaults to
            ``<cache dir>/mnist_rotation_new``.
        seed: Accepted for API uniformity; unused.
        limit: Keep at most this many items per split (prefix of each split).
        n_val: Number of validation rows taken from the end of the ``train_valid`` file.
        cache: Cache the parsed tensors.
        cache_dir: Cache directory; defaults to ``$GATTN_CACHE`` or ``~/.cache/gattn``.
        download: If the files are missing, download ``url`` into ``root`` and unzip it.
        url: Archive URL used by ``download=True``.
        sha256: Optional checksum of the archive.

    Returns:
        :class:`Splits` with images float32 ``(N, 1, 28, 28)`` in ``[0, 1]``, labels int64.

    Raises:
        FileNotFoundError: If a file is missing (names the path tried and the URL).
        ValueError: For malformed rows (names file and line) or too few rows for ``n_val``.
    """
    root_path = Path(root) if root is not None else _default_root()
    if download:
        try:
            find_mnist_rot_files(root_path)
        except FileNotFoundError:
            root_path.mkdir(parents=True, exist_ok=True)
            _fetch(root_path, url, sha256)
    files = find_mnist_rot_files(root_path)
    key = f"rotmnist-v{_CACHE_VERSION}-{files_fingerprint(files)}"
    data = cached_tensors(
        key,
        lambda: _parse(files),
        enabled=cache,
        directory=cache_dir,
        keys=("train_valid_x", "train_valid_y", "test_x", "test_y"),
    )

    x_tv, y_tv = data["train_valid_x"], data["train_valid_y"]
    if not 0 < n_val < x_tv.shape[0]:
        raise ValueError(
            f"{files['train_valid']}: need more than n_val={n_val} rows, found {x_tv.shape[0]}"
        )
    n_tr = x_tv.shape[0] - n_val
    parts = [
        (x_tv[:n_tr], y_tv[:n_tr]),
        (x_tv[n_tr:], y_tv[n_tr:]),
        (data["test_x"], data["test_y"]),
    ]
    splits = [
        make_tensor_dataset(x[: take(len(x), limit)], y[: take(len(y), limit)]) for x, y in parts
    ]
    info = {"name": "rotmnist", "seed": int(seed), "root": str(root_path), "n_val": n_val}
    return Splits(*splits, info=info)

"""``rotmnist``: the MNIST-rot benchmark (Larochelle et al., 2007) from its ``.amat`` files.

See docs/data.md for the file layout, the row-count check and the download policy.
"""

from __future__ import annotations

import os
import re
import urllib.parse
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import torch

from .amat import check_row_count, read_amat
from .cache import cache_dir as default_cache_dir
from .cache import cached_tensors, files_fingerprint
from .download import download as download_file
from .download import sha256sum
from .registry import register_dataset
from .splits import Splits, make_tensor_dataset, take

__all__ = [
    "MNIST_ROT_FILES",
    "MNIST_ROT_ROWS",
    "MNIST_ROT_SHA256",
    "MNIST_ROT_URL",
    "find_mnist_rot_files",
    "load_rotmnist",
]

#: Archive location of the original release. Served over plain ``http``; whether the host
#: also answers on ``https`` has not been checked (see docs/data.md).
MNIST_ROT_URL = "http://www.iro.umontreal.ca/~lisa/icml2007data/mnist_rotation_new.zip"
MNIST_ROT_FILES = {
    "train_valid": "mnist_all_rotation_normalized_float_train_valid.amat",
    "test": "mnist_all_rotation_normalized_float_test.amat",
}
#: Number of rows (images) of each file of the original release.
MNIST_ROT_ROWS: Mapping[str, int] = MappingProxyType({"train_valid": 12_000, "test": 50_000})
#: Pinned SHA-256 of the archive at :data:`MNIST_ROT_URL`. ``None``: no digest has been
#: established and verified, so ``download=True`` needs ``sha256=`` or ``allow_unverified=True``.
MNIST_ROT_SHA256: str | None = None
_CACHE_VERSION = 1
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def _default_root() -> Path:
    return default_cache_dir() / "mnist_rotation_new"


def _refuse_unverified(url: str, root: Path) -> ValueError:
    plain = ", and it is served over plain http" if url.lower().startswith("http:") else ""
    return ValueError(
        f"refusing to download {url} without a checksum (sha256=None): no pinned SHA-256 is "
        f"known for the MNIST-rot archive{plain}, so a corrupted or tampered archive would be "
        f"used without notice. Either (1) download and unzip it "
        f"yourself, check it, and pass root=PATH (command line: --data-root PATH) to the "
        f"directory holding {MNIST_ROT_FILES['train_valid']} and {MNIST_ROT_FILES['test']}; "
        f"(2) pass sha256=<hex digest> of an archive you trust; or (3) pass "
        f"allow_unverified=True to download it into {root} anyway (the digest obtained is "
        f"reported so that you can pin it). See docs/data.md"
    )


def _fetch(root: Path, url: str, sha256: str | None, allow_unverified: bool) -> None:
    """Download the zip archive into ``root`` and extract the two ``.amat`` files.

    Refuses (before any network access) when there is no checksum and no explicit opt-in;
    with the opt-in, the digest of the archive used is reported in a ``UserWarning``.
    """
    if sha256 is None and not allow_unverified:
        raise _refuse_unverified(url, root)
    name = Path(urllib.parse.urlparse(url).path).name or "mnist_rotation_new.zip"
    archive = download_file(url, root / name, sha256=sha256)
    if sha256 is None:
        warnings.warn(
            f"using the UNVERIFIED archive {archive} from {url} (allow_unverified=True); its "
            f"sha256 is {sha256sum(archive)}. Check it against a trusted source and pass "
            f"sha256=<that digest> next time",
            UserWarning,
            stacklevel=3,
        )
    try:
        with zipfile.ZipFile(archive) as zf:
            members = {Path(m).name: m for m in zf.namelist()}
            missing = [n for n in MNIST_ROT_FILES.values() if n not in members]
            if missing:
                raise ValueError(
                    f"{archive} (from {url}) does not contain {', '.join(missing)}; "
                    f"expected the MNIST-rot archive mnist_rotation_new.zip"
                )
            for fname in MNIST_ROT_FILES.values():
                target = root / fname
                tmp = root / f".{fname}.part"
                with zf.open(members[fname]) as src, open(tmp, "wb") as dst:
                    while block := src.read(1 << 20):
                        dst.write(block)
                os.replace(tmp, target)
    except zipfile.BadZipFile as err:
        raise ValueError(
            f"{archive} (from {url}) is not a valid zip archive ({err}); delete it and retry, "
            f"or download and unzip the MNIST-rot archive yourself (see docs/data.md)"
        ) from None


def find_mnist_rot_files(root: str | os.PathLike[str] | None = None) -> dict[str, Path]:
    """Locate the two MNIST-rot ``.amat`` files.

    Args:
        root: Directory holding the unzipped files; defaults to
            ``<cache dir>/mnist_rotation_new``.

    Returns:
        ``{"train_valid": path, "test": path}``.

    Raises:
        FileNotFoundError: Naming the paths tried, the download URL, and what to run from
            the command line (``--data-root``) and from Python (``root=`` / ``download=``).
    """
    root = Path(root) if root is not None else _default_root()
    files = {key: root / name for key, name in MNIST_ROT_FILES.items()}
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise FileNotFoundError(
            f"MNIST-rot file(s) not found: {', '.join(missing)}. Download {MNIST_ROT_URL}, "
            f"check it, and unzip it so that one directory PATH holds "
            f"{MNIST_ROT_FILES['train_valid']} and {MNIST_ROT_FILES['test']} (e.g. {root}). "
            f"Command line: gattn train --model MODEL --data rotmnist --data-root PATH ... "
            f"Python: get_dataset('rotmnist', root=PATH), or download=True with sha256=<digest> "
            f"(or allow_unverified=True) to download it. See docs/data.md"
        )
    return files


def _check_expected_rows(expected_rows: Mapping[str, int | None] | None) -> dict[str, int | None]:
    if expected_rows is None:
        return dict.fromkeys(MNIST_ROT_FILES)
    if not isinstance(expected_rows, Mapping):
        raise TypeError(
            f"expected_rows must be None or a mapping like {dict(MNIST_ROT_ROWS)}, "
            f"got {type(expected_rows).__name__}"
        )
    unknown = sorted(set(expected_rows) - set(MNIST_ROT_FILES))
    if unknown:
        raise ValueError(
            f"expected_rows: unknown keys {unknown}; valid keys: {sorted(MNIST_ROT_FILES)}"
        )
    out: dict[str, int | None] = {}
    for key in MNIST_ROT_FILES:
        value = expected_rows.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"expected_rows[{key!r}] must be an int or None, got {value!r}")
        if value is not None and value < 1:
            raise ValueError(f"expected_rows[{key!r}] must be positive, got {value}")
        out[key] = value
    return out


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
    expected_rows: Mapping[str, int | None] | None = MNIST_ROT_ROWS,
    download: bool = False,
    url: str = MNIST_ROT_URL,
    sha256: str | None = MNIST_ROT_SHA256,
    allow_unverified: bool = False,
) -> Splits:
    """Load MNIST-rot: 10k train / 2k val (from the 12k ``train_valid`` file) / 50k test.

    The images come pre-rotated, so ``seed`` changes nothing: ``train`` is the first
    ``N - n_val`` rows of the ``train_valid`` file and ``val`` the last ``n_val`` rows (the
    original protocol); ``test`` is the test file in order. Pixels are read row-major
    (``reshape(28, 28)``) without transposition. The parsed tensors are cached as a ``.pt``
    file (keyed by file path, size and modification time) unless ``cache=False``. Each file
    must hold the number of rows of the original release (:data:`MNIST_ROT_ROWS`), so a
    truncated file is not used silently. See docs/data.md.

    Args:
        root: Directory with the two unzipped ``.amat`` files; defaults to
            ``<cache dir>/mnist_rotation_new``.
        seed: Accepted for API uniformity; unused.
        limit: Keep at most this many items per split (prefix of each split).
        n_val: Number of validation rows taken from the end of the ``train_valid`` file.
        cache: Cache the parsed tensors.
        cache_dir: Cache directory; defaults to ``$GATTN_CACHE`` or ``~/.cache/gattn``.
        expected_rows: Required row count per file (keys ``"train_valid"``, ``"test"``; a
            missing key or a ``None`` value accepts any count); ``None`` accepts any counts.
        download: If the files are missing, download ``url`` into ``root`` and unzip it.
            Needs ``sha256`` or ``allow_unverified=True``.
        url: Archive URL used by ``download=True``.
        sha256: Expected SHA-256 of the archive (64 hex digits); a mismatch is an error.
        allow_unverified: Permit ``download=True`` without ``sha256``; the digest of the
            archive used is reported in a ``UserWarning`` so that it can be pinned.

    Returns:
        :class:`Splits` with images float32 ``(N, 1, 28, 28)`` in ``[0, 1]``, labels int64.

    Raises:
        FileNotFoundError: If a file is missing (names the paths tried, the URL and the
            command-line / Python options to use).
        ValueError: For malformed or binary files (names file and line), a row count other
            than ``expected_rows``, too few rows for ``n_val``, a malformed ``sha256`` or a
            checksum mismatch, a download without ``sha256`` and without
            ``allow_unverified=True`` (before any network access), or a bad archive.
        TypeError: If ``expected_rows`` is not ``None`` or a mapping of ints, or ``sha256``
            is neither a string nor ``None``.
    """
    expected = _check_expected_rows(expected_rows)
    if sha256 is not None and not isinstance(sha256, str):
        raise TypeError(f"sha256 must be a str of 64 hex digits or None, got {sha256!r}")
    if sha256 is not None and not _HEX64.fullmatch(sha256):
        raise ValueError(f"sha256 must be 64 hexadecimal digits or None, got {sha256!r}")
    root_path = Path(root) if root is not None else _default_root()
    if download:
        try:
            find_mnist_rot_files(root_path)
        except FileNotFoundError:
            if sha256 is None and not allow_unverified:
                raise _refuse_unverified(url, root_path) from None
            root_path.mkdir(parents=True, exist_ok=True)
            _fetch(root_path, url, sha256, allow_unverified)
    files = find_mnist_rot_files(root_path)
    key = f"rotmnist-v{_CACHE_VERSION}-{files_fingerprint(files)}"
    data = cached_tensors(
        key,
        lambda: _parse(files),
        enabled=cache,
        directory=cache_dir,
        keys=("train_valid_x", "train_valid_y", "test_x", "test_y"),
    )
    for name, path in files.items():
        check_row_count(
            path,
            int(data[f"{name}_x"].shape[0]),
            expected[name],
            override=f"expected_rows=None (or e.g. expected_rows={{{name!r}: N}}) to "
            "get_dataset('rotmnist', ...)",
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

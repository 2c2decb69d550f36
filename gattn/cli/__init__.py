"""The ``gattn`` command line: one subcommand module each (``train``, ``evaluate``, ``table``,
``check``, ``viz``, ``bench``). Each module defines ``register(subparsers)`` which adds its
parser and sets ``func`` to a callable taking the parsed namespace and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .. import __version__

__all__ = ["main", "build_parser"]


def torch_version() -> str:
    """The installed torch version, read without importing torch (``--version`` stays fast)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:
        return "not installed"


_SUBCOMMAND_MODULES = ("train", "check", "viz", "bench")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="gattn", description="Group-equivariant attention toolkit: train, evaluate, check."
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__} (torch {torch_version()})"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(f"gattn.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"gattn.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gattn`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

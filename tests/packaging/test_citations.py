"""Docstrings, help texts and docs cite the project's own pages, never files outside it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = re.compile(r"(?<![_A-Za-z])SPEC(?![_A-Za-z])|shared/SPEC|\.\./shared")


def test_no_citation_of_files_outside_the_repository():
    files = [*ROOT.joinpath("gattn").rglob("*.py"), *ROOT.joinpath("docs").rglob("*.md")]
    files += [*ROOT.joinpath("benchmarks").rglob("*.py"), ROOT / "README.md"]
    hits = [
        f"{f.relative_to(ROOT)}:{i}: {line.strip()}"
        for f in files
        for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert hits == []


def test_pattern_catches_a_spec_citation():
    assert OUTSIDE.search("the size rule (SPEC §5)")
    assert not OUTSIDE.search("_SPECS = '_gattn_size_specs'")

"""Every Markdown link in the docs and the README points somewhere real.

Maths written with brackets, e.g. ``A[L_g f](g, g~)``, renders as a link to ``g, g~``: such
breakage (and links to pages or files that do not exist) fails here, since MkDocs only checks
links that end in ``.md``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]

_FENCE = re.compile(r"^( {0,3})(```|~~~).*?^\1\2[^\n]*$", re.M | re.S)
_INDENTED = re.compile(r"(?:^(?: {4}|\t).*\n?)+", re.M)
_CODE = re.compile(r"(`+)(?s:.+?)\1")
_MATH = re.compile(r"\\\((?s:.+?)\\\)|\\\[(?s:.+?)\\\]|\$\$(?s:.+?)\$\$")
_LINK = re.compile(r"!?\[(?P<text>[^\]\n]*)\]\((?P<target>[^)\n]*)\)")
_EXTERNAL = re.compile(r"^(https?|mailto):")


def _prose(text: str) -> str:
    """The page without code blocks, code spans and maths (where brackets are not links)."""
    for pattern in (_FENCE, _INDENTED, _CODE, _MATH):
        text = pattern.sub(" ", text)
    return text


def broken_links(page: Path) -> list[str]:
    """Links of ``page`` whose target is neither a URL, an anchor, nor an existing file."""
    bad = []
    for m in _LINK.finditer(_prose(page.read_text(encoding="utf-8"))):
        target = m.group("target").strip()
        if target.startswith("<") and target.endswith(">"):
            target = target[1:-1]
        target = target.split(" ", 1)[0]  # [text](url "title")
        if _EXTERNAL.match(target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0]
        if not path or not (page.parent / path).exists():
            bad.append(m.group(0))
    return bad


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve(page):
    assert broken_links(page) == []


def test_checker_catches_maths_rendered_as_link(tmp_path):
    page = tmp_path / "p.md"
    page.write_text(
        "Theorem: A[L_g f](g, g~) = A[f](g^-1 g, g^-1 g~).\n\n"
        "Fine: `A[L_g f](g, g~)`, \\(A[f](x)\\), [ok](p.md), [web](https://x.org).\n\n"
        "```\nA[f](g)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(page) == ["[L_g f](g, g~)", "[f](g^-1 g, g^-1 g~)"]

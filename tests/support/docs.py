"""The project's documentation as tests read it: the README and the pages in docs/,
found by what they hold rather than by where a section sits today."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def page_with(marker: str) -> str:
    """The text of the one page that holds `marker` (a heading or a comment)."""
    found = [path for path in pages() if marker in path.read_text()]
    assert len(found) == 1, f"{marker!r} is in {[str(p) for p in found]}, not in one page"
    return found[0].read_text()

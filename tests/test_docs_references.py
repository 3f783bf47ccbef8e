"""The docs name only files that exist: test files, scripts and figures (a move of the tests or a
rename must not leave docs/architecture.md pointing at nothing)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_named_test_files_scripts_and_figures_exist(doc: Path) -> None:
    text = doc.read_text()
    missing = []
    for name in set(re.findall(r"\btest_\w+\.py\b", text)):
        if not any((ROOT / "tests").rglob(name)):
            missing.append(name)
    for path in set(
        re.findall(r"\b(?:scripts|docs/scripts|benchmarks|examples)/[\w/]+\.(?:py|sh)\b", text)
    ):
        if not (ROOT / path).exists():
            missing.append(path)
    for figure in set(re.findall(r"\(((?:docs/)?figures/[\w.-]+)\)", text)):
        base = ROOT if figure.startswith("docs/") else ROOT / "docs"
        if not (base / figure).exists():
            missing.append(figure)
    assert sorted(missing) == []

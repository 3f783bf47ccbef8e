"""Every ```python snippet of docs/integrations.md runs (those needing an absent extra skip)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

PAGE = Path(__file__).parents[2] / "docs" / "integrations.md"
SNIPPETS = re.findall(r"^```python\n(.*?)^```$", PAGE.read_text(), flags=re.M | re.S)
NEEDS = re.compile(r"^# needs: (.+)$", re.M)


def _title(code: str) -> str:
    """The heading the snippet sits under, for the test id."""
    before = PAGE.read_text().split(code)[0]
    return re.findall(r"^#+ (.+)$", before, flags=re.M)[-1]


def test_the_page_has_the_snippets_the_issue_asks_for() -> None:
    titles = [_title(code) for code in SNIPPETS]
    for heading in ("Quantus", "pytorch-grad-cam", "Structured model outputs", "Volumes"):
        assert any(heading in t for t in titles), titles
    assert "QUANTUS_TABLE" not in PAGE.read_text()  # the measured table is filled in


@pytest.mark.parametrize("code", SNIPPETS, ids=[_title(c) for c in SNIPPETS])
def test_snippet_runs(code: str) -> None:
    for line in NEEDS.findall(code):
        for module in line.split(","):
            pytest.importorskip(module.strip(), reason=f"needs {module.strip()}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Captum's and Quantus's notes are not what is tested
        exec(compile(code, f"{PAGE.name}:{_title(code)}", "exec"), {"__name__": "snippet"})

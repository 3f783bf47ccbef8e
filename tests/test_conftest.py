"""The suite's own configuration: a clear stop on a hypothesis profile it does not know."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("profile", "code"), [("dev", 4), ("ci", 0), ("default", 0)])
def test_hypothesis_profile_is_checked(profile: str, code: int) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--co",
            "tests/test_binarize.py",
        ],
        cwd=REPO,
        env={**os.environ, "HYPOTHESIS_PROFILE": profile},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == code, done.stdout + done.stderr
    if code:
        message = (
            "HYPOTHESIS_PROFILE='dev' is not a hypothesis profile of this test suite; "
            "choose one of default, ci"
        )
        assert message in done.stderr
        assert "Traceback" not in done.stdout + done.stderr

"""Atomic writes (complete files only, usual permissions, nothing left behind on failure) and
file digests."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from captum_iterative._files import TEMP_GLOB, atomic_path, atomic_write_bytes, file_sha256


def test_write_replaces_the_target_with_umask_permissions(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "table.md"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert list(target.parent.glob(TEMP_GLOB)) == []


def test_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("complete")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text("half")
        assert tmp.suffix == ".json" and tmp.name.startswith(".report.")
        raise KeyboardInterrupt
    assert target.read_text() == "complete"
    assert list(tmp_path.glob(TEMP_GLOB)) == []


@pytest.mark.parametrize("size", [0, 5, (1 << 20) + 3])
def test_file_sha256_matches_hashlib(tmp_path: Path, size: int) -> None:
    data = bytes(i % 251 for i in range(size))
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()

"""Atomic writes (complete files only, usual permissions, nothing left behind on failure) and
file digests."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from captum_iterative._files import (
    atomic_path,
    atomic_write_bytes,
    file_sha256,
    file_stamp,
    is_temporary_file,
    matches_stamp,
    remove_temporary_files,
    temporary_file,
)


def test_write_replaces_the_target_with_umask_permissions(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "table.md"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["table.md"]


def test_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("complete")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text("half")
        assert tmp.suffix == ".json" and is_temporary_file(tmp)
        raise KeyboardInterrupt
    assert target.read_text() == "complete"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


@pytest.mark.parametrize("size", [0, 5, (1 << 20) + 3])
def test_file_sha256_matches_hashlib(tmp_path: Path, size: int) -> None:
    data = bytes(i % 251 for i in range(size))
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("name", "ours"),
    [
        (".captum-iterative-123-ab_9xyzq.tmp.npz", True),
        (".captum-iterative-123-ab_9xyzq.tmp", True),
        (".notes.tmp", False),
        (".scan.tmp.png", False),
        (".img0.k2j3h.tmp.npz", False),  # this package's names before they were its own
        (".captum-iterative-ab-cd.tmp.npz", False),
        ("captum-iterative-123-ab.tmp.npz", False),
        (".captum-iterative-123-ab.tmp.npz.bak", False),
    ],
)
def test_is_temporary_file_knows_only_our_names(name: str, ours: bool) -> None:
    assert is_temporary_file(name) is ours


def test_temporary_files_are_ours_and_only_ours_are_removed(tmp_path: Path) -> None:
    made = temporary_file(tmp_path, ".npz")
    assert is_temporary_file(made) and made.name.startswith(f".captum-iterative-{os.getpid()}-")
    sub = tmp_path / "sub"
    sub.mkdir()
    stale = temporary_file(sub)
    users = [tmp_path / ".notes.tmp", sub / ".scan.tmp.png", sub / "table.md"]
    for path in users:
        path.write_text("keep")
    nested = sub / "deeper"
    nested.mkdir()
    below = temporary_file(nested)  # only the folders given are swept, not their sub-folders
    assert remove_temporary_files([tmp_path, sub, tmp_path / "absent"]) == 2
    assert not made.exists() and not stale.exists() and below.exists()
    assert all(path.read_text() == "keep" for path in users)


def test_a_stamp_tells_a_changed_file_from_a_touched_one(tmp_path: Path) -> None:
    path = tmp_path / "img.png"
    path.write_bytes(b"abcd")
    stamp = file_stamp(path)
    assert stamp["size"] == 4 and stamp["sha256"] == hashlib.sha256(b"abcd").hexdigest()
    assert matches_stamp(path, stamp)
    later = stamp["mtime_ns"] + 10**9
    os.utime(path, ns=(later, later))  # touched (or copied): same bytes
    assert matches_stamp(path, stamp)
    path.write_bytes(b"abce")  # same size, other bytes
    os.utime(path, ns=(later, later))
    assert not matches_stamp(path, stamp)
    path.write_bytes(b"abcde")
    assert not matches_stamp(path, stamp)
    path.unlink()
    assert not matches_stamp(path, stamp)

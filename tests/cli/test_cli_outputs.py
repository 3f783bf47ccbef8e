"""What ``explain`` does to its output folder: it deletes only its own temporary files.

Every case runs the installed console script in a subprocess, as a user would, on the tiny
set-up of ``tests/cli`` (64 px ``vgg_tiny``, at most 2 maps).
"""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import FAST, arch_args, run_console

from captum_iterative.cli import MANIFEST


def test_a_run_deletes_only_its_own_temporary_files(
    workspace: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "o"
    method = out / "guided_backprop"
    method.mkdir(parents=True)
    users = [out / ".notes.tmp", method / ".my.tmp", method / ".img0.x1.tmp.npz"]
    for path in users:
        path.write_text("keep me")
    # what a killed run of this program (process 4242) leaves behind
    ours = method / ".captum-iterative-4242-k2j3h8ab.tmp.npz"
    ours.write_bytes(b"half a file")

    done = run_console(["explain", workspace["images"], *arch_args(workspace), *FAST, "--out", out])
    assert done.returncode == 0, done.stderr
    assert [path.read_text() for path in users] == ["keep me"] * 3
    assert not ours.exists()
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["totals"]["temporary_files_removed"] == 1


def test_a_hidden_input_named_like_a_temporary_file_is_resumed(
    workspace: dict[str, Path], tmp_path: Path
) -> None:
    scan = tmp_path / ".scan.tmp.png"
    scan.write_bytes((workspace["images"] / "img0.png").read_bytes())
    out = tmp_path / "o"
    args = ["explain", scan, *arch_args(workspace), *FAST, "--out", out]
    assert run_console(args).returncode == 0
    outputs = sorted((out / "guided_backprop").iterdir())
    assert [p.name for p in outputs] == [".scan.tmp.npz", ".scan.tmp.png"]
    stamps = [p.stat().st_mtime_ns for p in outputs]

    resumed = run_console([*args, "--resume"])
    assert resumed.returncode == 0, resumed.stderr
    assert "0 done, 1 skipped, 0 failed" in resumed.stdout
    assert [p.stat().st_mtime_ns for p in outputs] == stamps

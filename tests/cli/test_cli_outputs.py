"""What ``explain`` does to its output folder: it deletes only its own temporary files, marks
the folder from the start, and refuses a second writer.

Every case runs the installed console script in a subprocess, as a user would, on the tiny
set-up of ``tests/cli`` (64 px ``vgg_tiny``, at most 2 maps).
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

from cli_helpers import (
    FAST,
    arch_args,
    completed_overlays,
    run_console,
    start_console,
    wait_for_overlay,
    write_fundus_images,
)

from captum_iterative.cli import MANIFEST, OUTPUT_MARKER
from captum_iterative.experiments import load_explanation

#: Settings that keep a run busy for seconds after its first overlay: up to 20 maps per image at
#: 256 px (about 0.5 s per image on one core of a 2020s CPU).
SLOW = ["--size", "256", "--max-iter", "20", "--device", "cpu", "--no-progress"]


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


def test_a_second_run_on_the_same_folder_is_refused(
    workspace: dict[str, Path], tmp_path: Path
) -> None:
    images = tmp_path / "images"
    write_fundus_images(images, 60)
    out = tmp_path / "out"
    first = start_console(["explain", images, *arch_args(workspace), *SLOW, "--out", out])
    try:
        wait_for_overlay(first, out / "guided_backprop")  # past its set-up: it holds the lock
        second = run_console(
            ["explain", images, *arch_args(workspace), *SLOW, "--out", out, "--resume"]
        )
        overlapped = first.poll() is None
    finally:
        first.send_signal(signal.SIGTERM)
        _, first_err = first.communicate(timeout=120)
    assert second.returncode == 2, second.stdout + second.stderr
    assert overlapped, "the first run ended before the second one was refused"
    assert second.stderr.splitlines() == [
        f"captum-iterative: error: another captum-iterative run is writing to {out} (it holds "
        f"the lock on {out / OUTPUT_MARKER}); wait for it to end, or choose another --out"
    ]
    # the first run was not disturbed: it stopped on the SIGTERM only, its files complete
    assert first.returncode == 143, first_err
    assert "Traceback" not in first_err and "Error" not in first_err
    folder = out / "guided_backprop"
    for stem in completed_overlays(folder):
        assert load_explanation(folder / f"{stem}.npz").image_id == stem


def test_a_killed_runs_outputs_are_not_taken_as_inputs(
    workspace: dict[str, Path], tmp_path: Path
) -> None:
    """SIGKILL (or the out-of-memory killer) leaves no manifest, but the folder's marker."""
    images = tmp_path / "images"
    write_fundus_images(images, 5)
    maps = images / "maps"
    killed = start_console(["explain", images, *arch_args(workspace), *SLOW, "--out", maps])
    wait_for_overlay(killed, maps / "guided_backprop")
    killed.kill()
    killed.communicate(timeout=60)
    assert completed_overlays(maps / "guided_backprop") and not (maps / MANIFEST).exists()

    base = ["explain", images, "--recursive", *arch_args(workspace), *FAST]
    again = run_console([*base, "--out", tmp_path / "again"])
    assert again.returncode == 0, again.stderr
    assert "5 image(s) x 1 method(s)" in again.stdout
    assert (maps / OUTPUT_MARKER).is_file()
    # the dead run's lock is gone with its process: the folder can be used again
    redone = run_console([*base, "--out", maps, "--overwrite"])
    assert redone.returncode == 0, redone.stderr
    assert "5 image(s) x 1 method(s)" in redone.stdout

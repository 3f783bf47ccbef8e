"""What ``explain`` does to its output folder: it deletes only its own temporary files, marks
the folder from the start, refuses a second writer, and ends a full disk in one line.

Every case runs the installed console script in a subprocess, as a user would, on the tiny
set-up of ``tests/cli`` (64 px ``vgg_tiny``, at most 2 maps).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _helpers.cli import (
    FAST,
    arch_args,
    assert_one_line_error,
    completed_overlays,
    one_error_line,
    run_cli,
    run_console,
    start_console,
    wait_for_overlay,
    write_fundus_images,
)

import captum_iterative.cli.explain as explain_module
from captum_iterative._files import is_temporary_file
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


@pytest.mark.slow
def test_a_second_run_on_the_same_folder_is_refused(
    workspace: dict[str, Path], tmp_path: Path
) -> None:
    images = tmp_path / "images"
    write_fundus_images(images, 100)  # minutes of work: it is stopped once the test is done
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
    assert one_error_line(second) == (
        f"captum-iterative: error: another captum-iterative run is writing to {out} (it holds "
        f"the lock on {out / OUTPUT_MARKER}); wait for it to end, or choose another --out"
    )
    assert overlapped, "the first run ended before the second one was refused"
    # the first run was not disturbed: it stopped on the SIGTERM only, its files complete
    assert first.returncode == 143, first_err
    assert "Traceback" not in first_err and "Error" not in first_err
    folder = out / "guided_backprop"
    for stem in completed_overlays(folder):
        assert load_explanation(folder / f"{stem}.npz").image_id == stem


@pytest.mark.slow
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


# -- a full disk ------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a 16 MiB tmpfs of its own, unmounted afterwards; skipped where mounting is
    not allowed (not root, a container without the capability)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def _fill(disk: Path, leave: int = 0) -> None:
    """Append to a file on ``disk`` until at most ``leave`` bytes are free."""
    block = b"\0" * 65536
    with (disk / "filler").open("ab", buffering=0) as handle:
        try:
            while shutil.disk_usage(disk).free > leave:
                handle.write(block[: max(1, min(len(block), shutil.disk_usage(disk).free - leave))])
        except OSError as error:
            assert error.errno == errno.ENOSPC


@pytest.mark.slow
def test_a_disk_that_fills_up_mid_run_ends_in_one_line(
    workspace: dict[str, Path], small_disk: Path
) -> None:
    images = small_disk.parent / "images"
    write_fundus_images(images, 8)
    out = small_disk / "out"
    run = start_console(["explain", images, *arch_args(workspace), *SLOW, "--out", out])
    folder = out / "guided_backprop"
    wait_for_overlay(run, folder)
    while run.poll() is None:  # and again whenever a failed write gives its space back
        _fill(small_disk)
        time.sleep(0.01)
    stdout, stderr = run.communicate(timeout=300)

    assert run.returncode == 1, stderr
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("captum-iterative: error:")]
    assert len(errors) == 1, stderr
    assert errors[0].startswith(f"captum-iterative: error: cannot write the manifest {out}")
    assert "No space left on device" in errors[0] and "--resume" in errors[0]
    assert "no manifest (see the error)" in stdout
    assert not (out / MANIFEST).exists()
    assert not [p for p in out.rglob("*") if is_temporary_file(p)]
    done = completed_overlays(folder)
    assert 1 <= len(done) < 8
    for stem in done:  # what was written is complete
        assert load_explanation(folder / f"{stem}.npz").image_id == stem


def test_a_full_output_folder_is_refused_before_any_work(
    workspace: dict[str, Path], small_disk: Path
) -> None:
    _fill(small_disk, leave=64 * 1024)
    out = small_disk / "out"
    done = run_console(["explain", workspace["images"], *arch_args(workspace), *FAST, "--out", out])
    line = one_error_line(done)
    assert line.startswith(f"captum-iterative: error: output folder {out} has ")
    assert "free, less than the outputs of one image need (about " in line
    assert not (out / "guided_backprop").exists()


def test_a_manifest_that_cannot_be_written_is_one_line_and_exit_1(
    workspace: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_json = explain_module.write_json

    def full_disk(path: Path, record: dict[str, Any]) -> None:
        if path.name == MANIFEST:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        write_json(path, record)

    monkeypatch.setattr(explain_module, "write_json", full_disk)
    out = tmp_path / "out"
    code, stdout, err = run_cli(
        ["explain", workspace["images"], *arch_args(workspace), *FAST, "--out", out], capsys
    )
    assert code == 1
    assert err.splitlines() == [
        f"captum-iterative: error: cannot write the manifest {out / MANIFEST} ([Errno 28] No "
        "space left on device); every output written so far is complete and kept, --resume "
        "continues once there is room"
    ]
    assert "4 done, 0 skipped, 0 failed" in stdout and "no manifest (see the error)" in stdout
    assert len(completed_overlays(out / "guided_backprop")) == 4


def test_too_little_free_space_is_refused_up_front(
    workspace: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    usage = shutil.disk_usage(tmp_path)
    # 64 px, one method: 32 KiB of maps, 37.5 KiB of overlay, 128 KiB for the records
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage._replace(free=100 * 1024))
    out = tmp_path / "out"
    code, _, err = run_cli(
        ["explain", workspace["images"], *arch_args(workspace), *FAST, "--out", out], capsys
    )
    assert_one_line_error(
        code, err, f"output folder {out} has 100.0 KiB free, less than the outputs of one image"
    )
    assert not (out / "guided_backprop").exists()


def test_an_overlay_names_its_method_image_and_panels() -> None:
    from captum_iterative.cli._outputs import header_height, overlay_image
    from captum_iterative.viz import overlay, to_display_image

    rng = np.random.default_rng(0)
    image = rng.random((64, 64, 3))
    initial, augmented = rng.random((1, 64, 64)), rng.random((1, 64, 64))
    labels = ("guided_backprop: img1", "initial map M1", "augmented (3 maps, normal)")
    panel = overlay_image(image, initial, augmented, labels)
    top = header_height(64)
    assert panel.shape == (top + 64, 3 * 64 + 8, 3) and panel.dtype == np.uint8
    # Below the labels: the image and the two overlays as viz draws them, 4 px apart.
    expected = [to_display_image(image), overlay(image, initial), overlay(image, augmented)]
    for i, drawn in enumerate(expected):
        got = panel[top:, i * 68 : i * 68 + 64]
        np.testing.assert_array_equal(got, np.clip(np.rint(drawn * 255.0), 0, 255))
    # Each label is drawn in its own strip (dark text on white), and another text changes it.
    for i in range(3):
        strip = panel[:top, i * 68 : i * 68 + 64]
        assert (strip < 128).any() and (strip == 255).mean() > 0.5
    other = overlay_image(image, initial, augmented, (*labels[:2], "augmented (1 map, normal)"))
    assert not np.array_equal(other[:top, 136:], panel[:top, 136:])
    np.testing.assert_array_equal(other[:top, :136], panel[:top, :136])

"""``captum-iterative explain`` on a folder that already holds outputs: resume, overwrite."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from _helpers.cli import (
    FAST,
    arch_args,
    assert_one_line_error,
    draw_fundus,
    run_cli,
    run_console,
    write_fundus_images,
)

from captum_iterative.cli import MANIFEST, _explain_run
from captum_iterative.experiments import load_explanation


def npz_equal(a: Path, b: Path) -> bool:
    with np.load(a) as x, np.load(b) as y:
        return x.files == y.files and all(np.array_equal(x[k], y[k]) for k in x.files)


def test_existing_outputs_are_never_replaced_without_a_flag(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["explain", workspace["images"], *arch_args(workspace), *FAST, "--out", out]
    assert run_cli(args, capsys)[0] == 0
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, "already holds 9 output file(s)", "--resume", "--overwrite")
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before


def test_resume_after_a_killed_run(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A killed run leaves missing outputs and stray temporary files; --resume completes it."""
    out, ref = tmp_path / "out", tmp_path / "ref"
    base = ["explain", workspace["images"], *arch_args(workspace), *FAST]
    assert run_cli([*base, "--out", ref], capsys)[0] == 0
    assert run_cli([*base, "--out", out], capsys)[0] == 0
    folder = out / "guided_backprop"
    (folder / "img1.npz").unlink()  # killed before the maps were saved
    (folder / "img2.png").unlink()  # killed between the maps and the overlay
    (folder / "img3.npz").unlink()
    (folder / "img3.png").unlink()
    (folder / ".captum-iterative-4242-k2j3h8ab.tmp.npz").write_bytes(b"half a file")
    (out / ".captum-iterative-4242-x1y2z3ab.tmp.json").write_bytes(b"{")
    kept = {p: p.stat().st_mtime_ns for p in folder.iterdir()}

    code, stdout, err = run_cli([*base, "--out", out, "--resume"], capsys)
    assert code == 0, err
    assert "3 done, 1 skipped, 0 failed" in stdout
    assert sorted(p.name for p in out.rglob(".captum-iterative-*.tmp*")) == []
    # The overlay of recomputed maps is redrawn (img1.png), so it always shows its .npz.
    for path, mtime in kept.items():
        if path.exists() and not path.name.startswith(".") and path.name != "img1.png":
            assert path.stat().st_mtime_ns == mtime, f"{path.name} was rewritten"
    assert (folder / "img1.png").stat().st_mtime_ns != kept[folder / "img1.png"]
    for k in range(4):
        assert npz_equal(folder / f"img{k}.npz", ref / "guided_backprop" / f"img{k}.npz")
        assert (folder / f"img{k}.png").read_bytes() == (
            ref / "guided_backprop" / f"img{k}.png"
        ).read_bytes()
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["totals"]["temporary_files_removed"] == 2
    assert manifest["settings"]["resume"] is True


def test_overwrite_replaces_outputs(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    base = ["explain", workspace["images"] / "img0.png", *arch_args(workspace), *FAST]
    assert run_cli([*base, "--out", out], capsys)[0] == 0
    target = out / "guided_backprop" / "img0.npz"
    target.write_bytes(b"stale")
    code, stdout, err = run_cli([*base, "--out", out, "--overwrite"], capsys)
    assert code == 0, err
    assert "1 done" in stdout
    assert load_explanation(target).image_id == "img0"


def test_batch_size_changes_floats_at_rounding_level_only(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each image is explained independently of its batch; only float rounding may differ."""
    base = ["explain", workspace["images"], *arch_args(workspace, -5.0), *FAST]
    assert run_cli([*base, "--out", tmp_path / "one"], capsys)[0] == 0
    assert run_cli([*base, "--out", tmp_path / "three", "--batch-size", "3"], capsys)[0] == 0
    for k in range(4):
        one = load_explanation(tmp_path / "one" / "guided_backprop" / f"img{k}.npz")
        three = load_explanation(tmp_path / "three" / "guided_backprop" / f"img{k}.npz")
        assert (one.iterations, one.stop_reason) == (three.iterations, three.stop_reason)
        scale = float(np.abs(one.augmented).max())
        np.testing.assert_allclose(one.augmented, three.augmented, rtol=1e-5, atol=1e-6 * scale)
        np.testing.assert_allclose(one.initial, three.initial, rtol=1e-5, atol=1e-6 * scale)
        # The scores of this untrained network lie near zero (about -2e-3), so rtol alone is
        # too strict: another batch size (or ATEN_CPU_CAPABILITY=default) sums the head in
        # another order, 2e-8 apart measured. 1e-6 is still 100x below the gap between two
        # images' scores here.
        np.testing.assert_allclose(one.scores, three.scores, rtol=1e-5, atol=1e-6)


def test_deterministic_flag_keeps_cpu_results_and_restores_torch(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["explain", workspace["images"] / "img3.png", *arch_args(workspace), *FAST]
    assert run_cli([*base, "--out", tmp_path / "plain"], capsys)[0] == 0
    assert run_cli([*base, "--out", tmp_path / "det", "--deterministic"], capsys)[0] == 0
    assert not torch.are_deterministic_algorithms_enabled()
    assert npz_equal(
        tmp_path / "plain/guided_backprop/img3.npz", tmp_path / "det/guided_backprop/img3.npz"
    )
    manifest = json.loads((tmp_path / "det" / MANIFEST).read_text())
    assert manifest["settings"]["deterministic"] is True


def test_a_failing_image_in_a_batch_fails_alone(
    workspace: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When the loop raises on a batch, its images are retried one by one."""
    original = _explain_run.ExplainRun.compute

    def compute_or_fail(self: Any, method: str, items: Any, loaded: Any) -> Any:
        if any(item.id == "img1" for item in items):
            raise RuntimeError("simulated failure on img1")
        return original(self, method, items, loaded)

    monkeypatch.setattr(_explain_run.ExplainRun, "compute", compute_or_fail)
    out = tmp_path / "out"
    code, stdout, err = run_cli(
        [
            "explain",
            workspace["images"],
            *arch_args(workspace),
            *FAST,
            "--out",
            out,
            "--batch-size",
            "2",
        ],
        capsys,
    )
    assert code == 1
    assert "3 done, 0 skipped, 1 failed" in stdout
    (failure,) = json.loads((out / MANIFEST).read_text())["failures"]
    assert failure["image_id"] == "img1" and failure["stage"] == "explain"
    assert failure["error"] == "RuntimeError: simulated failure on img1"
    assert "captum-iterative: warning: img1 (guided_backprop): RuntimeError" in err
    assert sorted(p.stem for p in (out / "guided_backprop").glob("*.npz")) == [
        "img0",
        "img2",
        "img3",
    ]


def test_resume_recomputes_an_image_whose_file_changed(
    workspace: dict[str, Path], tmp_path: Path
) -> None:
    images = tmp_path / "images"
    write_fundus_images(images, 2)
    out = tmp_path / "out"
    args = ["explain", images, *arch_args(workspace), *FAST, "--out", out]
    assert run_console(args).returncode == 0
    folder = out / "guided_backprop"
    first = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    # img1 is replaced by another photograph; img0 is only touched (a copy, a backup tool)
    assert cv2.imwrite(str(images / "img1.png"), draw_fundus(7)[..., ::-1])
    stat = (images / "img0.png").stat()
    os.utime(images / "img0.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))

    resumed = run_console([*args, "--resume"])
    assert resumed.returncode == 0, resumed.stderr
    assert "1 done, 1 skipped, 0 failed" in resumed.stdout
    now = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert [name for name in sorted(now) if now[name] != first[name]] == ["img1.npz", "img1.png"]
    record = load_explanation(folder / "img1.npz").meta["input_file"]
    assert record["sha256"] == hashlib.sha256((images / "img1.png").read_bytes()).hexdigest()
    # and the next --resume finds everything current
    again = run_console([*args, "--resume"])
    assert "0 done, 2 skipped, 0 failed" in again.stdout, again.stderr

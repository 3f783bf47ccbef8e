"""The command line under what real clusters and real users give it.

Environment variables of a half-set torchrun, ``--resume`` over outputs of other settings,
``--recursive`` over a folder holding the run's own outputs, files that are not torch files,
SIGTERM and SIGINT mid-run, input sizes the model cannot take and images far smaller than the
model input. Same tiny set-up as the other tests of ``tests/cli`` (64 px ``vgg_tiny``, at most 2 maps).
"""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from _helpers.cli import (
    FAST,
    arch_args,
    assert_one_line_error,
    completed_overlays,
    one_error_line,
    run_cli,
    run_console,
    save_weights,
    start_console,
    wait_for_overlay,
    write_fundus_images,
)

from captum_iterative.cli import MANIFEST, OUTPUT_MARKER, TORCHRUN_ENV, main
from captum_iterative.fundus.models import create_classifier

# -- usage errors reach the user --------------------------------------------------------------


@pytest.mark.parametrize(
    "environment",
    [
        {"RANK": "1"},
        {"RANK": "3", "LOCAL_RANK": "3"},
        # every torchrun variable, but a world of one process: nobody else would print it
        {"RANK": "1", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "h", "MASTER_PORT": "1"},
    ],
)
@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["x.png", "--weights", "w.pt"], "--weights needs --arch"),
        (["x.png", "--arch", "vgg_tiny", "--threshold", "0"], "--arch needs --weights"),
    ],
)
def test_usage_errors_are_printed_whatever_rank_says(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    environment: dict[str, str],
    args: list[str],
    fragment: str,
) -> None:
    for name in TORCHRUN_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    code, _, err = run_cli(["explain", *args, "--out", tmp_path / "o", "--no-progress"], capsys)
    assert_one_line_error(code, err, fragment)


# -- --resume never mixes settings ------------------------------------------------------------


@pytest.fixture(scope="module")
def first_run(
    workspace: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """The outputs of one run with the settings of ``resume_args``."""
    out = tmp_path_factory.mktemp("resume") / "out"
    assert main([str(a) for a in resume_args(workspace, out)]) == 0
    return out


@pytest.fixture
def out(first_run: Path, tmp_path: Path) -> Path:
    """A copy of ``first_run``'s outputs that a test may resume, change or break."""
    copy = tmp_path / "out"
    shutil.copytree(first_run, copy)
    return copy


def resume_args(ws: dict[str, Path], out: Path) -> list[object]:
    return ["explain", ws["images"], *arch_args(ws), *FAST, "--out", out]


def snapshot(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (["--max-iter", "3"], "max_iter: 2 -> 3"),
        (["--alpha", "0.5"], "alpha: 0.6 -> 0.5"),
        (["--inpainter", "telea"], "inpainter: 'ns' -> 'telea'"),
        (["--no-fov"], "fov: True -> False"),
        (["--threshold", "-999"], "threshold: -1000.0 -> -999.0"),
        (["--size", "96"], "size: 64 -> 96"),
        (["--batch-size", "2"], "batch_size: 1 -> 2"),
        (["--weights", "other"], "classifier weights: "),
    ],
)
def test_resume_refuses_outputs_of_other_settings(
    workspace: dict[str, Path],
    out: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: list[str],
    named: str,
) -> None:
    if change[:1] == ["--weights"]:
        change = ["--weights", str(save_weights(tmp_path / "other.pt", seed=5))]
    before = snapshot(out)
    # later options win in argparse, so `change` overrides the first run's value
    args = [*resume_args(workspace, out), *change, "--resume"]
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, "--resume: 4 existing output(s)", named, "--overwrite")
    assert snapshot(out) == before  # nothing written, the old manifest kept

    code, stdout, err = run_cli([*args[:-1], "--overwrite"], capsys)
    assert code == 0, err
    assert "4 done, 0 skipped" in stdout


def test_resume_with_the_same_settings_keeps_everything(
    workspace: dict[str, Path],
    out: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    maps = {p: p.stat().st_mtime_ns for p in out.rglob("*.npz")}
    code, stdout, err = run_cli([*resume_args(workspace, out), "--resume"], capsys)
    assert code == 0, err
    assert "0 done, 4 skipped, 0 failed" in stdout
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.npz")} == maps


def test_resume_refuses_a_file_without_a_settings_record(
    workspace: dict[str, Path],
    out: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from captum_iterative.experiments import load_explanation, save_explanation

    path = out / "guided_backprop" / "img0.npz"
    old = load_explanation(path)
    del old.meta["explain_settings"]
    save_explanation(path, old)
    code, _, err = run_cli([*resume_args(workspace, out), "--resume"], capsys)
    assert_one_line_error(code, err, "1 existing output(s)", "no settings record")


# -- --recursive skips the program's own outputs ----------------------------------------------


def test_recursive_run_does_not_explain_its_own_outputs(
    workspace: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    images = tmp_path / "images"
    write_fundus_images(images / "left", 2)
    write_fundus_images(images / "right", 1, first_seed=5)
    # an evaluate report in the tree (its figures are PNGs too)
    report = images / "report"
    report.mkdir()
    (report / "settings.json").write_text("{}")
    (report / "table.md").write_text("| |")
    cv2.imwrite(str(report / "froc_hemorrhages.png"), np.zeros((8, 8, 3), np.uint8))
    base = ["explain", images, "--recursive", *arch_args(workspace), *FAST]

    code, stdout, err = run_cli([*base, "--out", images / "maps"], capsys)
    assert code == 0, err
    assert "3 image(s) x 1 method(s)" in stdout
    for _ in range(2):  # again into the same folder, and into a second one beside it
        code, stdout, err = run_cli([*base, "--out", images / "maps", "--overwrite"], capsys)
        assert code == 0, err
        assert "3 image(s) x 1 method(s)" in stdout
    code, stdout, err = run_cli([*base, "--out", images / "maps2"], capsys)
    assert code == 0, err
    assert "3 image(s) x 1 method(s)" in stdout
    manifest = json.loads((images / "maps2" / MANIFEST).read_text())
    assert manifest["images"]["count"] == 3
    names = sorted(p.stem for p in (images / "maps2" / "guided_backprop").rglob("*.npz"))
    assert names == ["left_img0", "left_img1", "right_img0"]


def test_output_folder_as_the_input_folder(
    workspace: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    images = tmp_path / "images"
    write_fundus_images(images, 2)
    base = ["explain", images, "--recursive", *arch_args(workspace), *FAST, "--out", images]
    assert run_cli(base, capsys)[0] == 0
    code, stdout, err = run_cli([*base, "--overwrite"], capsys)
    assert code == 0, err
    assert "2 image(s) x 1 method(s)" in stdout


# -- files that are not torch files -----------------------------------------------------------


def _write_bad(kind: str, path: Path) -> None:
    if kind == "text":
        path.write_text("this is a text file\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "pickled module":
        torch.save(create_classifier("vgg_tiny"), path)  # the whole model, not a state dict
    elif kind == "truncated":
        torch.save({"a": torch.zeros(100)}, path)
        path.write_bytes(path.read_bytes()[:200])


@pytest.mark.parametrize(
    ("kind", "cause"),
    [
        ("text", "it is not a torch.save file"),
        ("empty", "the file is empty"),
        (
            "pickled module",
            "it holds a pickled Python object (captum_iterative.fundus.models.FundusClassifier)",
        ),
        ("truncated", "it is a zip archive but not a complete torch.save file"),
    ],
)
@pytest.mark.parametrize("option", ["--checkpoint", "--weights"])
def test_a_file_that_is_not_a_torch_file(
    workspace: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    cause: str,
    option: str,
) -> None:
    bad = tmp_path / "bad.pt"
    _write_bad(kind, bad)
    classifier = (
        ["--checkpoint", bad]
        if option == "--checkpoint"
        else ["--arch", "vgg_tiny", "--weights", bad, "--threshold", "0"]
    )
    code, _, err = run_cli(
        ["explain", workspace["images"], *classifier, *FAST, "--out", tmp_path / "o"], capsys
    )
    assert_one_line_error(code, err, str(bad), cause)
    assert "weights_only" not in err


def test_load_classifier_names_the_cause(tmp_path: Path) -> None:
    from captum_iterative._files import UnreadableTorchFile
    from captum_iterative.fundus.checkpoint import load_classifier

    bad = tmp_path / "model.pt"
    _write_bad("pickled module", bad)
    with pytest.raises(UnreadableTorchFile, match="pickled Python object") as caught:
        load_classifier(bad)
    assert str(bad) in str(caught.value) and "weights_only" not in str(caught.value)


# -- input sizes ------------------------------------------------------------------------------


def test_a_size_the_model_cannot_take_is_refused_up_front(
    workspace: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "o"
    args = ["explain", workspace["images"], *arch_args(workspace), *FAST, "--size", "4"]
    code, _, err = run_cli([*args, "--out", out], capsys)
    assert_one_line_error(code, err, "--size 4: the classifier cannot take 4 x 4 inputs")
    assert not out.exists() or not any(out.rglob("*"))


@pytest.mark.parametrize(
    ("option", "value", "start", "end"),
    [
        # 10^6 px: a (1, 3, S, S) float32 input of 10.9 TiB, more than any machine has; the probe
        # used to allocate it outside its error handling (a traceback, or the OOM killer)
        (
            "--size",
            "1000000",
            "--size 1000000: one 1000000 x 1000000 input tensor takes 10.9 TiB, more than the ",
            " of memory available on cpu",
        ),
        # exp(-1e300) = 0: every augmented map would be zero
        (
            "--alpha",
            "1e300",
            "argument --alpha: `alpha` 1e+300 weights even the first map by exp(-alpha) = 0, "
            "below float32's smallest normal number",
            "(see 'captum-iterative explain --help')",
        ),
    ],
)
def test_a_value_under_which_nothing_could_be_explained_is_refused(
    workspace: dict[str, Path], tmp_path: Path, option: str, value: str, start: str, end: str
) -> None:
    out = tmp_path / "o"
    args = ["explain", workspace["images"], *arch_args(workspace), *FAST, "--out", out]
    line = one_error_line(run_console([*args, option, value]))
    assert line.startswith(f"captum-iterative: error: {start}") and line.endswith(end), line
    assert not out.exists()


def test_a_threshold_no_image_reaches_is_reported(
    workspace: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "o"
    done = run_console(
        ["explain", workspace["images"], *arch_args(workspace, 1000.0), *FAST, "--out", out]
    )
    assert done.returncode == 0, done.stderr
    assert "  stop reasons of the maps computed: 4 not_abnormal\n" in done.stdout
    assert (
        "  not_abnormal: scored below the threshold 1000.0 at the start, so their maps are all "
        "zero, as in the paper; a lower --threshold explains them\n"
    ) in done.stdout
    assert json.loads((out / MANIFEST).read_text())["totals"]["stop_reasons"] == {"not_abnormal": 4}
    assert "AugmentationWarning" not in done.stderr  # the loop's per-batch warning: summarised


def test_images_far_smaller_than_the_input_are_reported(
    workspace: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    images = tmp_path / "images"
    write_fundus_images(images, 1)  # 110 x 90 for a 64 px input: downscaled, no warning
    cv2.imwrite(str(images / "dot.png"), np.full((1, 1, 3), 200, np.uint8))
    cv2.imwrite(str(images / "small.png"), np.full((12, 12, 3), 200, np.uint8))
    out = tmp_path / "out"
    code, _, err = run_cli(["explain", images, *arch_args(workspace), *FAST, "--out", out], capsys)
    assert code == 0, err
    lines = [line for line in err.splitlines() if "upscaled" in line]
    assert len(lines) == 2, err
    assert "dot: the image is 1x1 (field of view 1x1), upscaled 64.0 times" in lines[0]
    assert "small: the image is 12x12" in lines[1]
    manifest = json.loads((out / MANIFEST).read_text())
    assert [w["image_id"] for w in manifest["warnings"]] == ["dot", "small"]
    assert manifest["totals"]["done"] == 3


def test_a_field_of_view_squeezed_to_a_strip_is_reported(
    workspace: dict[str, Path], tmp_path: Path
) -> None:
    images = tmp_path / "images"
    write_fundus_images(images, 1)  # 110 x 90: no warning
    strip = np.zeros((20, 2000, 3), np.uint8)
    strip[:] = (40, 90, 180)  # BGR: red 180, all field of view
    cv2.imwrite(str(images / "strip.png"), strip)
    out = tmp_path / "out"
    done = run_console(["explain", images, *arch_args(workspace), *FAST, "--out", out])
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "aspect ratio" in line]
    assert lines == [
        "captum-iterative: warning: strip: the field of view is 2000x20 (aspect ratio 100:1, "
        "beyond 8:1): squared, it fills a strip 0.64 px tall of the 64x64 model input"
    ]
    manifest = json.loads((out / MANIFEST).read_text())
    assert [w["image_id"] for w in manifest["warnings"]] == ["strip"]


# -- SIGTERM and SIGINT -----------------------------------------------------------------------


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_run_keeps_what_was_completed(
    workspace: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    signum: signal.Signals,
    code: int,
) -> None:
    """Killed after the first image: complete files only, a manifest of them, --resume goes on.

    20 images of up to 20 maps each leave the process seconds of work when the first file
    appears; the signal arrives within 20 ms of that.
    """
    images = tmp_path / "images"
    write_fundus_images(images, 20)
    out = tmp_path / "out"
    args = [
        *("explain", images, *arch_args(workspace), "--size", "64", "--max-iter", "20"),
        *("--device", "cpu", "--no-progress", "--out", out),
    ]
    process = start_console(args)
    folder = out / "guided_backprop"
    wait_for_overlay(process, folder)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)

    assert process.returncode == code, stderr
    name = signal.Signals(signum).name
    assert f"captum-iterative: interrupted by {name}" in stderr
    assert "Traceback" not in stderr
    assert [p.name for p in out.rglob(".*")] == [OUTPUT_MARKER]  # no temporary file left
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["interrupted"] == name
    pngs = completed_overlays(folder)
    assert 1 <= len(pngs) < 20
    assert manifest["totals"]["done"] == len(pngs)
    # the images the run never came to are "not reached", not "skipped" (those were done before)
    assert (manifest["totals"]["skipped"], manifest["totals"]["not_reached"]) == (0, 20 - len(pngs))
    assert all((folder / f"{stem}.npz").is_file() for stem in pngs)

    resumed, stdout, err = run_cli([*args, "--resume"], capsys)
    assert resumed == 0, err
    assert f"{20 - len(pngs)} done, {len(pngs)} skipped, 0 failed;" in stdout
    assert json.loads((out / MANIFEST).read_text())["interrupted"] is None

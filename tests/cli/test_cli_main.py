"""The command line's parser and errors: help, and usage errors as one line with exit status 2.

Commands run in-process through ``captum_iterative.cli.main`` on tiny drawn fundus images (64 px,
``vgg_tiny``, at most 2 maps), as in the other tests of ``tests/cli``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from _helpers.cli import (
    FAST,
    arch_args,
    assert_one_line_error,
    one_error_line,
    run_cli,
    run_console,
)

from captum_iterative.cli import build_parser


@pytest.mark.parametrize("command", ["explain", "evaluate", "bench"])
def test_help_states_every_option_and_its_default(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli([command, "--help"], capsys)
    assert code == 0
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    parser = subparsers.choices[command]
    options = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    assert options
    for action in options:
        assert action.option_strings[0] in out
        assert action.help and "default" in action.help, action.option_strings


def test_empty_folder(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    code, _, err = run_cli(
        ["explain", tmp_path / "empty", *arch_args(workspace), *FAST, "--out", tmp_path / "o"],
        capsys,
    )
    assert_one_line_error(code, err, "no image file in folder", "empty")
    assert not (tmp_path / "o").exists()


def test_output_folder_not_writable(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the output folder should go")
    code, _, err = run_cli(
        ["explain", workspace["images"], *arch_args(workspace), *FAST, "--out", blocker / "out"],
        capsys,
    )
    assert_one_line_error(code, err, "is not writable")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    code, _, err = run_cli(
        ["explain", workspace["images"], *arch_args(workspace), *FAST, "--out", locked],
        capsys,
    )
    assert_one_line_error(code, err, "is not writable")


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--arch", "vgg16_paper"], "holds a 'vgg_tiny' model, not the requested 'vgg16_paper'"),
        (["--weights", "w.pt"], "not both"),
    ],
)
def test_checkpoint_of_another_architecture(
    workspace: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    fragment: str,
) -> None:
    code, _, err = run_cli(
        [
            *("explain", workspace["images"], "--checkpoint", workspace["checkpoint"]),
            *extra,
            *FAST,
            *("--out", tmp_path / "o"),
        ],
        capsys,
    )
    assert_one_line_error(code, err, fragment)


def test_weights_of_another_architecture(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        [
            *("explain", workspace["images"], "--arch", "vgg_tiny"),
            *("--weights", workspace["resnet"], "--threshold", "0"),
            *FAST,
            *("--out", tmp_path / "o"),
        ],
        capsys,
    )
    assert_one_line_error(code, err, "do not fit --arch vgg_tiny", "missing key")


def test_a_checkpoint_whose_tensors_do_not_fit_names_the_first_one(
    workspace: dict[str, Path], tmp_path: Path
) -> None:
    ckpt = torch.load(workspace["checkpoint"], weights_only=True)
    ckpt["state_dict"]["backbone.features.3.weight"] = torch.zeros(16, 16, 3, 3)
    bad = tmp_path / "bad.pt"
    torch.save(ckpt, bad)
    out = tmp_path / "o"
    done = run_console(["explain", workspace["images"], "--checkpoint", bad, *FAST, "--out", out])
    line = one_error_line(done)
    assert line.startswith(f"captum-iterative: error: cannot use checkpoint {bad}: ")
    assert (
        "weights do not fit architecture 'vgg_tiny': tensor 'backbone.features.3.weight' has "
        "shape (16, 16, 3, 3) in the file, (32, 16, 3, 3) in the model"
    ) in line


@pytest.mark.parametrize("content", [b"", b"garbage bytes, not a checkpoint", b"PK\x03\x04xx"])
def test_unreadable_checkpoint(
    workspace: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes,
) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(content)
    code, _, err = run_cli(
        ["explain", workspace["images"], "--checkpoint", bad, *FAST, "--out", tmp_path / "o"],
        capsys,
    )
    assert_one_line_error(code, err, "cannot use checkpoint", "bad.pt")


def test_foreign_state_dict_as_checkpoint(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        [
            *("explain", workspace["images"], "--checkpoint", workspace["weights"]),
            *FAST,
            *("--out", tmp_path / "o"),
        ],
        capsys,
    )
    assert_one_line_error(code, err, "not a captum_iterative classifier checkpoint")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--max-iter", "0"], "argument --max-iter: expected a positive integer"),
        (["--alpha", "-1"], "argument --alpha: expected a positive number"),
        (["--threshold", "nan"], "argument --threshold: expected a finite number"),
        (["--methods", "saliency,lime"], "unknown method(s) lime"),
        (["--inpainter", "magic"], "invalid choice: 'magic'"),
        (["--resume", "--overwrite"], "not allowed with argument"),
        (["--dataset-option", "split"], "expected KEY=VALUE"),
        (["--device", "tpu"], "--device: unknown device 'tpu'"),
    ],
)
def test_bad_options(
    workspace: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    fragment: str,
) -> None:
    code, _, err = run_cli(
        ["explain", workspace["images"], *arch_args(workspace), "--out", tmp_path / "o", *args],
        capsys,
    )
    assert_one_line_error(code, err, fragment)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ([], "nothing to explain"),
        (["missing.png"], "input not found: missing.png"),
        (["notes.txt"], "unsupported image format '.txt'"),
        (["--dataset", "nosuch", "--root", "."], "`dataset` must be one of"),
        (["--dataset", "diaretdb1", "--root", "nowhere"], "--dataset diaretdb1"),
        (["x.png", "--arch", "vgg_tiny", "--threshold", "0"], "--arch needs --weights"),
        (["x.png", "--weights", "w.pt"], "--weights needs --arch"),
        (["x.png", "--dataset", "folder"], "image files/folders or --dataset, not both"),
    ],
)
def test_bad_inputs(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    fragment: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("text")
    code, _, err = run_cli(["explain", *args, "--out", tmp_path / "o", "--no-progress"], capsys)
    assert_one_line_error(code, err, fragment)


def test_dataset_root_from_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DIARETDB1_ROOT", raising=False)
    code, _, err = run_cli(["explain", "--dataset", "diaretdb1", "--out", tmp_path], capsys)
    assert_one_line_error(
        code,
        err,
        "--dataset diaretdb1 needs --root PATH or the DIARETDB1_ROOT environment variable",
    )
    monkeypatch.setenv("DIARETDB1_ROOT", str(tmp_path / "elsewhere"))
    code, _, err = run_cli(["explain", "--dataset", "diaretdb1", "--out", tmp_path], capsys)
    assert_one_line_error(code, err, str(tmp_path / "elsewhere"))

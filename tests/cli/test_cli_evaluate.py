"""``captum-iterative evaluate`` (``cli.evaluate``): scoring the maps of explain, and recomputing."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from _helpers.cli import FAST, SIZE, arch_args, assert_one_line_error, run_cli, write_fundus_images
from PIL import Image

from captum_iterative.experiments import load_explanation


def _lesion_folder_dataset(tmp_path: Path) -> list[object]:
    """Three fundus images with one hard exudate each, as ``--dataset folder`` options."""
    images = tmp_path / "images"
    write_fundus_images(images, 3)
    masks = tmp_path / "masks"
    masks.mkdir()
    for k in range(3):
        mask = np.zeros((90, 110), np.uint8)
        cv2.circle(mask, (40 + 10 * k, 45), 4, 255, -1)
        Image.fromarray(mask).save(masks / f"img{k}.png")
    data: list[object] = ["--dataset", "folder", "--root", images]
    return [*data, "--dataset-option", f'masks={{"hard_exudates": "{masks}"}}']


def _explain_lesion_folder(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[list[object], Path]:
    """``explain`` the lesion folder into ``<report>/cache``; returns its options and report."""
    data = _lesion_folder_dataset(tmp_path)
    report = tmp_path / "report"
    code, _, err = run_cli(
        ["explain", *data, *arch_args(workspace), *FAST, "--out", report / "cache"], capsys
    )
    assert code == 0, err
    return data, report


def test_evaluate_scores_the_maps_of_explain(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """explain --dataset into <report>/cache, then evaluate reuses those maps unchanged."""
    data, report = _explain_lesion_folder(workspace, tmp_path, capsys)
    cached = {p: p.stat().st_mtime_ns for p in (report / "cache").rglob("*.npz")}
    code, stdout, err = run_cli(
        ["evaluate", *data, *arch_args(workspace), *FAST, "--out", report], capsys
    )
    assert code == 0, err
    assert "hard exudates" in stdout and "GBP" in stdout
    assert {p: p.stat().st_mtime_ns for p in (report / "cache").rglob("*.npz")} == cached
    for name in ("table.md", "table.csv", "settings.json", "froc_hard_exudates.png"):
        assert (report / name).is_file(), name
    settings = json.loads((report / "settings.json").read_text())
    assert settings["referable"] == 3 and settings["dataset"] == "folder"


@pytest.mark.parametrize("change", [["--threshold", "-999"], ["--size", str(SIZE + 8)]])
def test_evaluate_recomputes_maps_of_another_threshold_or_input(
    workspace: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: list[str],
) -> None:
    """Maps that explain made for another threshold or input size are not scored as they are."""
    data, report = _explain_lesion_folder(workspace, tmp_path, capsys)
    cached = {p: load_explanation(p).meta for p in (report / "cache").rglob("*.npz")}
    code, _, err = run_cli(
        ["evaluate", *data, *arch_args(workspace), *FAST, *change, "--out", report], capsys
    )
    assert code == 0, err
    for path, meta in cached.items():
        now = load_explanation(path).meta
        assert now["cache_key"] == meta["cache_key"]
        assert (now["model_key"], now["input_key"]) != (meta["model_key"], meta["input_key"])


def test_evaluate_needs_a_dataset(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["evaluate", *arch_args(workspace), "--out", tmp_path], capsys)
    assert_one_line_error(code, err, "evaluate needs --dataset")

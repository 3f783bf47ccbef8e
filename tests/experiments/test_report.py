"""What a localization run writes (``experiments.report``): LocalizationReport.value on a known
table, and write_report's files read back (tables, scores, settings, one FROC figure per lesion
type, one overlay grid per method of the images with the most lesion types), nothing else left
in the folder."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from captum_iterative.evaluation import froc
from captum_iterative.experiments import (
    ExperimentConfig,
    Explanation,
    LocalizationReport,
    PreparedImage,
    explanation_path,
    get_method,
    save_explanation,
    write_report,
)
from captum_iterative.experiments.report import _overlay_choice

METHODS = ("saliency", "grad_cam")
TYPES = ("hemorrhages", "hard_exudates")
S = 16


def _row(lesion_type: str, method: str, initial: float, augmented: float) -> dict:
    return {
        "lesion_type": lesion_type,
        "method": method,
        "initial": initial,
        "augmented": augmented,
        "relative_increase": (augmented - initial) / initial,
        "n_images": 3,
        "n_lesions": 4,
    }


def _image(image_id: str, lesions: dict[str, int]) -> PreparedImage:
    """A flat image with ``lesions[type]`` one-pixel lesions of each type (0: an empty mask)."""
    masks = {}
    for k, (lesion_type, count) in enumerate(lesions.items()):
        mask = np.zeros((S, S), np.int32)
        for i in range(count):
            mask[2 + 4 * i, 3 + 5 * k] = i + 1
        masks[lesion_type] = mask
    return PreparedImage(
        image_id, torch.full((3, S, S), 0.5), np.ones((S, S), bool), masks, {}, {}, 2
    )


def _report(images: list[PreparedImage], per_image: bool = True) -> LocalizationReport:
    table = [
        _row(t, m, 0.2 + 0.1 * i + 0.01 * j, 0.3 + 0.1 * i + 0.01 * j)
        for i, t in enumerate(TYPES)
        for j, m in enumerate(METHODS)
    ]
    rng = np.random.default_rng(0)
    curves = {}
    for t in TYPES:
        truth = [p.masks[t] for p in images]
        for m in METHODS:
            for kind in ("initial", "augmented"):
                maps = [rng.random((S, S)) for _ in images]
                curves[(t, m, kind)] = froc(maps, truth, 2.0)
    rows = [{"id": p.id, "lesions": 1, "detected": 0} for p in images] if per_image else []
    settings = {"dataset": "toy", "config": {"fps": 10.0}, "versions": {"torch": torch.__version__}}
    scores = {p.id: 0.1 * i for i, p in enumerate(images)}
    return LocalizationReport(
        table, curves, scores, [p.id for p in images], rows, {"saliency": 1.5}, settings
    )


def _cache(out: Path, images: list[PreparedImage]) -> None:
    for method in METHODS:
        for p in images:
            maps = np.random.default_rng(len(p.id)).random((S, S)).astype(np.float32)
            exp = Explanation(p.id, method, maps, maps * 2, 2, np.ones(2), "normal", 0.5, 0.6)
            save_explanation(explanation_path(out / "cache", method, p.id), exp)


def test_value_reads_one_cell_of_the_table() -> None:
    report = LocalizationReport(
        [_row("hemorrhages", "saliency", 0.25, 0.5), _row("average", "saliency", 0.3, 0.4)],
        {},
        {},
        [],
        [],
        {},
        {},
    )
    assert report.value("hemorrhages", "saliency", "augmented") == 0.5
    assert report.value("average", "saliency", "initial") == 0.3
    assert report.value("hemorrhages", "saliency", "relative_increase") == 1.0
    with pytest.raises(KeyError):
        report.value("hemorrhages", "grad_cam", "initial")
    with pytest.raises(KeyError):
        report.value("drusen", "saliency", "initial")


def test_overlays_show_the_images_with_the_most_lesion_types_ties_by_id() -> None:
    images = [
        _image("d", {"hemorrhages": 1, "hard_exudates": 0}),
        _image("c", {"hemorrhages": 2, "hard_exudates": 1}),
        _image("b", {"hemorrhages": 0, "hard_exudates": 0}),
        _image("a", {"hemorrhages": 0, "hard_exudates": 3}),
    ]
    assert [p.id for p in _overlay_choice(images, 3)] == ["c", "a", "d"]
    assert [p.id for p in _overlay_choice(images, 10)] == ["c", "a", "d", "b"]
    assert _overlay_choice(images, 0) == [] and _overlay_choice([], 3) == []


def test_write_report_writes_every_file_and_they_read_back(tmp_path: Path) -> None:
    images = [
        _image("x0", {"hemorrhages": 2, "hard_exudates": 1}),
        _image("x1", {"hemorrhages": 1, "hard_exudates": 0}),
    ]
    report = _report(images)
    _cache(tmp_path, images)
    write_report(report, images, tmp_path, ExperimentConfig(methods=METHODS), overlay_rows=1)
    figures = {f"froc_{t}.png" for t in TYPES} | {f"overlays_{m}.png" for m in METHODS}
    tables = {"table.md", "table.csv", "per_image.csv", "scores.json", "settings.json"}
    assert {p.name for p in tmp_path.iterdir()} == tables | figures | {"cache"}
    for name in figures:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (tmp_path / "table.md").read_text()
    assert markdown.startswith("## toy: SE/10FPs, initial vs augmented")
    for m in METHODS:
        assert markdown.count(f"| {get_method(m).label} |") == len(TYPES)
    with (tmp_path / "table.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["lesion_type"], r["method"]) for r in rows] == [
        (r["lesion_type"], r["method"]) for r in report.table
    ]
    assert [float(r["augmented"]) for r in rows] == [r["augmented"] for r in report.table]
    with (tmp_path / "per_image.csv").open() as handle:
        assert list(csv.DictReader(handle)) == [
            {"id": "x0", "lesions": "1", "detected": "0"},
            {"id": "x1", "lesions": "1", "detected": "0"},
        ]
    assert json.loads((tmp_path / "scores.json").read_text()) == report.scores
    assert json.loads((tmp_path / "settings.json").read_text()) == report.settings


def test_no_per_image_rows_and_no_images_write_no_such_files(tmp_path: Path) -> None:
    images = [_image("x0", {"hemorrhages": 1, "hard_exudates": 1})]
    report = _report(images, per_image=False)
    write_report(report, [], tmp_path, ExperimentConfig(methods=METHODS))
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {"table.md", "table.csv", "scores.json", "settings.json"} | {
        f"froc_{t}.png" for t in TYPES
    }


def test_overlays_need_the_cached_maps(tmp_path: Path) -> None:
    images = [_image("x0", {"hemorrhages": 1, "hard_exudates": 1})]
    with pytest.raises((FileNotFoundError, ValueError), match="x0"):
        write_report(_report(images), images, tmp_path, ExperimentConfig(methods=METHODS))

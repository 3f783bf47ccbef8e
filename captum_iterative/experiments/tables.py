"""FROC tables of the localization experiment, in the layout of the paper's Tables II-V.

:func:`score_explanations` scores cached maps by FROC per lesion type, method and map kind
(initial, augmented) at ``fps`` false positives per image; :func:`format_tables` writes the
markdown tables and :func:`gain_summary` says in one line per method what they show.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from captum_iterative.evaluation.froc import froc, scale_radius
from captum_iterative.evaluation.froc_result import FrocResult
from captum_iterative.experiments.cache import explanation_path, load_explanation
from captum_iterative.experiments.config import ExperimentConfig
from captum_iterative.experiments.methods import get_method
from captum_iterative.experiments.prepare import PreparedImage

if TYPE_CHECKING:
    from captum_iterative.experiments.report import LocalizationReport

__all__ = ["KINDS", "format_tables", "gain_summary", "score_explanations"]

#: The two maps of every image: the plain first map and the augmented one.
KINDS: tuple[str, ...] = ("initial", "augmented")


def _lesion_types(images: Sequence[PreparedImage], config: ExperimentConfig) -> tuple[str, ...]:
    if config.lesion_types is not None:
        return config.lesion_types
    types: list[str] = []
    for prepared in images:
        types.extend(t for t in prepared.masks if t not in types)
    return tuple(types)


def score_explanations(
    images: Sequence[PreparedImage],
    cache_dir: str | os.PathLike[str],
    config: ExperimentConfig,
    size: int,
) -> tuple[
    list[dict[str, Any]],
    dict[tuple[str, str, str], FrocResult],
    list[dict[str, Any]],
    dict[str, float],
]:
    """FROC per lesion type, method and map kind from cached explanations.

    Returns:
        tuple: the table rows, the curves, per-image rows (lesions and lesions detected at the
        pooled operating point of ``config.fps`` false positives per image), and method -> mean
        number of maps per image.
    """
    radius = scale_radius(config.radius_at_512, size=size)
    types = _lesion_types(images, config)
    fovs = [p.fov for p in images] if config.use_fov else None
    table: list[dict[str, Any]] = []
    curves: dict[tuple[str, str, str], FrocResult] = {}
    per_image: list[dict[str, Any]] = []
    iterations: dict[str, float] = {}
    # the reference of each lesion type, the same for every method
    masks_of = {t: [p.masks.get(t, np.zeros(p.fov.shape, np.int32)) for p in images] for t in types}
    ignore_of = {
        t: [_other_lesions(p, t) for p in images] if config.ignore_other_lesions else None
        for t in types
    }
    for method in config.methods:
        explanations = [load_explanation(explanation_path(cache_dir, method, p.id)) for p in images]
        iterations[method] = float(np.mean([e.iterations for e in explanations]))
        for lesion_type in types:
            masks, ignore = masks_of[lesion_type], ignore_of[lesion_type]
            row: dict[str, Any] = {"lesion_type": lesion_type, "method": method}
            for kind in KINDS:
                maps = [getattr(e, kind) for e in explanations]
                result = froc(
                    maps,
                    masks,
                    radius,
                    fovs=fovs,
                    ignore_masks=ignore,
                    max_fps_per_image=config.fps,
                )
                curves[(lesion_type, method, kind)] = result
                row[kind] = float(result.sensitivity_at(config.fps))
                row["n_images"] = result.n_images
                row["n_lesions"] = result.n_lesions
                _per_image_rows(per_image, result, images, method, lesion_type, kind, config.fps)
            row["relative_increase"] = _relative(row["initial"], row["augmented"])
            table.append(row)
    for method in config.methods:
        rows = [r for r in table if r["method"] == method]
        if rows:
            initial = float(np.nanmean([r["initial"] for r in rows]))
            augmented = float(np.nanmean([r["augmented"] for r in rows]))
            table.append(
                {
                    "lesion_type": "average",
                    "method": method,
                    "initial": initial,
                    "augmented": augmented,
                    "relative_increase": _relative(initial, augmented),
                    "n_images": rows[0]["n_images"],
                    "n_lesions": sum(r["n_lesions"] for r in rows),
                }
            )
    return table, curves, per_image, iterations


def _other_lesions(prepared: PreparedImage, lesion_type: str) -> np.ndarray:
    other = np.zeros_like(prepared.fov)
    for name, labels in prepared.masks.items():
        if name != lesion_type:
            other |= labels > 0
    return other


def _relative(initial: float, augmented: float) -> float:
    if not math.isfinite(initial) or initial == 0:
        return math.nan
    return (augmented - initial) / initial


def _operating_threshold(result: FrocResult, fps: float) -> float:
    """Score threshold of the highest sensitivity with at most ``fps`` FPs per image."""
    index = int(np.searchsorted(result.fps_per_image, fps, side="right") - 1)
    return float(result.thresholds[index])


def _per_image_rows(
    rows: list[dict[str, Any]],
    result: FrocResult,
    images: Sequence[PreparedImage],
    method: str,
    lesion_type: str,
    kind: str,
    fps: float,
) -> None:
    threshold = _operating_threshold(result, fps)
    for prepared, detections, lesions in zip(
        images, result.detections, result.lesions_per_image, strict=True
    ):
        kept = [d for d in detections if d.score >= threshold]
        rows.append(
            {
                "image_id": prepared.id,
                "method": method,
                "lesion_type": lesion_type,
                "kind": kind,
                "lesions": int(lesions),
                "detected": sum(len(d.lesions_new) for d in kept),
                "false_positives": sum(d.is_fp for d in kept),
            }
        )


def _fmt(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.2f}"


def _pct(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{100 * value:+.1f} %"


def format_tables(report: LocalizationReport, title: str = "") -> str:
    """Markdown tables in the paper's layout: one per lesion type, then the averages."""
    methods = list(dict.fromkeys(r["method"] for r in report.table))
    types = list(dict.fromkeys(r["lesion_type"] for r in report.table))
    fps = report.settings["config"]["fps"]
    lines = [f"## {title}".rstrip(), ""] if title else []
    for lesion_type in types:
        rows = [r for r in report.table if r["lesion_type"] == lesion_type]
        name = (
            "Average over lesion types"
            if lesion_type == "average"
            else lesion_type.replace("_", " ")
        )
        lesions = "" if lesion_type == "average" else f", {rows[0]['n_lesions']} lesions"
        lines += [
            f"**{name}** (SE at {fps:g} FPs per image, {rows[0]['n_images']} images{lesions})",
            "",
            "| method | initial | augmented | relative increase |",
            "| --- | --- | --- | --- |",
        ]
        for method in methods:
            row = next((r for r in rows if r["method"] == method), None)
            if row is not None:
                label = get_method(method).label
                lines.append(
                    f"| {label} | {_fmt(row['initial'])} | {_fmt(row['augmented'])} | "
                    f"{_pct(row['relative_increase'])} |"
                )
        lines.append("")
    return "\n".join(lines)


def gain_summary(report: LocalizationReport, tolerance: float = 0.005) -> list[str]:
    """One plain line per method: the average initial -> augmented, and per lesion type whether
    augmentation gained, lost or left it unchanged (within ``tolerance``).

    Examples: ``"GBP: average 0.29 -> 0.31 (+7.0 %); better on
    hemorrhages, microaneurysms; worse on hard exudates (-0.03); unchanged on soft exudates"``.
    """
    lines = []
    for method in dict.fromkeys(r["method"] for r in report.table):
        rows = [r for r in report.table if r["method"] == method]
        average = next((r for r in rows if r["lesion_type"] == "average"), None)
        parts: dict[str, list[str]] = {"better": [], "worse": [], "unchanged": []}
        for row in rows:
            if row["lesion_type"] == "average":
                continue
            name = row["lesion_type"].replace("_", " ")
            change = row["augmented"] - row["initial"]
            if not math.isfinite(change):
                continue
            if abs(change) <= tolerance:
                parts["unchanged"].append(name)
            elif change > 0:
                parts["better"].append(name)
            else:
                parts["worse"].append(f"{name} ({change:+.2f})")
        head = f"{get_method(method).label}: "
        if average is not None:
            head += (
                f"average {_fmt(average['initial'])} -> {_fmt(average['augmented'])} "
                f"({_pct(average['relative_increase'])})"
            )
        tail = "; ".join(f"{k} on {', '.join(v)}" for k, v in parts.items() if v)
        lines.append(head + (f"; {tail}" if tail else ""))
    return lines

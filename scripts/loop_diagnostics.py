"""Why the augmented map does or does not beat the initial one: one method's loop, per image.

Reads a localization run written by ``examples/fundus_dr.py`` / ``run_localization`` (its
``settings.json``, ``scores.json``, ``per_image.csv`` and cached maps), re-runs the loop of one
method on the explained images with ``keep_history=True`` (same classifier, inpainter and
settings; the first map is checked against the cache), and writes a markdown report:

A. the loop: maps per image, stop reasons, scores before and after each inpainting step;
B. SE at 10 FPs per image as reported (raw maps pooled over images), and two diagnostics that
   separate the two ways the sum can change the pooled FROC: every map divided by its maximum in
   the field of view (``froc(normalize="max")``: only the ranking within each image counts), and
   only the images whose loop produced two maps or more;
C. what each step's Otsu mask covers: its area, the share of its pixels on each lesion type, and
   the share of each type's lesions it touches;
D. per-image examples: the images whose detected lesions changed most between the maps.

    python scripts/loop_diagnostics.py out/results/diaretdb1_all \\
        --checkpoint captum_iterative/checkpoints/aptos_vgg_small.pt --root "$DIARETDB1_ROOT"
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from captum_iterative.cli import ArgumentParser, usage_error
from captum_iterative.evaluation import froc, scale_radius
from captum_iterative.experiments import (
    ExperimentConfig,
    PreparedImage,
    config_explainer,
    explanation_path,
    load_explanation,
    prepare_images,
)
from captum_iterative.fundus import DiaretDB1, dataset_root, load_classifier

TYPES = ("hemorrhages", "microaneurysms", "hard_exudates", "soft_exudates")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="output folder of a DiaretDB1 localization run")
    parser.add_argument("--checkpoint", type=Path, required=True, help="the run's classifier")
    parser.add_argument(
        "--root",
        type=Path,
        help="DiaretDB1 folder (default: $DIARETDB1_ROOT)",
    )
    parser.add_argument("--method", default="guided_backprop")
    parser.add_argument("--examples", type=int, default=4, help="images in section D")
    parser.add_argument("--out", type=Path, help="markdown file (default: <run>/loop_<method>.md)")
    args = parser.parse_args(argv)
    try:
        args.root = dataset_root("diaretdb1", args.root, what="DiaretDB1")
    except ValueError as error:
        parser.error(str(error))
    return args


def _config(settings: dict[str, Any]) -> ExperimentConfig:
    return ExperimentConfig(**settings["config"])


def _images(root: Path, ids: list[str], size: int, enhance: bool) -> list[PreparedImage]:
    dataset = DiaretDB1(root)
    index = {image_id: i for i, image_id in enumerate(dataset.ids)}
    return prepare_images([dataset[index[i]] for i in ids], size, enhance=enhance, progress=False)


def _rerun(
    model: torch.nn.Module,
    threshold: float,
    method: str,
    config: ExperimentConfig,
    images: list[PreparedImage],
) -> list[dict[str, Any]]:
    """Per image: every map, mask and score of the loop."""
    explainer, kwargs = config_explainer(config, method, model, threshold, keep_history=True)
    runs = []
    for prepared in images:
        x = prepared.image[None]
        fov = torch.from_numpy(prepared.fov)[None, None] if config.use_fov else None
        result = explainer.explain(x, valid=fov, **kwargs)
        assert result.maps is not None and result.masks is not None
        runs.append(
            {
                "maps": result.maps[0][:, 0].numpy(),
                "masks": result.masks[0][:, 0].numpy(),
                "scores": result.scores[0].numpy(),
                "stop_reason": result.stop_reason[0],
            }
        )
    return runs


def _fmt(values: list[float] | np.ndarray) -> str:
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return "n/a"
    q = np.percentile(values, [0, 50, 100])
    return f"{q[1]:.2f} ({q[0]:.2f}-{q[2]:.2f})"


def _section_loop(runs: list[dict[str, Any]], threshold: float) -> list[str]:
    counts = Counter(len(r["maps"]) for r in runs)
    reasons = Counter(r["stop_reason"] for r in runs)
    first = [r["scores"][0] for r in runs]
    lines = [
        "## A. The loop",
        "",
        f"{len(runs)} images explained; th_pred = {threshold:.3f}.",
        "",
        "- maps per image: "
        + ", ".join(f"{k}: {counts[k]}" for k in sorted(counts))
        + f" (mean {np.mean([len(r['maps']) for r in runs]):.2f})",
        "- stop reasons: " + ", ".join(f"{k}: {v}" for k, v in sorted(reasons.items())),
        f"- score of the input, median (min-max): {_fmt(first)}; margin above th_pred "
        f"{_fmt(np.asarray(first) - threshold)}",
    ]
    for t in range(1, max(counts) + 1):
        after = [r["scores"][t] for r in runs if len(r["scores"]) > t]
        lines.append(f"- score after inpainting step {t} ({len(after)} images): {_fmt(after)}")
    return [*lines, ""]


def _sensitivity(
    maps: list[np.ndarray],
    images: list[PreparedImage],
    lesion_type: str,
    radius: float,
    normalize: Literal["max"] | None,
) -> float:
    masks = [p.masks.get(lesion_type, np.zeros(p.fov.shape, np.int32)) for p in images]
    result = froc(maps, masks, radius, fovs=[p.fov for p in images], normalize=normalize)
    return float(result.sensitivity_at(10.0))


def _section_froc(
    initial: list[np.ndarray],
    augmented: list[np.ndarray],
    images: list[PreparedImage],
    runs: list[dict[str, Any]],
    radius: float,
) -> list[str]:
    multi = [i for i, r in enumerate(runs) if len(r["maps"]) >= 2]
    lines = [
        "## B. SE at 10 FPs per image: reported and two diagnostics",
        "",
        f"Raw: the reported protocol. Max-normalized: each map divided by its maximum in the "
        f"field of view. Two maps or more: only the {len(multi)} images whose loop produced "
        "at least two maps (raw maps).",
        "",
        "| lesion type | raw initial | raw augmented | max-normalized initial | "
        "max-normalized augmented | 2+ maps initial | 2+ maps augmented |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for lesion_type in TYPES:
        cells = []
        for normalize in (None, "max"):
            for maps in (initial, augmented):
                cells.append(_sensitivity(maps, images, lesion_type, radius, normalize))
        if multi:
            sub = [images[i] for i in multi]
            for maps in (initial, augmented):
                cells.append(_sensitivity([maps[i] for i in multi], sub, lesion_type, radius, None))
        else:
            cells += [float("nan")] * 2
        lines.append(f"| {lesion_type} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    return [*lines, ""]


def _section_masks(runs: list[dict[str, Any]], images: list[PreparedImage]) -> list[str]:
    lines = [
        "## C. What each step's Otsu mask covers",
        "",
        "Per step, medians over the images that reached it: mask area as a share of the field "
        "of view; share of the mask's pixels on each lesion type (75 % standard, working "
        "frame); share of each type's lesions the mask touches (images with that type).",
        "",
        "| step | images | area / FOV | "
        + " | ".join(f"on {t}" for t in TYPES)
        + " | "
        + " | ".join(f"{t} touched" for t in TYPES)
        + " |",
        "| --- " * (3 + 2 * len(TYPES)) + "|",
    ]
    steps = max(len(r["masks"]) for r in runs)
    for t in range(steps):
        area: list[float] = []
        on: dict[str, list[float]] = {k: [] for k in TYPES}
        touched: dict[str, list[float]] = {k: [] for k in TYPES}
        for run, prepared in zip(runs, images, strict=True):
            if len(run["masks"]) <= t:
                continue
            mask = run["masks"][t]
            area.append(mask.sum() / prepared.fov.sum())
            for k in TYPES:
                labels = prepared.masks.get(k)
                if labels is None:
                    continue
                on[k].append((mask & (labels > 0)).sum() / max(mask.sum(), 1))
                n = int(labels.max())
                if n:
                    touched[k].append(len(np.unique(labels[mask & (labels > 0)])) / n)
        cells = [f"{np.median(area):.3f}"]
        cells += [f"{np.median(on[k]):.3f}" if on[k] else "n/a" for k in TYPES]
        cells += [f"{np.median(touched[k]):.2f}" if touched[k] else "n/a" for k in TYPES]
        lines.append(f"| {t + 1} | {len(area)} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _per_image(path: Path, method: str) -> dict[tuple[str, str, str], tuple[int, int, int]]:
    rows = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["method"] == method:
                key = (row["image_id"], row["lesion_type"], row["kind"])
                rows[key] = (int(row["lesions"]), int(row["detected"]), int(row["false_positives"]))
    return rows


def _section_examples(
    per_image: dict[tuple[str, str, str], tuple[int, int, int]],
    runs: list[dict[str, Any]],
    images: list[PreparedImage],
    count: int,
) -> list[str]:
    changes = []
    for run, prepared in zip(runs, images, strict=True):
        delta = sum(
            per_image[(prepared.id, k, "augmented")][1] - per_image[(prepared.id, k, "initial")][1]
            for k in TYPES
        )
        changes.append((delta, prepared.id, run))
    changes.sort(key=lambda c: (c[0], c[1]))
    chosen = changes[: count // 2] + changes[len(changes) - (count - count // 2) :]
    lines = [
        "## D. Examples: the images whose detections changed most",
        "",
        "Detected lesions / false positives of each map at the pooled operating point "
        "(10 FPs per image over all explained images), initial -> augmented.",
        "",
        "| image | maps | scores | " + " | ".join(TYPES) + " |",
        "| --- | --- | --- | " + "--- | " * len(TYPES),
    ]
    for _, image_id, run in chosen:
        cells = []
        for k in TYPES:
            n, d0, f0 = per_image[(image_id, k, "initial")]
            _, d1, f1 = per_image[(image_id, k, "augmented")]
            cells.append(f"{d0}/{f0} -> {d1}/{f1} of {n}")
        scores = " -> ".join(f"{s:.2f}" for s in run["scores"])
        lines.append(f"| {image_id} | {len(run['maps'])} | {scores} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    settings = json.loads((args.run / "settings.json").read_text())
    scores = json.loads((args.run / "scores.json").read_text())
    model, info = load_classifier(args.checkpoint)
    threshold = float(settings["th_pred"])
    if abs(threshold - info.th_pred) > 1e-9:
        message = f"{args.checkpoint} has th_pred {info.th_pred}, the run {threshold}"
        raise SystemExit(usage_error("loop_diagnostics.py", message))
    config = _config(settings)
    size = int(settings["input_size"])
    ids = sorted(i for i, s in scores.items() if s >= threshold)
    images = _images(args.root, ids, size, bool(info.preprocessing.get("enhance", True)))
    cached = [load_explanation(explanation_path(args.run / "cache", args.method, i)) for i in ids]
    runs = _rerun(model, threshold, args.method, config, images)
    for run, exp in zip(runs, cached, strict=True):
        np.testing.assert_allclose(run["maps"][0], exp.initial, rtol=1e-4, atol=1e-6)
    radius = scale_radius(float(settings["config"]["radius_at_512"]), size=size)
    lines = [
        f"# Loop diagnostics: {args.method} on {settings['dataset']}",
        "",
        f"Run: `{args.run}`; classifier `{args.checkpoint}` ({info.arch}, {size} px); "
        f"FROC radius {radius:.2f} px.",
        "",
    ]
    lines += _section_loop(runs, threshold)
    lines += _section_froc(
        [e.initial for e in cached], [e.augmented for e in cached], images, runs, radius
    )
    lines += _section_masks(runs, images)
    lines += _section_examples(
        _per_image(args.run / "per_image.csv", args.method), runs, images, args.examples
    )
    text = "\n".join(lines)
    out = args.out or args.run / f"loop_{args.method}.md"
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

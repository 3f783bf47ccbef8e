"""Lesion statistics of a fundus dataset in the 512 px frame: what the synthetic generator copies.

For each DR lesion type: how many images hold it, lesions per such image, lesion areas and
contrast, and which types occur together. Images are taken into the pipeline's frame without
enhancement (`prepare_images`: field-of-view crop, square, resize; lesions labelled 8-connected
at native resolution). Contrast is that of the green channel, the one in which red and bright
lesions stand out: for a lesion L, the darkest (red lesions) or brightest (bright lesions) value
of the 3 x 3 median-filtered green over L (the lesion's core, whether the reference outlines it
tightly or loosely) divided by the median green of a ring 3-6 px around L (other lesions left
out), minus 1 (negative: darker than the retina around it).

    python docs/scripts/lesion_statistics.py diaretdb1 --root "$DIARETDB1_ROOT" --split train
    python docs/scripts/lesion_statistics.py synthetic --n 200

Prints markdown and, with --json, writes the numbers. DiaretDB1's train split is the only real
data it is run on (the project never chooses anything on the test split).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from captum_iterative.experiments import prepare_images
from captum_iterative.fundus.datasets import DiaretDB1
from captum_iterative.fundus.synthetic import SyntheticFundusDataset

TYPES = ("microaneurysms", "hemorrhages", "hard_exudates", "soft_exudates")
RED = ("microaneurysms", "hemorrhages")
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def _disc(radius: int) -> np.ndarray:
    # OpenCV's ellipse, not captum_iterative.inpaint.disk (y^2 + x^2 <= r^2): they differ at the
    # rim, and the documented statistics were measured with this one
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def lesion_records(dataset: Any, size: int) -> tuple[list[dict[str, Any]], list[set[str]]]:
    """One record per lesion (type, image, area, contrast) and the set of types per image."""
    records, present = [], []
    for image in prepare_images(dataset, size, enhance=False, progress=False):
        green = image.image[1].numpy().astype(np.float32)
        # the darkest / brightest 3 x 3 neighbourhood of a lesion: its core, whether the reference
        # outlines it tightly (synthetic masks) or loosely (DiaretDB1's expert regions)
        core = cv2.medianBlur(green, 3).astype(np.float64)
        any_lesion = np.zeros(image.fov.shape, bool)
        for labels in image.masks.values():
            any_lesion |= labels > 0
        types = set()
        for name in TYPES:
            labels = image.masks.get(name)
            if labels is None or labels.max() == 0:
                continue
            types.add(name)
            for k in range(1, int(labels.max()) + 1):
                lesion = labels == k
                if not lesion.any():
                    continue
                near = cv2.dilate(lesion.astype(np.uint8), _disc(3)).astype(bool)
                far = cv2.dilate(lesion.astype(np.uint8), _disc(6)).astype(bool)
                ring = far & ~near & ~any_lesion & image.fov
                if ring.sum() < 8:
                    continue
                extreme = core[lesion].min() if name in RED else core[lesion].max()
                contrast = extreme / max(float(np.median(green[ring])), 1e-6) - 1
                records.append(
                    {
                        "type": name,
                        "image": image.id,
                        "area": int(lesion.sum()),
                        "contrast": contrast,
                    }
                )
        present.append(types)
    return records, present


def summarise(records: list[dict[str, Any]], present: list[set[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {"images": len(present), "types": {}}
    with_any = [p for p in present if p]
    out["images_with_lesions"] = len(with_any)
    for name in TYPES:
        rows = [r for r in records if r["type"] == name]
        images = [p for p in present if name in p]
        per_image = [sum(r["image"] == i for r in rows) for i in {r["image"] for r in rows}]
        entry: dict[str, Any] = {"images": len(images), "lesions": len(rows)}
        if rows:
            areas = np.array([r["area"] for r in rows], float)
            contrast = np.array([r["contrast"] for r in rows], float)
            entry["lesions_per_image"] = {
                f"q{int(q * 100)}": float(np.quantile(per_image, q)) for q in QUANTILES
            }
            entry["area_px"] = {f"q{int(q * 100)}": float(np.quantile(areas, q)) for q in QUANTILES}
            entry["contrast"] = {
                f"q{int(q * 100)}": float(np.quantile(contrast, q)) for q in QUANTILES
            }
        out["types"][name] = entry
    out["co_occurrence"] = {
        f"{a} without {b}": sum(1 for p in with_any if a in p and b not in p)
        for a in TYPES
        for b in TYPES
        if a != b
    }
    return out


def markdown(summary: dict[str, Any], label: str) -> str:
    lines = [
        f"**{label}**: {summary['images']} images, {summary['images_with_lesions']} with lesions",
        "",
        "| type | images | lesions | lesions per image (q25 / median / q75) | area px (q10 / q50 / "
        "q90) | contrast (q10 / q50 / q90) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, e in summary["types"].items():
        if "area_px" not in e:
            lines.append(f"| {name} | {e['images']} | 0 | | | |")
            continue
        per, area, con = e["lesions_per_image"], e["area_px"], e["contrast"]
        lines.append(
            f"| {name} | {e['images']} | {e['lesions']} | {per['q25']:.0f} / {per['q50']:.0f} / "
            f"{per['q75']:.0f} | {area['q10']:.0f} / {area['q50']:.0f} / {area['q90']:.0f} | "
            f"{con['q10']:+.2f} / {con['q50']:+.2f} / {con['q90']:+.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", choices=["diaretdb1", "synthetic"])
    parser.add_argument("--root", default=os.environ.get("DIARETDB1_ROOT"))
    parser.add_argument("--split", default="train", choices=["train"])
    parser.add_argument("--n", type=int, default=200, help="synthetic images")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.dataset == "diaretdb1":
        if not args.root:
            parser.error("--root or $DIARETDB1_ROOT is needed")
        data: Any = DiaretDB1(args.root, split=args.split)
        label = f"DiaretDB1 {args.split} split (75 % reference), {args.size} px"
    else:
        data = SyntheticFundusDataset(args.n, size=args.size, seed=args.seed, mode="dr")
        label = f"synthetic DR (seed {args.seed}, generator prevalence), {args.size} px"
    summary = summarise(*lesion_records(data, args.size))
    summary["label"] = label
    print(markdown(summary, label))
    print(json.dumps(summary["co_occurrence"], indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()

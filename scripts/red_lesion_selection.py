"""Apply the red-lesion candidates' selection rule (docs/results.md, section 1) on DiaretDB1 train.

For each classifier checkpoint it measures, on the official **train** split only:

- R, the red-lesion percentile: for every microaneurysm and hemorrhage, the percentile among
  its image's field-of-view pixels of the initial guided-backpropagation map's maximum over the
  lesion, on all images whether or not the classifier calls them referable; R is the mean of
  the microaneurysm median and the hemorrhage median;
- SE, the GBP augmented SE at 10 FPs per image averaged over the four lesion types, on the
  images the classifier calls referable (the full protocol: ``run_localization`` with the
  settings of ``captum-iterative evaluate``);

and writes a markdown table and a JSON file, then names the winner under the rule.

    python scripts/red_lesion_selection.py --root "$DIARETDB1_ROOT" --out out/selection \\
        a=captum_iterative/checkpoints/dr600_512.pt c1=runs/c1.pt c2=runs/c2.pt
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from captum_iterative.cli import ArgumentParser
from captum_iterative.experiments import (
    ExperimentConfig,
    PreparedImage,
    config_explainer,
    prepare_images,
    run_localization,
)
from captum_iterative.fundus import DiaretDB1, dataset_root, load_classifier

RED = ("microaneurysms", "hemorrhages")
#: The rule's margins (docs/results.md): R must rise by this many percentile points ...
R_MARGIN = 1.0
#: ... while SE may fall by at most this much; or R within the margin and SE higher.
SE_MARGIN = 0.02
MIN_AUC = 0.85


def lesion_percentiles(
    model: torch.nn.Module, threshold: float, images: list[PreparedImage], config: ExperimentConfig
) -> dict[str, list[float]]:
    """Per red-lesion type, the percentile of each lesion in its image's initial GBP map."""
    first_map = dataclasses.replace(config, max_iter=1)
    explainer, kwargs = config_explainer(
        first_map, "guided_backprop", model, threshold, explain_normal=True
    )
    found: dict[str, list[float]] = {t: [] for t in RED}
    for prepared in images:
        fov = torch.from_numpy(prepared.fov)[None, None]
        result = explainer.explain(prepared.image[None], valid=fov, **kwargs)
        initial = result.initial[0, 0].numpy()
        values = np.sort(initial[prepared.fov])
        for lesion_type in RED:
            labels = prepared.masks.get(lesion_type)
            if labels is None:
                continue
            for k in range(1, int(labels.max()) + 1):
                lesion = labels == k
                if not lesion.any():
                    continue
                top = initial[lesion].max()
                below = np.searchsorted(values, top, side="left")
                equal = np.searchsorted(values, top, side="right") - below
                found[lesion_type].append(100.0 * (below + 0.5 * equal) / values.size)
    return found


def measure(name: str, checkpoint: Path, root: Path, out: Path) -> dict[str, Any]:
    model, info = load_classifier(checkpoint)
    model.eval()
    enhance = bool(info.preprocessing.get("enhance", True))
    dataset = DiaretDB1(root, split="train")
    config = ExperimentConfig(methods=("guided_backprop",), batch_size=4)
    images = prepare_images(dataset, info.input_size, enhance=enhance, progress=False)
    percentiles = lesion_percentiles(model, info.th_pred, images, config)
    medians = {t: float(np.median(v)) for t, v in percentiles.items()}
    report = run_localization(
        dataset,
        model,
        info.th_pred,
        out / name,
        config,
        size=info.input_size,
        enhance=enhance,
        dataset_name="DiaretDB1 train",
        progress=False,
    )
    se = {row["lesion_type"]: (row["initial"], row["augmented"]) for row in report.table}
    return {
        "name": name,
        "checkpoint": str(checkpoint),
        "held_out_auc": float(info.metrics.get("auc", float("nan"))),
        "th_pred": info.th_pred,
        "referable": len(report.referable),
        "of": len(report.scores),
        "maps_per_image": report.iterations["guided_backprop"],
        "percentile_median": medians,
        "percentile_top_0_1": {
            t: float(np.mean(np.asarray(v) >= 99.9)) for t, v in percentiles.items()
        },
        "lesions": {t: len(v) for t, v in percentiles.items()},
        "R": float(np.mean(list(medians.values()))),
        "gbp": {t: {"initial": a, "augmented": b} for t, (a, b) in se.items()},
        "SE": float(se["average"][1]),
    }


def beats(x: dict[str, Any], y: dict[str, Any]) -> bool:
    """The rule of docs/results.md: does candidate ``x`` beat ``y``?"""
    if x["R"] >= y["R"] + R_MARGIN:
        return bool(x["SE"] >= y["SE"] - SE_MARGIN)
    return bool(abs(x["R"] - y["R"]) < R_MARGIN and x["SE"] > y["SE"])


def winner(rows: list[dict[str, Any]], default: str) -> str:
    eligible = [r for r in rows if r["held_out_auc"] >= MIN_AUC]
    base = next(r for r in rows if r["name"] == default)
    for row in eligible:
        others = [o for o in eligible if o is not row] + ([base] if row is not base else [])
        if row is not base and all(beats(row, o) for o in others):
            return str(row["name"])
    return default


def markdown(rows: list[dict[str, Any]], chosen: str) -> str:
    lines = [
        "| candidate | held-out AUC | referable (of 28) | maps per image | MA median percentile "
        "(>= 99.9) | HE median percentile (>= 99.9) | **R** | GBP HE | GBP MA | GBP EX | GBP SE "
        "| **SE** (augmented average) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        g = r["gbp"]

        def cell(t: str, g: dict[str, Any] = g) -> str:
            return f"{g[t]['initial']:.2f} -> {g[t]['augmented']:.2f}" if t in g else "n/a"

        top, median = r["percentile_top_0_1"], r["percentile_median"]
        percentiles = " | ".join(
            f"{median[t]:.1f} ({100 * top[t]:.0f} %)" for t in ("microaneurysms", "hemorrhages")
        )
        name = f"**{r['name']}**" if r["name"] == chosen else r["name"]
        lines.append(
            f"| {name} | {r['held_out_auc']:.3f} | {r['referable']} | "
            f"{r['maps_per_image']:.1f} | {percentiles} | **{r['R']:.1f}** | "
            f"{cell('hemorrhages')} | {cell('microaneurysms')} | {cell('hard_exudates')} | "
            f"{cell('soft_exudates')} | **{r['SE']:.3f}** |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("candidates", nargs="+", help="NAME=CHECKPOINT; the first is the default")
    parser.add_argument("--root", type=Path, help="DiaretDB1 folder (default: $DIARETDB1_ROOT)")
    parser.add_argument("--out", type=Path, default=Path("out/selection"))
    args = parser.parse_args(argv)
    root = dataset_root("diaretdb1", args.root, what="DiaretDB1")
    pairs = [c.split("=", 1) for c in args.candidates]
    if any(len(p) != 2 for p in pairs):
        parser.error("candidates are NAME=CHECKPOINT")
    rows = [measure(name, Path(path), root, args.out) for name, path in pairs]
    chosen = winner(rows, pairs[0][0])
    text = markdown(rows, chosen) + f"\n\nChosen under the rule: {chosen}\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "selection.md").write_text(text)
    (args.out / "selection.json").write_text(
        json.dumps({"rows": rows, "chosen": chosen}, indent=2) + "\n"
    )
    print(text)


if __name__ == "__main__":
    main()

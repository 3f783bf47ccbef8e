"""Figures of docs/results.md: FROC curves, SE/10FPs against the paper, training curves.

Reads the localization runs of ``scripts/reproduce_results.sh`` (``table.csv`` and the runner's
``froc_<type>.png``, plots without image pixels) and the committed checkpoint summary, and writes
``docs/figures/results_*.png``::

    .venv/bin/python docs/scripts/make_results_figures.py --results out/results

Overlay grids and loop-step figures show DiaretDB1 pixels; they stay in ``out/`` and are never
copied here.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from importlib import resources
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

FIGURES = Path(__file__).resolve().parents[1] / "figures"
TYPES = ("hemorrhages", "microaneurysms", "hard_exudates", "soft_exudates")
METHODS = ("saliency", "guided_backprop", "integrated_gradients", "grad_cam", "guided_grad_cam")
LABELS = {
    "saliency": "Saliency",
    "guided_backprop": "GBP",
    "integrated_gradients": "IG",
    "grad_cam": "Grad-CAM",
    "guided_grad_cam": "Guided Grad-CAM",
}
#: The paper's DR VGG-16 results on DiaretDB1 (initial, augmented): GBP per lesion type
#: (Table II) and the average over lesion types per method (Table V).
PAPER_GBP = {
    "hemorrhages": (0.65, 0.74),
    "microaneurysms": (0.42, 0.50),
    "hard_exudates": (0.57, 0.62),
    "soft_exudates": (0.67, 0.93),
}
PAPER_AVERAGE = {
    "saliency": (0.39, 0.45),
    "guided_backprop": (0.58, 0.70),
    "integrated_gradients": (0.54, 0.61),
    "grad_cam": (0.39, 0.38),
    "guided_grad_cam": (0.56, 0.67),
}


def _table(path: Path) -> dict[tuple[str, str], tuple[float, float]]:
    with path.open(newline="") as handle:
        return {
            (r["lesion_type"], r["method"]): (float(r["initial"]), float(r["augmented"]))
            for r in csv.DictReader(handle)
        }


def _bars(
    ax: plt.Axes,
    groups: list[str],
    ours: list[tuple[float, float]],
    paper: list[tuple[float, float]],
) -> None:
    x = np.arange(len(groups))
    width = 0.2
    series = (
        ("paper initial", [p[0] for p in paper], "#9ecae1"),
        ("paper augmented", [p[1] for p in paper], "#3182bd"),
        ("ours initial", [o[0] for o in ours], "#fdae6b"),
        ("ours augmented", [o[1] for o in ours], "#e6550d"),
    )
    for i, (label, values, colour) in enumerate(series):
        ax.bar(x + (i - 1.5) * width, values, width, label=label, color=colour)
    ax.set_xticks(x, groups, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("SE at 10 FPs per image")
    ax.grid(axis="y", alpha=0.3)


def paper_figure(results: Path, out: Path) -> None:
    table = _table(results / "diaretdb1_all" / "table.csv")
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    _bars(
        left,
        [t.replace("_", " ") for t in TYPES],
        [table[(t, "guided_backprop")] for t in TYPES],
        [PAPER_GBP[t] for t in TYPES],
    )
    left.set_title("GBP per lesion type (Table II)", fontsize=10)
    left.legend(fontsize=7, loc="upper left")
    _bars(
        right,
        [LABELS[m] for m in METHODS],
        [table[("average", m)] for m in METHODS],
        [PAPER_AVERAGE[m] for m in METHODS],
    )
    right.set_title("Average over lesion types (Table V)", fontsize=10)
    fig.suptitle(
        "DiaretDB1, all 89 images: paper (VGG-16, 512 px, 75 referable) vs ours "
        "(vgg_small, 224 px, 36 referable)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def training_figure(out: Path) -> None:
    summary = json.loads(
        (resources.files("captum_iterative") / "checkpoints" / "aptos_vgg_small.json").read_text()
    )
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    candidates = summary["architecture_comparison"]["candidates"]
    for candidate in candidates:
        auc = candidate["val_auc"]
        # A pilot that the checkpoint's run resumed is the start of a longer curve.
        if any(
            len(c["val_auc"]) > len(auc) and c["val_auc"][: len(auc)] == auc for c in candidates
        ):
            continue
        ax.plot(range(1, len(auc) + 1), auc, marker="o", label=candidate["arch"])
    ax.axhline(0.9, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation AUC (referable)")
    ax.set_title("APTOS 2019, grouped split (719 validation images)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=Path("out/results"))
    args = parser.parse_args(argv)
    FIGURES.mkdir(parents=True, exist_ok=True)
    for run in ("diaretdb1_all", "diaretdb1_test", "synthetic"):
        for lesion_type in TYPES:
            source = args.results / run / f"froc_{lesion_type}.png"
            shutil.copyfile(source, FIGURES / f"results_{run}_froc_{lesion_type}.png")
    paper_figure(args.results, FIGURES / "results_paper_comparison.png")
    training_figure(FIGURES / "results_training.png")
    print(f"wrote {FIGURES}/results_*.png")


if __name__ == "__main__":
    main()

"""Figures of docs/results.md: FROC curves, SE/10FPs against the paper, training curves.

Reads the localization runs of ``scripts/reproduce_results.sh`` (``table.csv`` and the runner's
``froc_<type>.png``, plots without image pixels) and the committed checkpoint summaries, and
writes ``docs/figures/results_*.png``. The 512 px runs (the default classifier) and, optionally,
the 224 px runs (``CLASSIFIER=aptos2019``)::

    .venv/bin/python docs/scripts/make_results_figures.py --results out/results \
        --results-224 out/results_224

Overlay grids and loop-step figures show DiaretDB1 pixels; they stay in ``out/`` and are never
copied here.
"""

from __future__ import annotations

import argparse
import json
import shutil
from importlib import resources
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from make_results_tables import LABELS, METHODS, PAPER, TYPES, read_table  # this folder

FIGURES = Path(__file__).resolve().parents[1] / "figures"
#: Bar colours (initial, augmented) of each result set.
COLOURS = {
    "paper": ("#9ecae1", "#3182bd"),
    "ours 224 px": ("#fdd0a2", "#fd8d3c"),
    "ours 512 px": ("#a1d99b", "#31a354"),
}


def _bars(
    ax: plt.Axes,
    groups: list[str],
    sets: dict[str, list[tuple[float, float]]],
) -> None:
    """Initial and augmented bars of each result set (paper first) for each group."""
    x = np.arange(len(groups))
    series = [
        (f"{name} {kind}", [v[k] for v in values], COLOURS[name][k])
        for name, values in sets.items()
        for k, kind in enumerate(("initial", "augmented"))
    ]
    width = 0.8 / len(series)
    for i, (label, values, colour) in enumerate(series):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=label, color=colour)
    ax.set_xticks(x, groups, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("SE at 10 FPs per image")
    ax.grid(axis="y", alpha=0.3)


def _referable(results: Path) -> int:
    return int(json.loads((results / "diaretdb1_all" / "settings.json").read_text())["referable"])


def paper_figure(results: Path, results_224: Path | None, out: Path) -> None:
    """GBP per lesion type and every method's average: the paper, 512 px and (optional) 224 px."""
    runs = {"ours 512 px": results}
    if results_224 is not None:
        runs = {"ours 224 px": results_224, **runs}
    tables = {name: read_table(path / "diaretdb1_all") for name, path in runs.items()}
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    _bars(
        left,
        [t.replace("_", " ") for t in TYPES],
        {
            name: [table[(t, "guided_backprop")][:2] for t in TYPES]
            for name, table in {"paper": PAPER, **tables}.items()
        },
    )
    left.set_title("GBP per lesion type (Table II)", fontsize=10)
    left.legend(fontsize=7, loc="upper left")
    _bars(
        right,
        [LABELS[m] for m in METHODS],
        {
            name: [table[("average", m)][:2] for m in METHODS]
            for name, table in {"paper": PAPER, **tables}.items()
        },
    )
    right.set_title("Average over lesion types (Table V)", fontsize=10)
    ours = "; ".join(f"{name}: {_referable(path)}" for name, path in runs.items())
    fig.suptitle(
        f"DiaretDB1, all 89 images. Referable: paper (VGG-16, 512 px) 75; {ours}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def _summary(name: str) -> dict:
    return json.loads((resources.files("captum_iterative") / "checkpoints" / name).read_text())


def _auc_figure(curves: dict[str, list[float]], xlabel: str, title: str, out: Path) -> None:
    """Validation AUC per epoch, one line per label, with the 0.90 aim dotted."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for label, auc in curves.items():
        ax.plot(range(1, len(auc) + 1), auc, marker="o", markersize=4, label=label)
    ax.axhline(0.9, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("validation AUC (referable)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def training_figure(out: Path) -> None:
    """APTOS validation AUC per epoch of the 224 px architecture pilots."""
    candidates = _summary("aptos_vgg_small.json")["architecture_comparison"]["candidates"]
    curves = {}
    for candidate in candidates:
        auc = candidate["val_auc"]
        # A pilot that the checkpoint's run resumed is the start of a longer curve.
        if not any(
            len(c["val_auc"]) > len(auc) and c["val_auc"][: len(auc)] == auc for c in candidates
        ):
            curves[candidate["arch"]] = auc
    _auc_figure(curves, "epoch", "APTOS 2019, grouped split (719 validation images)", out)


def dr600_training_figure(out: Path) -> None:
    """Held-out dr600 AUC per epoch of the 512 px candidates (from the shipped summary)."""
    candidates = _summary("dr600_512.json")["selection"]["candidates"]
    curves = {f"({c['name']}) {c['label']}": c["val_auc"] for c in candidates}
    title = "dr600, patient-grouped split (118 held-out images)"
    _auc_figure(curves, "epoch at 512 px", title, out)


def _copy_froc(results: Path, prefix: str, runs: tuple[str, ...]) -> None:
    for run in runs:
        for lesion_type in TYPES:
            source = results / run / f"froc_{lesion_type}.png"
            shutil.copyfile(source, FIGURES / f"{prefix}_{run}_froc_{lesion_type}.png")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--results", type=Path, default=Path("out/results"), help="512 px runs (the default)"
    )
    parser.add_argument(
        "--results-224", type=Path, default=None, help="224 px runs (CLASSIFIER=aptos2019)"
    )
    args = parser.parse_args(argv)
    FIGURES.mkdir(parents=True, exist_ok=True)
    _copy_froc(args.results, "results512", ("diaretdb1_all", "diaretdb1_test"))
    _copy_froc(args.results, "results", ("synthetic",))
    if args.results_224 is not None:
        _copy_froc(args.results_224, "results", ("diaretdb1_all", "diaretdb1_test"))
    paper_figure(args.results, args.results_224, FIGURES / "results_paper_comparison.png")
    training_figure(FIGURES / "results_training.png")
    dr600_training_figure(FIGURES / "results_dr600_training.png")
    print(f"wrote {FIGURES}/results_*.png")


if __name__ == "__main__":
    main()

"""Tables II and V of docs/results.md in the paper's layout, from the runs' ``table.csv``.

Each cell is SE at 10 FPs per image, initial -> augmented, with the relative change computed
before rounding; the 224 px run and the paper's values (its Tables II and V, DR VGG-16, all 89
DiaretDB1 images) are given beside the 512 px run::

    .venv/bin/python docs/scripts/make_results_tables.py --results out/results \\
        --results-224 out/results_224
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from captum_iterative.experiments import TABLE_I, get_method
from captum_iterative.fundus import DR_LESIONS

#: Lesion types and the paper's Table I methods, in the order of the tables, with their labels.
TYPES = DR_LESIONS
METHODS = TABLE_I
LABELS = {name: get_method(name).label for name in TABLE_I}
#: The paper's values where it reports them (Table II per lesion type, Table V averages).
PAPER = {
    ("hemorrhages", "saliency"): (0.41, 0.50),
    ("hemorrhages", "guided_backprop"): (0.65, 0.74),
    ("microaneurysms", "guided_backprop"): (0.42, 0.50),
    ("hard_exudates", "guided_backprop"): (0.57, 0.62),
    ("soft_exudates", "guided_backprop"): (0.67, 0.93),
    ("hemorrhages", "integrated_gradients"): (0.41, 0.58),
    ("soft_exudates", "integrated_gradients"): (0.83, 0.98),
    ("average", "saliency"): (0.39, 0.45),
    ("average", "guided_backprop"): (0.58, 0.70),
    ("average", "integrated_gradients"): (0.54, 0.61),
    ("average", "grad_cam"): (0.39, 0.38),
    ("average", "guided_grad_cam"): (0.56, 0.67),
}

Table = dict[tuple[str, str], tuple[float, float, int]]


def read_table(run: Path) -> Table:
    with (run / "table.csv").open(newline="") as handle:
        return {
            (r["lesion_type"], r["method"]): (
                float(r["initial"]),
                float(r["augmented"]),
                int(r["n_lesions"] or 0),
            )
            for r in csv.DictReader(handle)
        }


def change(initial: float, augmented: float) -> str:
    """``a -> b (+x %)``, the change relative to ``a`` computed before rounding."""
    text = f"{initial:.2f} -> {augmented:.2f}"
    if initial > 0:
        text += f" ({100 * (augmented - initial) / initial:+.0f} %)"
    return text


def table_ii(ours: Table, other: Table | None) -> str:
    head = " | ".join(f"{t.replace('_', ' ')} ({ours[(t, METHODS[0])][2]})" for t in TYPES)
    lines = [f"| method | {head} |", "| --- |" + " --- |" * len(TYPES)]
    for method in METHODS:
        cells = []
        for t in TYPES:
            cell = f"**{change(*ours[(t, method)][:2])}**"
            if other is not None:
                cell += f"<br>224 px: {change(*other[(t, method)][:2])}"
            if (t, method) in PAPER:
                cell += f"<br>paper: {change(*PAPER[(t, method)])}"
            cells.append(cell)
        lines.append(f"| {LABELS[method]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table_v(ours: Table, other: Table | None) -> str:
    columns = ["512 px, initial -> augmented"]
    if other is not None:
        columns.append("224 px")
    columns.append("paper VGG-16, 512 px")
    lines = ["| method | " + " | ".join(columns) + " |", "| --- |" + " --- |" * len(columns)]
    for method in METHODS:
        cells = [f"**{change(*ours[('average', method)][:2])}**"]
        if other is not None:
            cells.append(change(*other[("average", method)][:2]))
        cells.append(change(*PAPER[("average", method)]))
        lines.append(f"| {LABELS[method]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def split_table(ours: Table) -> str:
    head = " | ".join(f"{t.replace('_', ' ')} ({ours[(t, METHODS[0])][2]})" for t in TYPES)
    lines = [f"| method | {head} | average |", "| --- |" + " --- |" * (len(TYPES) + 1)]
    for method in METHODS:
        cells = [change(*ours[(t, method)][:2]) for t in (*TYPES, "average")]
        lines.append(f"| {LABELS[method]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary_line(run: Path) -> str:
    settings = json.loads((run / "settings.json").read_text())
    maps = ", ".join(f"{LABELS[m]} {v:.1f}" for m, v in settings["mean_iterations"].items())
    return (
        f"{settings['referable']} of {settings['images']} images referable; maps per image: {maps}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=Path("out/results"))
    parser.add_argument("--results-224", type=Path, default=None)
    args = parser.parse_args(argv)
    ours = read_table(args.results / "diaretdb1_all")
    other = None if args.results_224 is None else read_table(args.results_224 / "diaretdb1_all")
    print("Table II, all 89 images.", summary_line(args.results / "diaretdb1_all"), "\n")
    print(table_ii(ours, other), "\n")
    print("Table V, all 89 images\n")
    print(table_v(ours, other), "\n")
    print("Test split.", summary_line(args.results / "diaretdb1_test"), "\n")
    print(split_table(read_table(args.results / "diaretdb1_test")))


if __name__ == "__main__":
    main()

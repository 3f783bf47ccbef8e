"""Compare trained classifiers on lesion localization, not only on AUC.

For each checkpoint, every image of a DiaretDB1 split is explained (whatever its prediction, so
all classifiers are judged on the same images) with the first map only (``max_iter=1``) of the
chosen methods, and SE at 10 false positives per image is scored per lesion type with the
localization runner. The table goes to ``<out>/comparison.md``; each checkpoint's full runner
output to ``<out>/<checkpoint stem>/``.

    python scripts/compare_architectures.py runs/aptos/a.pt runs/aptos/b.pt \\
        --root "$DIARETDB1_ROOT" --split test --out out/compare
"""

from __future__ import annotations

import argparse
from pathlib import Path

from captum_iterative.cli import ArgumentParser
from captum_iterative.experiments import ExperimentConfig, run_localization
from captum_iterative.fundus import DiaretDB1, dataset_root, load_classifier

#: A threshold below every score: the loop explains every image once.
EXPLAIN_ALL = -1e9


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", type=Path, help="fundus.train checkpoints")
    parser.add_argument(
        "--root",
        type=Path,
        help="DiaretDB1 folder (default: $DIARETDB1_ROOT)",
    )
    parser.add_argument("--split", choices=("all", "train", "test"), default="test")
    parser.add_argument(
        "--methods",
        default="saliency,guided_backprop,grad_cam",
        help="comma-separated methods (default: saliency,guided_backprop,grad_cam)",
    )
    parser.add_argument("--images", type=int, default=None, help="first N images only")
    parser.add_argument("--out", type=Path, default=Path("out/compare"))
    args = parser.parse_args(argv)
    try:
        args.root = dataset_root("diaretdb1", args.root, what="DiaretDB1")
    except ValueError as error:
        parser.error(str(error))
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    dataset = DiaretDB1(args.root, split=args.split)
    lines = [
        f"First maps only, every image of DiaretDB1 {args.split} explained; "
        "SE at 10 FPs per image.",
        "",
        "| checkpoint | arch | val AUC | method | "
        + " | ".join(["hemorrhages", "microaneurysms", "hard exudates", "soft exudates", "average"])
        + " |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for path in args.checkpoints:
        model, info = load_classifier(path)
        config = ExperimentConfig(methods=methods, max_iter=1, max_images=args.images)
        report = run_localization(
            dataset,
            model,
            EXPLAIN_ALL,
            args.out / path.stem,
            config,
            size=info.input_size,
            enhance=bool(info.preprocessing.get("enhance", True)),
            classifier={"arch": info.arch, "checkpoint": str(path), "metrics": info.metrics},
            dataset_name=f"DiaretDB1 {args.split}",
            progress=False,
        )
        types = ("hemorrhages", "microaneurysms", "hard_exudates", "soft_exudates", "average")
        for method in methods:
            cells = [f"{report.value(t, method, 'initial'):.2f}" for t in types]
            lines.append(
                f"| {path.stem} | {info.arch} | {info.metrics['auc']:.3f} | {method} | "
                + " | ".join(cells)
                + " |"
            )
    text = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "comparison.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

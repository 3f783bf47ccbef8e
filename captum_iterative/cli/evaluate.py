"""``captum-iterative evaluate``: the paper's localization experiment on a dataset with lesion
masks (:func:`~captum_iterative.experiments.run_localization`), reusing the maps of
``explain --dataset NAME --out <out>/cache``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from captum_iterative._argparse import UsageError, positive_float
from captum_iterative.cli._classifier import check_combinations, load_classifier_option
from captum_iterative.cli._distributed import resolve_device
from captum_iterative.cli._inputs import open_dataset_option
from captum_iterative.cli._options import (
    PROG,
    add_classifier_options,
    add_data_options,
    add_loop_options,
    config_of,
)
from captum_iterative.cli._outputs import check_writable
from captum_iterative.experiments.runner import run_localization
from captum_iterative.experiments.tables import format_tables

__all__ = ["add_evaluate_parser", "run_evaluate"]


def add_evaluate_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        error_prog=PROG,
        help="FROC tables and curves of the maps against a dataset's lesion masks",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The paper's localization experiment (experiments.runner.run_localization):"
        "\npreprocess the dataset, keep the images predicted referable, compute or reuse the "
        "maps of each\nmethod, score them by FROC per lesion type (SE at --fps false positives "
        "per image) and write\ntable.md, table.csv, per_image.csv, froc_<type>.png, "
        "overlays.png, scores.json and settings.json\nunder --out. Maps cached in <out>/cache "
        "are reused when their settings match, so maps computed\nby `explain --dataset NAME "
        "--out <out>/cache` (same method options) are scored, not recomputed.",
    )
    add_data_options(parser)
    add_classifier_options(parser)
    add_loop_options(parser)
    scoring = parser.add_argument_group("scoring")
    scoring.add_argument(
        "--radius",
        type=positive_float,
        default=7.0,
        help="FROC detection radius in pixels at 512 px, scaled to S: 7 for DR, 10 for AMD "
        "(default: %(default)s)",
    )
    scoring.add_argument(
        "--fps",
        type=positive_float,
        default=10.0,
        help="false positives per image of the reported sensitivity (default: %(default)s)",
    )
    scoring.add_argument(
        "--all-images",
        dest="referable_only",
        action="store_false",
        help="explain and score every image, not only those predicted referable (default: "
        "referable only, as in the paper)",
    )
    output = parser.add_argument_group("output")
    output.add_argument(
        "--out",
        type=Path,
        default=Path("out/evaluate"),
        help="report folder; maps are cached in <out>/cache (default: %(default)s)",
    )
    output.add_argument(
        "--no-progress", action="store_true", help="no progress bars (default: bars shown)"
    )
    parser.set_defaults(handler=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    if args.dataset is None:
        raise UsageError("evaluate needs --dataset NAME (a dataset with lesion masks)")
    check_combinations(args)
    device = resolve_device(args.device, None)
    dataset = open_dataset_option(args)
    classifier = load_classifier_option(args, device)
    config = config_of(
        args, device, radius_at_512=args.radius, fps=args.fps, referable_only=args.referable_only
    )
    check_writable(args.out)
    try:
        report = run_localization(
            dataset,
            classifier.model,
            classifier.threshold,
            args.out,
            config,
            size=classifier.size,
            enhance=classifier.enhance,
            classifier=classifier.record,
            dataset_name=args.dataset,
            progress=not args.no_progress,
        )
    except ValueError as error:
        raise UsageError(f"evaluate: {error}") from error
    print(format_tables(report, f"{args.dataset}: SE at {args.fps:g} FPs per image"))
    print(f"{PROG} evaluate: report under {args.out}")
    return 0

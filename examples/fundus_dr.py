"""Diabetic retinopathy end to end: classify, explain referable images, augment, score lesions.

With no arguments it runs on the embedded default: synthetic DR fundus images drawn by the
project's generator (with lesion masks) and the classifier shipped with the package (a compact
VGG trained on synthetic images, see docs/training.md). ``--quick`` (what ``make demo`` runs)
explains 8 images with guided backpropagation and Grad-CAM only, in under a minute on 2 CPU
cores; without it, 16 images and the five methods of the paper's Table I take about 16
minutes there (13 of them in integrated gradients). It

1. classifies every image and keeps those predicted referable (score >= th_pred);
2. explains them with the five attribution methods of the paper's Table I, each wrapped in
   IterativeAugmentation (Otsu, Navier-Stokes inpainting r=3, up to 20 maps, alpha=0.6);
3. scores the initial and augmented maps per lesion type with FROC (SE at 10 false positives
   per image, detection radius 7 px at 512 px) and prints the table;
4. writes the table (markdown, CSV), FROC curves, an overlay grid and a step-by-step figure of
   the loop to the output folder.

On real data (DiaretDB1, the paper's evaluation set), with the shipped 512 px classifier trained
on dr600 (``--checkpoint`` for another one):

    python examples/fundus_dr.py --dataset diaretdb1 --root /path/to/diaretdb1_v_1_1 --split test

Run ``python examples/fundus_dr.py --help`` for every option.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from captum_iterative.cli import (
    ArgumentParser,
    UsageError,
    alpha_value,
    usage_error,
)
from captum_iterative.experiments import (
    TABLE_I,
    ExperimentConfig,
    config_explainer,
    explanation_path,
    format_tables,
    gain_summary,
    load_explanation,
    prepare_images,
    run_localization,
)
from captum_iterative.fundus import (
    DiaretDB1,
    SyntheticFundusDataset,
    dataset_root,
    load_classifier,
    load_shipped_classifier,
)
from captum_iterative.inpaint import list_inpainters
from captum_iterative.viz import plot_iterations

#: The example's datasets.
DATASETS = ("synthetic", "diaretdb1")
#: The shipped classifier each dataset uses when no ``--checkpoint`` is given
#: (names of :data:`captum_iterative.fundus.SHIPPED_CHECKPOINTS`).
DEFAULT_CLASSIFIER = {"synthetic": "synthetic", "diaretdb1": "dr600"}
#: Seed of the example's synthetic images: disjoint from the seeds the checkpoint was trained on.
EXAMPLE_SEED = 2026
#: What ``--quick`` runs: few images, the two methods the paper contrasts (sharp guided
#: backpropagation, coarse Grad-CAM); every other option keeps its default.
QUICK = {"images": 8, "methods": "guided_backprop,grad_cam"}
#: The synthetic images of a run without ``--images``.
DEFAULT_IMAGES = 16
#: How long the full run takes (measured: docs/results.md, section 11).
FULL_RUN_DURATION = "about 16 minutes on 2 CPU cores"


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--dataset",
        choices=DATASETS,
        default="synthetic",
        help="synthetic images from the generator, or a DiaretDB1 copy (default: synthetic)",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help="DiaretDB1 folder (holding resources/); default: $DIARETDB1_ROOT",
    )
    parser.add_argument(
        "--split",
        choices=("all", "train", "test"),
        default="all",
        help="DiaretDB1 split (default: all 89 images)",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help=(
            "classifier checkpoint of captum_iterative.fundus.train (default: the shipped one "
            "for the dataset: the synthetic vgg_small, or for diaretdb1 the 512 px dr600 "
            "vgg_small, SHIPPED_CHECKPOINTS['dr600'])"
        ),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a one-minute run on the synthetic default: {QUICK['images']} images, methods "
        f"{QUICK['methods']} (what `make demo` runs; default: off, the full run of "
        f"{DEFAULT_IMAGES} images and Table I's five methods, {FULL_RUN_DURATION})",
    )
    parser.add_argument(
        "--methods",
        default=None,
        help=f"comma-separated attribution methods (default: {','.join(TABLE_I)}; "
        f"--quick: {QUICK['methods']})",
    )
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default: cpu)")
    parser.add_argument(
        "--images",
        type=int,
        default=None,
        help=f"number of images (default: {DEFAULT_IMAGES} synthetic, --quick "
        f"{QUICK['images']}; all of the DiaretDB1 split)",
    )
    parser.add_argument(
        "--max-iter", type=int, default=20, help="most maps per image (default: 20)"
    )
    parser.add_argument(
        "--alpha", type=alpha_value, default=0.6, help="map weight decay (default: 0.6)"
    )
    parser.add_argument(
        "--normalize-maps",
        action="store_true",
        help="divide each map by its maximum before summing (default: off, the paper's raw sum)",
    )
    parser.add_argument(
        "--inpainter",
        choices=list_inpainters(),
        default="ns",
        help="OpenCV Navier-Stokes (the paper's), Telea, or the torch pyramid (default: ns)",
    )
    parser.add_argument(
        "--ig-steps",
        type=int,
        default=16,
        help="integrated gradients steps (default: 16, to keep the CPU run short; 32+ on a GPU)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=4, help="images per loop call (default: 4)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("out/fundus_dr"),
        help="output folder (default: out/fundus_dr)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def load_dataset(args: argparse.Namespace, size: int):  # type: ignore[no-untyped-def]
    if args.dataset == "diaretdb1":
        try:
            root = dataset_root("diaretdb1", args.root)
        except ValueError as error:
            raise UsageError(str(error)) from error
        return DiaretDB1(root, split=args.split), "DiaretDB1 " + args.split
    n = args.images or DEFAULT_IMAGES
    # Grades cycle through 0-4 so the classifier has normal images to reject too.
    grades = [i % 5 for i in range(n)]
    return SyntheticFundusDataset(n, size=size, seed=EXAMPLE_SEED, grades=grades), "synthetic DR"


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.quick:
            if args.dataset != "synthetic":
                raise UsageError("--quick runs on the synthetic default only (not --dataset)")
            args.images = args.images or QUICK["images"]
            args.methods = args.methods or QUICK["methods"]
        run(args)
    except UsageError as error:
        parser.exit(usage_error(parser.prog, error))


def run(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    if args.checkpoint is None:
        shipped = DEFAULT_CLASSIFIER[args.dataset]
        model, info = load_shipped_classifier(shipped, map_location=args.device)
        source = f"shipped:{shipped}"
    else:
        model, info = load_classifier(args.checkpoint, map_location=args.device)
        source = str(args.checkpoint)
    dataset, name = load_dataset(args, info.input_size)
    methods = tuple(m.strip() for m in (args.methods or ",".join(TABLE_I)).split(",") if m.strip())
    config = ExperimentConfig(
        methods=methods,
        max_iter=args.max_iter,
        alpha=args.alpha,
        inpainter=args.inpainter,
        batch_size=args.batch_size,
        device=args.device,
        max_images=args.images,
        method_kwargs={"integrated_gradients": {"n_steps": args.ig_steps}},
        normalize_maps=args.normalize_maps,
    )
    print(
        f"classifier: {info.arch} at {info.input_size} px, th_pred = {info.th_pred:.4f} "
        f"(validation AUC {info.metrics.get('auc', float('nan')):.3f}); data: {name}"
    )
    enhance = bool(info.preprocessing.get("enhance", True))
    report = run_localization(
        dataset,
        model,
        info.th_pred,
        args.out,
        config,
        size=info.input_size,
        enhance=enhance,
        classifier={
            "arch": info.arch,
            "metrics": info.metrics,
            "checkpoint": source,
        },
        dataset_name=name,
        progress=not args.quiet,
    )
    print(
        f"\n{len(report.referable)} of {len(report.scores)} images predicted referable; "
        "mean maps per image: " + ", ".join(f"{m} {v:.1f}" for m, v in report.iterations.items())
    )
    print(format_tables(report))
    write_loop_figure(
        model, info.th_pred, dataset, report.referable, args, config, info.input_size, enhance
    )
    print("What the table shows (SE at 10 false positives per image, initial -> augmented):")
    for line in gain_summary(report):
        print(f"  {line}")
    print(
        "  Why augmentation helps some lesion types and not others, on these images and on "
        "DiaretDB1: docs/results.md."
    )
    print(f"Wrote {args.out}/:")
    for name, what in outputs(args.out, methods):
        print(f"  {name:<28} {what}")
    print(f"Total time: {time.perf_counter() - started:.0f} s")
    if args.quick:
        print(
            f"This was the quick run. The full one ({DEFAULT_IMAGES} images, the five methods of "
            f"Table I, {FULL_RUN_DURATION}): python examples/fundus_dr.py --out out/fundus_dr"
        )


def outputs(out: Path, methods: tuple[str, ...]) -> list[tuple[str, str]]:
    """What the run wrote under ``out``, with what each file or folder is for."""
    cache = out / "cache"
    megabytes = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) / 1e6
    return [
        ("table.md, table.csv", "SE at 10 FPs per image per lesion type and method"),
        ("froc_<lesion type>.png", "FROC curves (dashed: initial map; solid: augmented)"),
        (
            "overlays_<method>.png",
            "three images: initial map, augmented map, the later maps' share",
        ),
        ("loop_steps.png", "the loop step by step on one image (guided backpropagation)"),
        ("per_image.csv", "lesions and detections per image at the 10-FP operating point"),
        ("scores.json, settings.json", "classifier scores; the exact settings and versions"),
        (
            f"cache/ ({megabytes:.0f} MB)",
            f"the maps of each image and method ({', '.join(methods)}), reused by a rerun with "
            "the same settings; safe to delete",
        ),
    ]


def loop_figure_image(referable: list[str], cache: Path) -> str | None:
    """The referable image whose guided-backpropagation loop shows the most steps: the one with
    the most maps, among equals one the classifier called normal in the end (first in order
    after that); the first referable image when the method did not run."""
    if not referable or not explanation_path(cache, "guided_backprop", referable[0]).exists():
        return referable[0] if referable else None
    maps = {i: load_explanation(explanation_path(cache, "guided_backprop", i)) for i in referable}
    return max(referable, key=lambda i: (maps[i].iterations, maps[i].stop_reason == "normal"))


def write_loop_figure(model, threshold, dataset, referable, args, config, size, enhance) -> None:  # type: ignore[no-untyped-def]
    """The loop step by step, with guided backpropagation, on :func:`loop_figure_image`."""
    image_id = loop_figure_image(referable, args.out / "cache")
    if image_id is None:
        return
    index = list(dataset.ids).index(image_id)
    prepared = prepare_images([dataset[index]], size, enhance=enhance, progress=False)
    explainer, kwargs = config_explainer(
        config, "guided_backprop", model, threshold, keep_history=True
    )
    x = prepared[0].image[None].to(args.device)
    fov = torch.from_numpy(prepared[0].fov)[None, None].to(args.device)
    result = explainer.explain(x, valid=fov, **kwargs)
    fig = plot_iterations(result, prepared[0].image, max_columns=5, title=f"GBP on {image_id}")
    fig.savefig(args.out / "loop_steps.png", dpi=100)


if __name__ == "__main__":
    main()

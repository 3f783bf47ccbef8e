"""The options shared by the subcommands: classifier, dataset, loop; and their types."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from captum_iterative._argparse import (
    alpha_value,
    finite_float,
    key_value,
    positive_int,
)
from captum_iterative.experiments.config import ExperimentConfig
from captum_iterative.experiments.methods import TABLE_I, list_methods
from captum_iterative.fundus.datasets import list_datasets
from captum_iterative.inpaint import list_inpainters

__all__ = [
    "PROG",
    "add_classifier_options",
    "add_data_options",
    "add_loop_options",
    "config_of",
    "method_list",
]

#: Program name used in messages.
PROG = "captum-iterative"


def method_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected at least one method name")
    unknown = [name for name in names if name not in list_methods()]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(list_methods())}"
        )
    return list(dict.fromkeys(names))


def add_classifier_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "classifier",
        "Either a checkpoint written by captum_iterative.fundus.train (--checkpoint), or an "
        "architecture with a state dict and a threshold (--arch, --weights, --threshold). With "
        "neither, the checkpoint shipped with the package is used.",
    )
    group.add_argument(
        "--checkpoint",
        type=Path,
        help="classifier checkpoint of fundus.train (default: the shipped checkpoint)",
    )
    group.add_argument(
        "--arch",
        help="architecture of fundus.models.create_classifier (vgg16_paper, inception_v3, "
        "vgg_tiny or any timm name), with --weights and --threshold; with --checkpoint, the "
        "architecture the checkpoint must hold (default: none)",
    )
    group.add_argument(
        "--weights",
        type=Path,
        help="state dict (torch.save) of the --arch classifier or of its timm backbone "
        "(default: none)",
    )
    group.add_argument(
        "--threshold",
        type=finite_float,
        help="prediction threshold th_pred; images scoring below it are not explained "
        "(default: the checkpoint's th_pred)",
    )
    group.add_argument(
        "--size",
        type=positive_int,
        help="model input side S in pixels (default: the checkpoint's input size; 512 with --arch)",
    )
    group.add_argument(
        "--deterministic",
        action="store_true",
        help="ask PyTorch for deterministic kernels (torch.use_deterministic_algorithms, "
        "warn-only; cuDNN autotuning off; CUBLAS_WORKSPACE_CONFIG=:4096:8 unless set): CUDA "
        "kernels are otherwise free to add in any order, and the Otsu masks turn those "
        "rounding differences into different maps between runs (default: off; CPU runs repeat "
        "bit for bit without it under the same thread settings and kernels; it does not make "
        "results independent of the thread count or instruction set, see docs/cli.md)",
    )
    group.add_argument(
        "--device",
        default="auto",
        help="cpu, cuda, cuda:N, or auto: CUDA when available; under torchrun, cuda means "
        "cuda:LOCAL_RANK (default: %(default)s)",
    )


def add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("dataset")
    group.add_argument(
        "--dataset",
        help=f"a loader of fundus.datasets.get_dataset: {', '.join(list_datasets())} "
        "(default: none)",
    )
    group.add_argument(
        "--root",
        type=Path,
        help="the dataset's folder (default: $DIARETDB1_ROOT for diaretdb1, $APTOS_ROOT for "
        "aptos2019, $DR600_ROOT for dr600, else $<NAME>_ROOT)",
    )
    group.add_argument(
        "--dataset-option",
        action="append",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help="keyword argument of the dataset loader, e.g. split=test; repeatable; VALUE is "
        "read as JSON when it parses, else as a string (default: none)",
    )


def add_loop_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("method")
    group.add_argument(
        "--methods",
        type=method_list,
        default=["guided_backprop"],
        help=f"comma-separated Table I methods: {', '.join(TABLE_I)} (default: guided_backprop)",
    )
    group.add_argument(
        "--max-iter",
        type=positive_int,
        default=20,
        help="most maps per image, T (default: %(default)s)",
    )
    group.add_argument(
        "--alpha",
        type=alpha_value,
        default=0.6,
        help="map weights exp(-alpha t), t = 1, 2, ...; at most 87.3, beyond which even "
        "exp(-alpha) underflows float32 and every map would be zero (default: %(default)s)",
    )
    group.add_argument(
        "--inpainter",
        choices=list_inpainters(),
        default="ns",
        help="ns: OpenCV Navier-Stokes (the paper's), telea: OpenCV Telea, both radius 3 on "
        "the 8-bit image; pyramid: the torch push-pull inpainter (default: %(default)s)",
    )
    group.add_argument(
        "--fov",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="use the field of view as `valid`: Otsu thresholds, inpainting and the maps stay "
        "inside it (default: --fov)",
    )
    group.add_argument(
        "--batch-size",
        type=positive_int,
        default=1,
        help="images per loop call; with 1, an image's maps and scores do not depend on which "
        "process explains it or on the other images of the run (bit-identical under the same "
        "thread settings and CPU kernels, equal to rounding level across machines: "
        "docs/cli.md); larger batches are faster on a GPU but change the floats at rounding "
        "level with the batch's other images (default: %(default)s)",
    )


def config_of(args: argparse.Namespace, device: torch.device, **extra: Any) -> ExperimentConfig:
    """The :class:`ExperimentConfig` of the loop options shared by ``explain`` and ``evaluate``."""
    return ExperimentConfig(
        methods=tuple(args.methods),
        max_iter=args.max_iter,
        alpha=args.alpha,
        inpainter=args.inpainter,
        batch_size=args.batch_size,
        device=str(device),
        use_fov=args.fov,
        **extra,
    )

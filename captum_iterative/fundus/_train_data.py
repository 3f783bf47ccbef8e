"""The datasets of the training command line: grouped splits of synthetic, APTOS 2019 and DR600
images, and the graded datasets that can be added to a training set (``--extra-train``)."""

from __future__ import annotations

import argparse
import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset, Subset

from captum_iterative._argparse import UsageError
from captum_iterative.fundus.datasets import APTOS2019, DR600, dataset_root, grouped_split
from captum_iterative.fundus.synthetic import SyntheticFundusDataset

__all__ = ["EXTRA_TRAIN", "SPLITS", "TrainData", "dataset_root_option", "split_of"]


def dataset_root_option(name: str, root: str | None, **kwargs: Any) -> Path:
    """:func:`~captum_iterative.fundus.datasets.dataset_root`, its error as a usage error."""
    try:
        return dataset_root(name, root, **kwargs)
    except ValueError as error:
        raise UsageError(str(error)) from error


@dataclass(frozen=True)
class TrainData:
    """The command line's training and validation sets, and how they were split."""

    train: Dataset[Any]
    val: Dataset[Any]
    split: dict[str, Any]


def _synthetic_split(args: argparse.Namespace) -> TrainData:
    # Training images use even dataset seeds and validation images odd ones, so no run's
    # validation image is ever another run's training image. Training grades are balanced
    # (each grade as often); validation grades follow the generator's prevalence.
    size = args.image_size
    args.n_train = 800 if args.n_train is None else args.n_train
    args.n_val = 200 if args.n_val is None else args.n_val
    train = SyntheticFundusDataset(
        args.n_train, size=size, seed=2 * args.seed, mode="dr", grades="balanced"
    )
    val = SyntheticFundusDataset(args.n_val, size=size, seed=2 * args.seed + 1, mode="dr")
    split = {
        "by": "generator seed",
        "train_seed": 2 * args.seed,
        "val_seed": 2 * args.seed + 1,
        "n_train": args.n_train,
        "n_val": args.n_val,
    }
    return TrainData(train, val, split)


def _aptos_marks_conflicts(root: Path) -> bool:
    with open(Path(root) / "train.csv", newline="") as handle:
        return "duplicate_label_conflict" in next(csv.reader(handle), [])


def _open_aptos(root: Path, args: argparse.Namespace) -> APTOS2019:
    # A copy that marks duplicates whose copies disagree on the grade (the project's copy does)
    # loses those rows; the duplicate groups keep every copy of an image on one side.
    return APTOS2019(root, drop_conflicts=_aptos_marks_conflicts(root))


def _open_dr600(root: Path, args: argparse.Namespace) -> DR600:
    return DR600(root, aded=args.aded or "drop")


def _grouped(
    data: APTOS2019 | DR600, args: argparse.Namespace, unit: str, **options: Any
) -> TrainData:
    """``grouped_split`` of ``data`` by its groups; ``--n-train``/``--n-val`` cut each side."""
    train_idx, val_idx = grouped_split(data, val_fraction=args.val_fraction, seed=args.seed)
    train_idx, val_idx = train_idx[: args.n_train], val_idx[: args.n_val]
    split = {
        "by": unit,
        "val_fraction": args.val_fraction,
        "seed": args.seed,
        "n_train": len(train_idx),
        "n_val": len(val_idx),
        f"{unit}s_train": len({data.groups[i] for i in train_idx}),
        f"{unit}s_val": len({data.groups[i] for i in val_idx}),
        **options,
    }
    return TrainData(Subset(data, train_idx.tolist()), Subset(data, val_idx.tolist()), split)


def _aptos_split(args: argparse.Namespace) -> TrainData:
    root = dataset_root_option("aptos2019", args.root)
    data = _open_aptos(root, args)
    return _grouped(data, args, "duplicate_group", drop_conflicts=_aptos_marks_conflicts(root))


def _dr600_split(args: argparse.Namespace) -> TrainData:
    data = _open_dr600(dataset_root_option("dr600", args.root), args)
    return _grouped(data, args, "patient", aded=args.aded or "drop", drop_conflicts=True)


#: ``--dataset`` choices for training (and for ``--evaluate-classifier``, on their validation side).
SPLITS: dict[str, Callable[[argparse.Namespace], TrainData]] = {
    "synthetic": _synthetic_split,
    "aptos2019": _aptos_split,
    "dr600": _dr600_split,
}
#: ``--extra-train`` choices: graded datasets added whole to the training set.
EXTRA_TRAIN: dict[str, Callable[[Path, argparse.Namespace], APTOS2019 | DR600]] = {
    "aptos2019": _open_aptos,
    "dr600": _open_dr600,
}


def split_of(args: argparse.Namespace) -> TrainData:
    if args.dataset not in SPLITS:
        raise UsageError(f"unknown --dataset {args.dataset!r}; choose one of {sorted(SPLITS)}")
    return SPLITS[args.dataset](args)

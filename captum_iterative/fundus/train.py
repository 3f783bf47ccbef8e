r"""Train a grading classifier and choose its referable threshold by ROC analysis.

The paper's recipe (section 3 of the method notes): regression on the grade with MSE, Adam at
``lr = 1e-4``, data augmentation and class balancing; after each epoch the validation set is
scored, referable (grade ``>= referable_grade``) against non-referable, and the model with the
best validation AUC is kept together with ``th_pred``, the ROC operating point closest to the
upper-left corner ``(0, 1)``. Images predicted ``>= th_pred`` are the ones the iterative
augmentation explains.

Run ``python -m captum_iterative.fundus.train --help`` for the command line.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from kornia import augmentation as K
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset, WeightedRandomSampler
from tqdm.auto import tqdm

from captum_iterative._env import machine_info
from captum_iterative._files import atomic_path, load_torch_file
from captum_iterative.evaluation.metrics import (
    classification_report,
    roc_auc,
    roc_closest_to_corner,
    sensitivity_specificity,
)
from captum_iterative.fundus.datasets import APTOS2019, DiaretDB1, grouped_split
from captum_iterative.fundus.models import FundusClassifier, create_classifier
from captum_iterative.fundus.preprocess import FundusTransform
from captum_iterative.fundus.synthetic import SyntheticFundusDataset
from captum_iterative.fundus.types import FundusSample

__all__ = [
    "ClassifierInfo",
    "TrainResult",
    "balanced_sample_weights",
    "default_augmentation",
    "evaluate_classifier",
    "load_classifier",
    "load_default_classifier",
    "predict",
    "referable_metrics",
    "train_classifier",
]

#: Format tag written into every checkpoint.
CHECKPOINT_FORMAT = "captum_iterative.classifier/1"
#: The checkpoint shipped with the package (trained on synthetic DR images).
DEFAULT_CHECKPOINT = "synthetic_dr_vgg_tiny.pt"

SampleTransform = Callable[[FundusSample], FundusSample]


@dataclass(frozen=True)
class ClassifierInfo:
    """What a checkpoint says about its classifier.

    Attributes:
        arch: architecture name for :func:`~captum_iterative.fundus.models.create_classifier`.
        th_pred: referable threshold; an image is referable when its score is ``>= th_pred``.
        input_size: side ``S`` of the ``(N, 3, S, S)`` input the model was trained on.
        preprocessing: settings of the preprocessing applied to the training images.
        metrics: validation metrics of the saved epoch (``auc``, ``sensitivity``,
            ``specificity``, ``kappa``, ``th_pred``, ``val_loss``, ``train_loss``).
        epoch: the saved epoch (1-based).
        referable_grade: smallest referable grade.
        create_kwargs: keyword arguments of ``create_classifier`` (``num_outputs``, ...).
    """

    arch: str
    th_pred: float
    input_size: int
    preprocessing: dict[str, Any]
    metrics: dict[str, float]
    epoch: int
    referable_grade: int
    create_kwargs: dict[str, Any]


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train_classifier`.

    Attributes:
        checkpoint: the best model's checkpoint (highest validation AUC).
        last_checkpoint: the last epoch's checkpoint, with optimizer state, for ``resume``.
        best_epoch: epoch (1-based) of ``checkpoint``.
        th_pred: its referable threshold.
        metrics: its validation metrics.
        history: one dict of metrics per epoch, the resumed ones included.
        seconds: wall time of this call.
    """

    checkpoint: Path
    last_checkpoint: Path
    best_epoch: int
    th_pred: float
    metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def referable_metrics(
    scores: np.ndarray | Sequence[float],
    grades: np.ndarray | Sequence[int],
    referable_grade: int = 2,
    max_grade: int = 4,
) -> dict[str, float]:
    r"""ROC analysis of grade scores for referable vs non-referable.

    ``th_pred`` is the ROC point closest to ``(0, 1)``
    (:func:`~captum_iterative.evaluation.metrics.roc_closest_to_corner`); AUC, sensitivity,
    specificity at ``th_pred`` and the quadratic weighted kappa between the true grades and the
    rounded scores come from
    :func:`~captum_iterative.evaluation.metrics.classification_report`.

    Args:
        scores (np.ndarray): ``(N,)`` float model outputs.
        grades (np.ndarray): ``(N,)`` int true grades in ``[0, max_grade]``.
        referable_grade (int, optional): smallest referable grade. Default: 2
        max_grade (int, optional): highest grade (4 for ICDR DR, 3 for AMD). Default: 4

    Returns:
        dict[str, float]: ``auc``, ``th_pred``, ``sensitivity``, ``specificity``, ``kappa``.

    Raises:
        ValueError: lengths differ, scores are not finite, or the grades are all referable or
            all non-referable.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    g = np.asarray(grades).reshape(-1)
    point = roc_closest_to_corner(g >= referable_grade, s)
    report = classification_report(g, s, point.threshold, referable_grade, max_grade=max_grade)
    return {
        "auc": float(report["auc"]),
        "th_pred": point.threshold,
        "sensitivity": float(report["sensitivity"]),
        "specificity": float(report["specificity"]),
        "kappa": float(report["kappa"]),
    }


def balanced_sample_weights(grades: np.ndarray | Sequence[int]) -> Tensor:
    """Per-sample weights that make every grade equally likely under sampling.

    Args:
        grades (np.ndarray): ``(N,)`` int grades.

    Returns:
        Tensor: ``float64`` ``(N,)``; sample ``i`` weighs ``1 / count(grades == grades[i])``.
    """
    g = np.asarray(grades).reshape(-1)
    if g.size == 0:
        raise ValueError("`grades` is empty")
    _, inverse, counts = np.unique(g, return_inverse=True, return_counts=True)
    return torch.from_numpy(1.0 / counts[inverse].astype(np.float64))


def default_augmentation() -> nn.Module:
    """The training augmentation, on ``(N, 3, S, S)`` tensors in ``[0, 1]``.

    Random horizontal and vertical flips, a rotation by any angle (border pixels replicated,
    which keeps Graham's grey background grey) and brightness/contrast jitter of +-10 %.
    Output has the input's shape and stays in ``[0, 1]``.

    Returns:
        nn.Module: a :class:`kornia.augmentation.AugmentationSequential`.
    """
    return K.AugmentationSequential(
        K.RandomHorizontalFlip(),
        K.RandomVerticalFlip(),
        K.RandomAffine(degrees=180.0, padding_mode="border", p=1.0),
        K.ColorJitter(brightness=0.1, contrast=0.1, p=1.0),
    )


def _grade(sample: FundusSample) -> int:
    if sample.grade is None:
        raise ValueError(f"sample {sample.id!r} has no grade; training needs graded images")
    return int(sample.grade)


class _Referable:
    """Image-level label: ``grade >= referable_grade``, or any lesion when there is no grade."""

    def __init__(self, referable_grade: int) -> None:
        self.referable_grade = referable_grade

    def __call__(self, sample: FundusSample) -> int:
        if sample.grade is not None:
            return int(sample.grade >= self.referable_grade)
        if not sample.masks:
            raise ValueError(f"sample {sample.id!r} has neither a grade nor lesion masks")
        return int(any(bool(mask.any()) for mask in sample.masks.values()))


class _Prepared(Dataset[tuple[Tensor, int]]):
    """One sample as a ``uint8`` ``(3, S, S)`` tensor and its target.

    The target is taken before ``transform``, so lesion labels come from the masks at their
    native resolution (a small lesion may vanish when a mask is resized).
    """

    def __init__(
        self,
        dataset: Dataset[FundusSample],
        transform: SampleTransform | None,
        size: int,
        target: Callable[[FundusSample], int] = _grade,
    ) -> None:
        self.dataset = dataset
        self.transform = transform
        self.size = size
        self.target = target

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        sample = self.dataset[index]
        target = self.target(sample)
        if self.transform is not None:
            sample = self.transform(sample)
        image = sample.image
        if image.dtype != np.uint8 or image.shape != (self.size, self.size, 3):
            raise ValueError(
                f"sample {sample.id!r}: expected a uint8 ({self.size}, {self.size}, 3) image "
                f"after preprocessing, got {image.dtype} {image.shape}; pass a `transform` "
                "that resizes to `input_size`"
            )
        return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))), target


def _first(batch: list[tuple[Tensor, int]]) -> tuple[Tensor, int]:
    return batch[0]


def _load_in_memory(
    dataset: Dataset[FundusSample],
    transform: SampleTransform | None,
    size: int,
    workers: int,
    desc: str,
    progress: bool,
    target: Callable[[FundusSample], int] = _grade,
) -> TensorDataset:
    """Preprocess every sample once: ``uint8`` ``(N, 3, S, S)`` images and ``(N,)`` targets."""
    prepared = _Prepared(dataset, transform, size, target)
    if len(prepared) == 0:
        raise ValueError(f"the {desc} dataset is empty")
    loader = DataLoader(prepared, batch_size=1, num_workers=workers, collate_fn=_first)
    images = torch.empty((len(prepared), 3, size, size), dtype=torch.uint8)
    grades = torch.empty(len(prepared), dtype=torch.int64)
    for i, (image, grade) in enumerate(tqdm(loader, desc=desc, disable=not progress)):
        images[i] = image
        grades[i] = grade
    return TensorDataset(images, grades)


def predict(
    model: nn.Module,
    images: Tensor | TensorDataset,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Score images with ``model`` in evaluation mode (first output node).

    Args:
        model (nn.Module): a classifier taking ``[0, 1]`` images.
        images (Tensor or TensorDataset): ``uint8`` ``(N, 3, S, S)`` images, or a dataset
            whose first tensor they are.
        batch_size (int, optional): images per forward pass. Default: 16
        device (str or torch.device, optional): where to compute. Default: ``"cpu"``

    Returns:
        np.ndarray: ``float64`` ``(N,)`` scores.
    """
    data = images.tensors[0] if isinstance(images, TensorDataset) else images
    if data.dtype != torch.uint8 or data.dim() != 4 or data.shape[1] != 3:
        raise ValueError(
            f"`images` must be uint8 (N, 3, S, S), got {data.dtype} {tuple(data.shape)}"
        )
    was_training = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, data.shape[0], batch_size):
            x = data[start : start + batch_size].to(device).float() / 255.0
            out.append(model(x)[:, 0].double().cpu())
    model.train(was_training)
    return torch.cat(out).numpy()


def _save_atomic(obj: Mapping[str, Any], path: Path) -> None:
    """``torch.save`` to a temporary file in ``path``'s folder, then rename over ``path``."""
    with atomic_path(path) as tmp:
        torch.save(dict(obj), tmp)


def _read_checkpoint(path: str | os.PathLike[str], map_location: Any) -> dict[str, Any]:
    ckpt = load_torch_file(path, map_location=map_location)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a captum_iterative classifier checkpoint")
    return ckpt


def _last_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}.last{out.suffix}")


def _cpu_state(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def train_classifier(
    train_ds: Dataset[FundusSample],
    val_ds: Dataset[FundusSample],
    arch: str,
    *,
    epochs: int,
    batch_size: int,
    lr: float = 1e-4,
    input_size: int = 512,
    augment: bool = True,
    balance: bool = True,
    referable_grade: int = 2,
    max_grade: int = 4,
    device: str | torch.device = "cpu",
    out: str | os.PathLike[str] = "classifier.pt",
    resume: bool = False,
    seed: int = 0,
    workers: int = 0,
    transform: SampleTransform | None = None,
    preprocessing: Mapping[str, Any] | None = None,
    create_kwargs: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> TrainResult:
    r"""Train ``arch`` to regress the grade and keep the epoch with the best validation AUC.

    Both datasets are preprocessed once and held in memory as ``uint8`` (``N * 3 * S * S``
    bytes each). Each epoch draws ``len(train_ds)`` samples (with replacement and
    inverse-grade-frequency weights when ``balance``), augments them on ``device`` and takes Adam
    steps on the MSE between the first output and the grade; then the validation set is scored
    (:func:`referable_metrics`). Every epoch writes the last state to
    ``<out stem>.last<suffix>`` and, when the AUC improves, the model to ``out``; both writes
    are atomic. Randomness is seeded per epoch from ``seed``, so a resumed run on CPU continues
    exactly as an uninterrupted one would.

    Args:
        train_ds (Dataset[FundusSample]): graded training images.
        val_ds (Dataset[FundusSample]): graded validation images with both referable and
            non-referable ones.
        arch (str): architecture for :func:`~captum_iterative.fundus.models.create_classifier`.
        epochs (int): total number of epochs (including those of a resumed run).
        batch_size (int): images per step.
        lr (float, optional): Adam learning rate. Default: 1e-4
        input_size (int, optional): side ``S`` of the model input. Default: 512
        augment (bool, optional): apply :func:`default_augmentation`. Default: ``True``
        balance (bool, optional): sample grades equally often (:func:`balanced_sample_weights`).
            Default: ``True``
        referable_grade (int, optional): smallest referable grade. Default: 2
        max_grade (int, optional): highest grade, for kappa. Default: 4
        device (str or torch.device, optional): training device. Default: ``"cpu"``
        out (path, optional): best checkpoint file. Default: ``"classifier.pt"``
        resume (bool, optional): continue from ``<out stem>.last<suffix>``. Default: ``False``
        seed (int, optional): seed of initialisation, sampling, augmentation and dropout.
            Default: 0
        workers (int, optional): processes that preprocess the datasets. Default: 0
        transform (callable, optional): ``FundusSample -> FundusSample`` applied to every
            sample before training (e.g. the fundus preprocessing at ``input_size``); its output
            images must be ``uint8`` ``(S, S, 3)``. ``None`` means the images already are.
            Default: ``None``
        preprocessing (mapping, optional): settings of ``transform`` to record in the
            checkpoint. Default: ``None``
        create_kwargs (mapping, optional): extra keyword arguments of ``create_classifier``.
            Default: ``None``
        progress (bool, optional): show tqdm progress bars. Default: ``True``

    Returns:
        TrainResult: checkpoints, best epoch, its ``th_pred`` and metrics, and the history.

    Raises:
        ValueError: a bad argument, an empty dataset, wrongly sized images or a validation set
            without both classes.
        FileNotFoundError: ``resume=True`` without a last checkpoint.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("input_size", input_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be a positive int, got {value!r}")
    if not lr > 0:
        raise ValueError(f"`lr` must be positive, got {lr!r}")
    started = time.perf_counter()
    out_path = Path(out)
    last_path = _last_path(out_path)
    device = torch.device(device)
    kwargs = {"num_outputs": 1, **(create_kwargs or {})}

    train_data = _load_in_memory(
        train_ds, transform, input_size, workers, "prepare train", progress
    )
    val_data = _load_in_memory(val_ds, transform, input_size, workers, "prepare val", progress)
    val_grades = val_data.tensors[1].numpy()
    referable = val_grades >= referable_grade
    if referable.all() or not referable.any():
        raise ValueError("`val_ds` must contain both referable and non-referable images")

    torch.manual_seed(seed)
    model = create_classifier(arch, **kwargs).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history: list[dict[str, float]] = []
    best: dict[str, Any] = {"auc": -math.inf, "epoch": 0, "metrics": {}}
    start_epoch = 1
    if resume:
        if not last_path.is_file():
            raise FileNotFoundError(f"resume=True but there is no checkpoint at {last_path}")
        state = _read_checkpoint(last_path, map_location="cpu")
        if state["arch"] != arch:
            raise ValueError(
                f"cannot resume: {last_path} holds a '{state['arch']}' model, `arch` is '{arch}'"
            )
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        history = list(state["history"])
        best = dict(state["best"])
        start_epoch = int(state["epoch"]) + 1

    preprocessing = dict(preprocessing or {})
    augmentation = default_augmentation().to(device) if augment else None
    train_grades = train_data.tensors[1]
    weights = balanced_sample_weights(train_grades.numpy()) if balance else None
    loss_fn = nn.MSELoss()

    for epoch in range(start_epoch, epochs + 1):
        epoch_seed = seed * 100_003 + epoch
        torch.manual_seed(epoch_seed)
        generator = torch.Generator().manual_seed(epoch_seed)
        sampler = (
            WeightedRandomSampler(
                weights.tolist(), len(train_data), replacement=True, generator=generator
            )
            if weights is not None
            else None
        )
        loader = DataLoader(
            train_data,
            batch_size=batch_size,
            sampler=sampler,
            shuffle=sampler is None,
            generator=generator if sampler is None else None,
            drop_last=len(train_data) > batch_size,
        )
        model.train()
        total, seen = 0.0, 0
        bar = tqdm(loader, desc=f"epoch {epoch}/{epochs}", disable=not progress, leave=False)
        for images, grades in bar:
            x = images.to(device).float() / 255.0
            if augmentation is not None:
                x = augmentation(x)
            y = grades.to(device).float()
            loss = loss_fn(model(x)[:, 0], y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(y)
            seen += len(y)
            bar.set_postfix(loss=f"{total / seen:.4f}")

        scores = predict(model, val_data, batch_size=batch_size, device=device)
        metrics = referable_metrics(scores, val_grades, referable_grade, max_grade)
        metrics["val_loss"] = float(np.mean((scores - val_grades) ** 2))
        metrics["train_loss"] = total / max(seen, 1)
        metrics["epoch"] = float(epoch)
        history.append(metrics)
        if progress:
            tqdm.write(
                f"epoch {epoch}: train_loss {metrics['train_loss']:.4f} "
                f"val_loss {metrics['val_loss']:.4f} auc {metrics['auc']:.4f} "
                f"se {metrics['sensitivity']:.3f} sp {metrics['specificity']:.3f} "
                f"kappa {metrics['kappa']:.3f} th_pred {metrics['th_pred']:.3f}"
            )
        record = {
            "format": CHECKPOINT_FORMAT,
            "arch": arch,
            "create_kwargs": kwargs,
            "state_dict": _cpu_state(model),
            "th_pred": metrics["th_pred"],
            "input_size": input_size,
            "preprocessing": preprocessing,
            "metrics": metrics,
            "epoch": epoch,
            "referable_grade": referable_grade,
        }
        if metrics["auc"] > best["auc"]:
            best = {"auc": metrics["auc"], "epoch": epoch, "metrics": metrics}
            _save_atomic(record, out_path)
        _save_atomic(
            {
                **record,
                "optimizer": optimizer.state_dict(),
                "history": history,
                "best": best,
                "train_config": {
                    "lr": lr,
                    "batch_size": batch_size,
                    "seed": seed,
                    "epochs": epochs,
                },
            },
            last_path,
        )

    if not out_path.is_file():
        raise FileNotFoundError(f"no best checkpoint at {out_path}; nothing was trained")
    return TrainResult(
        checkpoint=out_path,
        last_checkpoint=last_path,
        best_epoch=int(best["epoch"]),
        th_pred=float(best["metrics"]["th_pred"]),
        metrics=dict(best["metrics"]),
        history=history,
        seconds=time.perf_counter() - started,
    )


def load_classifier(
    path: str | os.PathLike[str],
    map_location: str | torch.device = "cpu",
    arch: str | None = None,
) -> tuple[FundusClassifier, ClassifierInfo]:
    """Restore a classifier saved by :func:`train_classifier`.

    Args:
        path (path): checkpoint file.
        map_location (str or torch.device, optional): device of the returned model.
            Default: ``"cpu"``
        arch (str, optional): expected architecture; a checkpoint of another one raises.
            Default: ``None`` (accept any)

    Returns:
        tuple[FundusClassifier, ClassifierInfo]: the model in evaluation mode and its info.

    Raises:
        ValueError: not a classifier checkpoint, or its architecture is not ``arch``.
    """
    ckpt = _read_checkpoint(path, map_location=map_location)
    if arch is not None and ckpt["arch"] != arch:
        raise ValueError(f"{path} holds a '{ckpt['arch']}' model, not the requested '{arch}'")
    model = create_classifier(ckpt["arch"], **ckpt["create_kwargs"])
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as err:
        raise ValueError(
            f"{path}: weights do not fit architecture '{ckpt['arch']}': {err}"
        ) from err
    model.to(map_location).eval()
    info = ClassifierInfo(
        arch=ckpt["arch"],
        th_pred=float(ckpt["th_pred"]),
        input_size=int(ckpt["input_size"]),
        preprocessing=dict(ckpt["preprocessing"]),
        metrics=dict(ckpt["metrics"]),
        epoch=int(ckpt["epoch"]),
        referable_grade=int(ckpt["referable_grade"]),
        create_kwargs=dict(ckpt["create_kwargs"]),
    )
    return model, info


def load_default_classifier(
    map_location: str | torch.device = "cpu",
) -> tuple[FundusClassifier, ClassifierInfo]:
    """The shipped ``vgg_tiny`` trained on synthetic DR images (see ``docs/training.md``).

    Args:
        map_location (str or torch.device, optional): device of the model. Default: ``"cpu"``

    Returns:
        tuple[FundusClassifier, ClassifierInfo]: as :func:`load_classifier`.
    """
    ref = resources.files("captum_iterative") / "checkpoints" / DEFAULT_CHECKPOINT
    with resources.as_file(ref) as path:
        return load_classifier(path, map_location=map_location)


def evaluate_classifier(
    model: nn.Module,
    info: ClassifierInfo,
    dataset: Dataset[FundusSample],
    *,
    transform: SampleTransform | None = None,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
    workers: int = 0,
    progress: bool = True,
) -> dict[str, float]:
    """Score a dataset with a trained classifier at its own ``th_pred``.

    An image is positive when its grade is ``>= info.referable_grade`` or, for datasets without
    grades (e.g. DiaretDB1), when any of its lesion masks is non-empty before ``transform``
    (at the annotation's resolution).

    Args:
        model (nn.Module): the classifier (e.g. from :func:`load_classifier`).
        info (ClassifierInfo): its checkpoint information (``th_pred``, ``input_size``).
        dataset (Dataset[FundusSample]): images with grades or lesion masks.
        transform (callable, optional): ``FundusSample -> FundusSample`` preprocessing to
            ``info.input_size`` (as used in training). Default: ``None`` (already done)
        batch_size (int, optional): images per forward pass. Default: 16
        device (str or torch.device, optional): where to compute. Default: ``"cpu"``
        workers (int, optional): processes that preprocess the images. Default: 0
        progress (bool, optional): show a progress bar. Default: ``True``

    Returns:
        dict[str, float]: ``n_images``, ``n_positive``, ``n_predicted_positive``, ``auc``,
        ``th_pred``, ``sensitivity`` and ``specificity`` at ``th_pred``, and ``best_threshold``
        with ``best_sensitivity``/``best_specificity``: this set's own ROC point closest to
        ``(0, 1)``, for reference.
    """
    data = _load_in_memory(
        dataset,
        transform,
        info.input_size,
        workers,
        "prepare",
        progress,
        target=_Referable(info.referable_grade),
    )
    labels = data.tensors[1].numpy().astype(bool)
    scores = predict(model, data, batch_size=batch_size, device=device)
    sensitivity, specificity = sensitivity_specificity(labels, scores, info.th_pred)
    best = roc_closest_to_corner(labels, scores)
    return {
        "n_images": int(labels.size),
        "n_positive": int(labels.sum()),
        "n_predicted_positive": int((scores >= info.th_pred).sum()),
        "auc": roc_auc(labels, scores),
        "th_pred": info.th_pred,
        "sensitivity": sensitivity,
        "specificity": specificity,
        "best_threshold": best.threshold,
        "best_sensitivity": best.sensitivity,
        "best_specificity": best.specificity,
    }


def _synthetic_split(args: argparse.Namespace) -> tuple[Dataset[Any], Dataset[Any]]:
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
    return train, val


def _aptos_split(args: argparse.Namespace) -> tuple[Dataset[Any], Dataset[Any]]:
    root = args.root or os.environ.get("APTOS_ROOT")
    if not root:
        raise SystemExit("--data aptos2019 needs --root or the APTOS_ROOT environment variable")
    # A copy that marks duplicates whose copies disagree on the grade (the project's copy does)
    # loses those rows; the duplicate groups keep every copy of an image on one side.
    with open(Path(root) / "train.csv", newline="") as handle:
        header = next(csv.reader(handle), [])
    data = APTOS2019(root, drop_conflicts="duplicate_label_conflict" in header)
    train_idx, val_idx = grouped_split(data, val_fraction=args.val_fraction, seed=args.seed)
    return (
        Subset(data, train_idx[: args.n_train].tolist()),
        Subset(data, val_idx[: args.n_val].tolist()),
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m captum_iterative.fundus.train",
        description="Train a grading classifier (MSE on the grade), pick th_pred by ROC on the "
        "validation set, keep the epoch with the best validation AUC; or, with --evaluate, "
        "score a trained checkpoint on a dataset.",
    )
    parser.add_argument("--data", default="synthetic", help="synthetic | aptos2019 | diaretdb1")
    parser.add_argument("--root", help="dataset folder (default: $APTOS_ROOT / $DIARETDB1_ROOT)")
    parser.add_argument("--arch", default="vgg_tiny", help="classifier name (default: vgg_tiny)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--input-size", type=int, default=512, help="model input side S")
    parser.add_argument(
        "--image-size", type=int, default=512, help="side of generated synthetic images"
    )
    parser.add_argument(
        "--n-train", type=int, default=None, help="training images (synthetic: default 800)"
    )
    parser.add_argument(
        "--n-val", type=int, default=None, help="validation images (synthetic: default 200)"
    )
    parser.add_argument("--val-fraction", type=float, default=0.2, help="aptos2019 split")
    parser.add_argument("--out", default="runs/classifier.pt", help="best checkpoint file")
    parser.add_argument("--summary", help="write a JSON summary (metrics, command, time) here")
    parser.add_argument("--resume", action="store_true", help="continue from <out>.last")
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument("--no-balance", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0, help="preprocessing processes")
    parser.add_argument("--evaluate", metavar="CHECKPOINT", help="only evaluate this checkpoint")
    return parser


def _evaluate_main(args: argparse.Namespace) -> dict[str, Any]:
    model, info = load_classifier(args.evaluate, map_location=args.device)
    if args.data == "diaretdb1":
        root = args.root or os.environ.get("DIARETDB1_ROOT")
        if not root:
            raise SystemExit("--data diaretdb1 needs --root or $DIARETDB1_ROOT")
        dataset: Dataset[Any] = DiaretDB1(root)
    elif args.data == "aptos2019":
        dataset = _aptos_split(args)[1]
    elif args.data == "synthetic":
        dataset = _synthetic_split(args)[1]
    else:
        raise SystemExit(f"unknown --data {args.data!r}")
    metrics = evaluate_classifier(
        model,
        info,
        dataset,
        transform=FundusTransform(info.input_size),
        batch_size=args.batch_size,
        device=args.device,
        workers=args.workers,
    )
    return {"checkpoint": str(args.evaluate), "data": args.data, "metrics": metrics}


def _train_main(args: argparse.Namespace) -> dict[str, Any]:
    if args.data == "synthetic":
        train_ds, val_ds = _synthetic_split(args)
    elif args.data == "aptos2019":
        train_ds, val_ds = _aptos_split(args)
    else:
        raise SystemExit(f"cannot train on --data {args.data!r}; use synthetic or aptos2019")
    transform = FundusTransform(args.input_size)
    result = train_classifier(
        train_ds,
        val_ds,
        args.arch,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        input_size=args.input_size,
        augment=not args.no_augment,
        balance=not args.no_balance,
        device=args.device,
        out=args.out,
        resume=args.resume,
        seed=args.seed,
        workers=args.workers,
        transform=transform,
        preprocessing={
            "transform": "FundusTransform",
            "size": transform.size,
            "enhance": transform.enhance,
            "square": transform.square,
        },
    )
    return {
        "checkpoint": str(result.checkpoint),
        "arch": args.arch,
        "data": args.data,
        "n_train": len(train_ds),  # type: ignore[arg-type]
        "n_val": len(val_ds),  # type: ignore[arg-type]
        "best_epoch": result.best_epoch,
        "th_pred": result.th_pred,
        "metrics": result.metrics,
        "history": result.history,
        "seconds": round(result.seconds, 1),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command-line entry point; returns the summary it prints as JSON."""
    args = _parser().parse_args(argv)
    started = time.perf_counter()
    summary = _evaluate_main(args) if args.evaluate else _train_main(args)
    summary["command"] = "python -m captum_iterative.fundus.train " + " ".join(
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


if __name__ == "__main__":
    main()

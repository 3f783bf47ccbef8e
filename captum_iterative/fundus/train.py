r"""Train a grading classifier and choose its referable threshold by ROC analysis.

The paper's recipe (González-Gonzalo et al., IEEE TMI 2020): regression on the grade with MSE,
Adam at ``lr = 1e-4``, data augmentation and class balancing; after each epoch the validation
set is scored, referable (grade ``>= referable_grade``) against non-referable, and the model with
the best validation AUC is kept together with ``th_pred``, the ROC operating point closest to
the upper-left corner ``(0, 1)``. Images predicted ``>= th_pred`` are the ones the iterative
augmentation explains.

A run starts from random weights or from :class:`InitWeights`: a project checkpoint (e.g. the
224 px APTOS ``vgg_small``, fine-tuned at another input size) or an ImageNet state dict of the
timm backbone (by name, or by parameter order). The source file and its SHA-256 are recorded
in the checkpoints.

Checkpoints live in :mod:`~captum_iterative.fundus.checkpoint`, starting weights in
:mod:`~captum_iterative.fundus.init_weights`, classifier evaluation in
:mod:`~captum_iterative.fundus.classifier_eval` and the command line in
:mod:`~captum_iterative.fundus._train_cli`. Run ``python -m captum_iterative.fundus.train --help``
for the command line.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from kornia import augmentation as K
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, TensorDataset, WeightedRandomSampler
from tqdm.auto import tqdm

from captum_iterative.fundus._in_memory import load_in_memory
from captum_iterative.fundus._train_config import TrainConfig
from captum_iterative.fundus.checkpoint import CHECKPOINT_FORMAT, read_checkpoint, save_checkpoint
from captum_iterative.fundus.classifier_eval import predict, referable_metrics
from captum_iterative.fundus.losses import get_grade_loss
from captum_iterative.fundus.models import create_classifier
from captum_iterative.fundus.types import FundusSample

__all__ = [
    "TrainConfig",
    "TrainResult",
    "balanced_sample_weights",
    "default_data_augmentation",
    "train_classifier",
]


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


def default_data_augmentation() -> nn.Module:
    """The training data augmentation, on ``(N, 3, S, S)`` tensors in ``[0, 1]``.

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


def _cpu_state(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


@dataclass
class _Run:
    """A run's model and optimizer on the device, and its record of the epochs so far."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    init: dict[str, Any] | None
    history: list[dict[str, float]] = field(default_factory=list)
    best: dict[str, Any] = field(
        default_factory=lambda: {"auc": -math.inf, "epoch": 0, "metrics": {}}
    )
    start_epoch: int = 1


def train_classifier(
    train_ds: Dataset[FundusSample], val_ds: Dataset[FundusSample], config: TrainConfig
) -> TrainResult:
    r"""Train ``config.arch`` to regress the grade and keep the epoch with the best validation AUC.

    Both datasets are preprocessed once and held in memory as ``uint8`` (``N * 3 * S * S``
    bytes each). Each epoch draws ``len(train_ds)`` samples (with replacement and
    inverse-grade-frequency weights when ``balance``), applies the data augmentation on ``device``
    (:func:`default_data_augmentation`) and takes Adam
    steps on the MSE between the first output and the grade; then the validation set is scored
    (:func:`referable_metrics`). Every epoch writes the last state to
    ``<out stem>.last<suffix>`` and, when the AUC improves, the model to ``out``; both writes
    are atomic. Randomness is seeded per epoch from ``seed``, so a resumed run on CPU continues
    exactly as an uninterrupted one would.

    Args:
        train_ds (Dataset[FundusSample]): graded training images.
        val_ds (Dataset[FundusSample]): graded validation images with both referable and
            non-referable ones.
        config (TrainConfig): the model, data, optimisation and output settings.

    Returns:
        TrainResult: checkpoints, best epoch, its ``th_pred`` and metrics, and the history.

    Raises:
        ValueError: an unknown loss, an empty dataset, wrongly sized images, a validation set
            without both classes, ``init`` weights that do not fit, or (with ``resume``) an
            ``init`` other than the run's.
        FileNotFoundError: ``resume=True`` without a last checkpoint.

    Examples::

        >>> from captum_iterative.fundus.preprocess import FundusTransform
        >>> config = TrainConfig(arch="vgg_tiny", epochs=10, batch_size=16, input_size=512,
        ...                      transform=FundusTransform(512), out="runs/m.pt")
        >>> result = train_classifier(train_ds, val_ds, config)  # doctest: +SKIP
    """
    loss_fn = get_grade_loss(config.loss, config.max_grade)
    started = time.perf_counter()
    # The model first: weights that do not fit fail before the data are preprocessed.
    run = _start_run(config)
    train_data, val_data = _load_data(train_ds, val_ds, config)
    device = torch.device(config.device)
    data_augmentation = default_data_augmentation().to(device) if config.data_augmentation else None
    train_grades = train_data.tensors[1]
    weights = balanced_sample_weights(train_grades.numpy()) if config.balance else None
    for epoch in range(run.start_epoch, config.epochs + 1):
        loader = _epoch_loader(train_data, weights, config=config, epoch=epoch)
        train_loss = _train_epoch(
            run,
            loader,
            data_augmentation=data_augmentation,
            loss_fn=loss_fn,
            config=config,
            epoch=epoch,
        )
        metrics = _validate(run.model, val_data, loss_fn=loss_fn, config=config)
        metrics["train_loss"] = train_loss
        metrics["epoch"] = float(epoch)
        _end_epoch(run, metrics, config=config, epoch=epoch)
    if not config.out_path.is_file():
        raise FileNotFoundError(f"no best checkpoint at {config.out_path}; nothing was trained")
    return TrainResult(
        checkpoint=config.out_path,
        last_checkpoint=config.last_path,
        best_epoch=int(run.best["epoch"]),
        th_pred=float(run.best["metrics"]["th_pred"]),
        metrics=dict(run.best["metrics"]),
        history=run.history,
        seconds=time.perf_counter() - started,
        init=run.init,
    )


def _resumed_state(config: TrainConfig, wanted: dict[str, Any] | None) -> dict[str, Any]:
    """The last checkpoint of the run that ``config`` resumes, checked against ``config`` and
    against ``wanted``, the record of ``config.init``."""
    last_path = config.last_path
    if not last_path.is_file():
        raise FileNotFoundError(f"resume=True but there is no checkpoint at {last_path}")
    state = read_checkpoint(last_path, map_location="cpu")
    if state["arch"] != config.arch:
        raise ValueError(
            f"cannot resume: {last_path} holds a '{state['arch']}' model, `arch` is '{config.arch}'"
        )
    started_from = state.get("init")
    if wanted is not None and (started_from is None or started_from["sha256"] != wanted["sha256"]):
        raise ValueError(
            f"cannot resume: the run in {last_path} started from "
            f"{started_from['path'] if started_from else 'random weights'}, "
            f"`init` is {wanted['path']}"
        )
    return state


def _start_run(config: TrainConfig) -> _Run:
    """The model (from ``seed``, ``init`` or the resumed run) and its optimizer, on the device."""
    torch.manual_seed(config.seed)
    init_record = config.init.describe() if config.init is not None else None
    state = _resumed_state(config, init_record) if config.resume else None
    kwargs = config.model_kwargs()
    device = torch.device(config.device)
    if config.init is not None and state is None:
        model = config.init.build(config.arch, kwargs).to(device)
    else:
        model = create_classifier(config.arch, **kwargs).to(device)
    model = model.to(memory_format=config.memory_format)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    if state is None:
        return _Run(model, optimizer, init_record)
    model.load_state_dict(state["state_dict"])
    optimizer.load_state_dict(state["optimizer"])
    return _Run(
        model,
        optimizer,
        state.get("init"),
        history=list(state["history"]),
        best=dict(state["best"]),
        start_epoch=int(state["epoch"]) + 1,
    )


def _load_data(
    train_ds: Dataset[FundusSample], val_ds: Dataset[FundusSample], config: TrainConfig
) -> tuple[TensorDataset, TensorDataset]:
    """Both datasets preprocessed in memory; the validation set must hold both classes."""
    train_data, val_data = (
        load_in_memory(
            dataset,
            config.transform,
            size=config.input_size,
            workers=config.workers,
            desc=f"prepare {name}",
            progress=config.progress,
        )
        for dataset, name in ((train_ds, "train"), (val_ds, "val"))
    )
    referable = val_data.tensors[1].numpy() >= config.referable_grade
    if referable.all() or not referable.any():
        raise ValueError("`val_ds` must contain both referable and non-referable images")
    return train_data, val_data


def _epoch_loader(
    train_data: TensorDataset, weights: Tensor | None, *, config: TrainConfig, epoch: int
) -> DataLoader[tuple[Tensor, ...]]:
    """The epoch's batches, drawn from a seed of ``config.seed`` and ``epoch``; seeds torch too."""
    epoch_seed = config.seed * 100_003 + epoch
    torch.manual_seed(epoch_seed)
    generator = torch.Generator().manual_seed(epoch_seed)
    sampler = (
        WeightedRandomSampler(
            weights.tolist(), len(train_data), replacement=True, generator=generator
        )
        if weights is not None
        else None
    )
    return DataLoader(
        train_data,
        batch_size=config.batch_size,
        sampler=sampler,
        shuffle=sampler is None,
        generator=generator if sampler is None else None,
        drop_last=len(train_data) > config.batch_size,
    )


def _train_epoch(
    run: _Run,
    loader: DataLoader[tuple[Tensor, ...]],
    *,
    data_augmentation: nn.Module | None,
    loss_fn: nn.Module,
    config: TrainConfig,
    epoch: int,
) -> float:
    """One pass of Adam steps over ``loader``; returns the mean training loss."""
    model, optimizer = run.model, run.optimizer
    device = torch.device(config.device)
    model.train()
    total, seen = 0.0, 0
    desc = f"epoch {epoch}/{config.epochs}"
    bar = tqdm(loader, desc=desc, disable=not config.progress, leave=False)
    for images, grades in bar:
        x = images.to(device).float() / 255.0
        if data_augmentation is not None:
            x = data_augmentation(x)
        x = x.contiguous(memory_format=config.memory_format)
        y = grades.to(device).float()
        batch_loss = loss_fn(model(x)[:, 0], y)
        optimizer.zero_grad(set_to_none=True)
        batch_loss.backward()
        optimizer.step()
        total += float(batch_loss.detach()) * len(y)
        seen += len(y)
        bar.set_postfix(loss=f"{total / seen:.4f}")
    return total / max(seen, 1)


def _validate(
    model: nn.Module, val_data: TensorDataset, *, loss_fn: nn.Module, config: TrainConfig
) -> dict[str, float]:
    """The referable metrics (:func:`referable_metrics`) and the loss on the validation set."""
    val_grades = val_data.tensors[1].numpy()
    device = torch.device(config.device)
    scores = predict(model, val_data, batch_size=config.batch_size, device=device)
    metrics = referable_metrics(
        scores, val_grades, referable_grade=config.referable_grade, max_grade=config.max_grade
    )
    metrics["val_loss"] = float(
        loss_fn(torch.from_numpy(scores), torch.from_numpy(val_grades).double())
    )
    return metrics


def _end_epoch(run: _Run, metrics: dict[str, float], *, config: TrainConfig, epoch: int) -> None:
    """Record the epoch: its metrics, the best checkpoint if it improved, the last checkpoint."""
    run.history.append(metrics)
    if config.progress:
        tqdm.write(
            f"epoch {epoch}: train_loss {metrics['train_loss']:.4f} "
            f"val_loss {metrics['val_loss']:.4f} auc {metrics['auc']:.4f} "
            f"se {metrics['sensitivity']:.3f} sp {metrics['specificity']:.3f} "
            f"kappa {metrics['kappa']:.3f} th_pred {metrics['th_pred']:.3f}"
        )
    record = {
        "format": CHECKPOINT_FORMAT,
        "arch": config.arch,
        "create_kwargs": config.model_kwargs(),
        "state_dict": _cpu_state(run.model),
        "th_pred": metrics["th_pred"],
        "input_size": config.input_size,
        "preprocessing": dict(config.preprocessing or {}),
        "metrics": metrics,
        "epoch": epoch,
        "referable_grade": config.referable_grade,
        "init": run.init,
        "loss": config.loss,
    }
    if metrics["auc"] > run.best["auc"]:
        run.best = {"auc": metrics["auc"], "epoch": epoch, "metrics": metrics}
        save_checkpoint(record, config.out_path)
    save_checkpoint(
        {
            **record,
            "optimizer": run.optimizer.state_dict(),
            "history": run.history,
            "best": run.best,
            "train_config": config.checkpoint_record(),
        },
        config.last_path,
    )


if __name__ == "__main__":
    from captum_iterative.fundus._train_cli import main

    main()

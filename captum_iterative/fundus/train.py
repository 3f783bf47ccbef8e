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
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from kornia import augmentation as K
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler
from tqdm.auto import tqdm

from captum_iterative.fundus._in_memory import SampleTransform, load_in_memory
from captum_iterative.fundus.checkpoint import CHECKPOINT_FORMAT, read_checkpoint, save_checkpoint
from captum_iterative.fundus.classifier_eval import predict, referable_metrics
from captum_iterative.fundus.init_weights import InitWeights
from captum_iterative.fundus.losses import get_grade_loss
from captum_iterative.fundus.models import create_classifier
from captum_iterative.fundus.types import FundusSample

__all__ = ["TrainResult", "balanced_sample_weights", "default_augmentation", "train_classifier"]


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
    loss: str = "mse",
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
        loss (str, optional): ``"mse"`` (the paper's) or ``"all_threshold"`` (an ordinal loss
            on the same single output; :mod:`~captum_iterative.fundus.losses`), recorded in the
            checkpoints. Default: ``"mse"``
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
    loss_fn = get_grade_loss(loss, max_grade)
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
        state = read_checkpoint(last_path, map_location="cpu")
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

    train_data = load_in_memory(train_ds, transform, input_size, workers, "prepare train", progress)
    val_data = load_in_memory(val_ds, transform, input_size, workers, "prepare val", progress)
    val_grades = val_data.tensors[1].numpy()
    referable = val_grades >= referable_grade
    if referable.all() or not referable.any():
        raise ValueError("`val_ds` must contain both referable and non-referable images")

    preprocessing = dict(preprocessing or {})
    augmentation = default_augmentation().to(device) if augment else None
    train_grades = train_data.tensors[1]
    weights = balanced_sample_weights(train_grades.numpy()) if balance else None

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
            batch_loss = loss_fn(model(x)[:, 0], y)
            optimizer.zero_grad(set_to_none=True)
            batch_loss.backward()
            optimizer.step()
            total += float(batch_loss.detach()) * len(y)
            seen += len(y)
            bar.set_postfix(loss=f"{total / seen:.4f}")

        scores = predict(model, val_data, batch_size=batch_size, device=device)
        metrics = referable_metrics(scores, val_grades, referable_grade, max_grade)
        metrics["val_loss"] = float(
            loss_fn(torch.from_numpy(scores), torch.from_numpy(val_grades).double())
        )
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
            "loss": loss,
        }
        if metrics["auc"] > best["auc"]:
            best = {"auc": metrics["auc"], "epoch": epoch, "metrics": metrics}
            save_checkpoint(record, out_path)
        save_checkpoint(
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
                    "loss": loss,
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


if __name__ == "__main__":
    from captum_iterative.fundus._train_cli import main

    main()

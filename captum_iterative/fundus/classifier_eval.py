"""Scoring a trained classifier: predictions, referable-vs-non-referable ROC metrics, a dataset.

:func:`predict` scores images, :func:`referable_metrics` chooses ``th_pred`` on the ROC curve
(the point closest to the upper-left corner) and reports AUC, sensitivity, specificity and
kappa, and :func:`evaluate_classifier` scores a whole dataset at a checkpoint's own ``th_pred``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset, TensorDataset

from captum_iterative.evaluation.metrics import (
    classification_report,
    roc_auc,
    roc_closest_to_corner,
    sensitivity_specificity,
)
from captum_iterative.fundus._in_memory import ReferableTarget, SampleTransform, load_in_memory
from captum_iterative.fundus.checkpoint import ClassifierInfo
from captum_iterative.fundus.types import FundusSample

__all__ = ["evaluate_classifier", "predict", "referable_metrics"]


def referable_metrics(
    scores: np.ndarray | Sequence[float],
    grades: np.ndarray | Sequence[int],
    *,
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
    data = load_in_memory(
        dataset,
        transform,
        size=info.input_size,
        workers=workers,
        desc="prepare",
        progress=progress,
        target=ReferableTarget(info.referable_grade),
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

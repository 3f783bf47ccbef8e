"""Classification metrics of the paper, computed with scikit-learn.

The classifiers regress the disease grade with one output node. Images are called referable
when their score is at least ``th_pred``, the ROC operating point closest to the upper-left
corner ``(0, 1)`` on a validation set. The paper reports AUC, sensitivity and specificity at
``th_pred`` and the quadratic weighted Cohen's kappa between predicted and true grades.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import NamedTuple

import numpy as np
from sklearn.metrics import cohen_kappa_score, confusion_matrix, roc_auc_score, roc_curve

from captum_iterative._checks import to_numpy

__all__ = [
    "OperatingPoint",
    "classification_report",
    "quadratic_kappa",
    "roc_auc",
    "roc_closest_to_corner",
    "sensitivity_specificity",
]


class OperatingPoint(NamedTuple):
    """An ROC operating point: scores ``>= threshold`` are called positive."""

    threshold: float
    sensitivity: float
    specificity: float


def roc_auc(labels: object, scores: object) -> float:
    """Area under the ROC curve (:func:`sklearn.metrics.roc_auc_score`).

    Args:
        labels (array-like): ``(N,)`` binary labels (bool, or 0/1), both classes present.
        scores (array-like): ``(N,)`` finite scores, higher meaning more likely positive.

    Returns:
        float: the AUC in [0, 1].

    Raises:
        ValueError: for mismatched lengths, non-binary labels, a single class, or non-finite
            scores.
    """
    y, s = _check_labels_scores(labels, scores)
    return float(roc_auc_score(y, s))


def roc_closest_to_corner(labels: object, scores: object) -> OperatingPoint:
    """The ROC point closest to the corner ``(FPR, TPR) = (0, 1)`` (the paper's ``th_pred``).

    All thresholds of :func:`sklearn.metrics.roc_curve` are candidates
    (``drop_intermediate=False``: a point that is collinear with its neighbours can still be the
    closest). The ``+inf`` threshold scikit-learn puts first (nothing positive, distance 1) is
    never returned: the point at the lowest score (everything positive) is as far from the corner
    and is returned in its place when nothing is closer. Among equally close points the one with
    the highest threshold is taken.

    Args:
        labels (array-like): ``(N,)`` binary labels (bool, or 0/1), both classes present.
        scores (array-like): ``(N,)`` finite scores.

    Returns:
        OperatingPoint: ``(threshold, sensitivity, specificity)``; images with
        ``score >= threshold`` are positive, and ``threshold`` is one of the scores.

    Examples::

        >>> roc_closest_to_corner([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9])
        OperatingPoint(threshold=0.7, sensitivity=1.0, specificity=1.0)
    """
    y, s = _check_labels_scores(labels, scores)
    fpr, tpr, thresholds = roc_curve(y, s, drop_intermediate=False)
    finite = np.isfinite(thresholds)
    distance = np.hypot(fpr, 1.0 - tpr)
    distance[~finite] = np.inf
    # thresholds decrease along the curve: the first point within rounding of the minimum is the
    # closest one with the highest threshold (1 - tpr and fpr round differently, so exact ties
    # such as (1/3, 0) against (0, 1/3) can differ in the last bit)
    best = int(np.flatnonzero(distance <= distance.min() + 1e-12)[0])
    return OperatingPoint(float(thresholds[best]), float(tpr[best]), float(1.0 - fpr[best]))


def sensitivity_specificity(
    labels: object, scores: object, threshold: float
) -> tuple[float, float]:
    """Sensitivity and specificity when scores ``>= threshold`` are called positive.

    Args:
        labels (array-like): ``(N,)`` binary labels (bool, or 0/1), both classes present.
        scores (array-like): ``(N,)`` finite scores.
        threshold (float): the decision threshold (may be ``inf``: nothing is positive).

    Returns:
        tuple[float, float]: ``(sensitivity, specificity)``.
    """
    y, s = _check_labels_scores(labels, scores)
    tn, fp, fn, tp = _confusion(y, s, threshold)
    return tp / (tp + fn), tn / (tn + fp)


def quadratic_kappa(true_grades: object, pred_grades: object, *, max_grade: int = 4) -> float:
    """Quadratic weighted Cohen's kappa (:func:`sklearn.metrics.cohen_kappa_score`).

    Predictions may be continuous regression outputs: they are rounded half up (grade ``k``
    covers ``[k - 0.5, k + 0.5)``) and clipped to ``[0, max_grade]`` before the kappa. The
    weights use all grades ``0 .. max_grade``, present or not.

    Args:
        true_grades (array-like): ``(N,)`` integer grades in ``[0, max_grade]``.
        pred_grades (array-like): ``(N,)`` finite predicted grades (integers or floats).
        max_grade (int, optional): the highest grade (4 for ICDR DR, 3 for AMD stages).
            Default: 4.

    Returns:
        float: kappa in [-1, 1]; NaN when both raters use one and the same grade only
        (scikit-learn's undefined case).

    Raises:
        ValueError: for mismatched lengths, non-integer or out-of-range true grades, or
            non-finite predictions.
    """
    if isinstance(max_grade, bool) or not isinstance(max_grade, int) or max_grade < 1:
        raise ValueError(f"`max_grade` must be an int >= 1, got {max_grade!r}")
    truth = _check_vector(true_grades, "true_grades")
    pred = _check_vector(pred_grades, "pred_grades")
    _check_same_length(truth, pred, "true_grades", "pred_grades")
    if not _is_real(truth) or not np.isfinite(truth).all():
        raise ValueError("`true_grades` must hold finite numbers")
    if (truth != np.round(truth)).any() or truth.min() < 0 or truth.max() > max_grade:
        raise ValueError(f"`true_grades` must be integers in [0, {max_grade}]")
    if not _is_real(pred) or not np.isfinite(pred).all():
        raise ValueError("`pred_grades` must hold finite numbers")
    rounded = np.clip(np.floor(pred.astype(np.float64) + 0.5), 0, max_grade).astype(np.int64)
    return float(
        cohen_kappa_score(
            truth.astype(np.int64),
            rounded,
            labels=np.arange(max_grade + 1),
            weights="quadratic",
        )
    )


def classification_report(
    grades: object,
    scores: object,
    threshold: float,
    referable_grade: int = 2,
    *,
    max_grade: int = 4,
) -> dict[str, float | int]:
    """The paper's classification results: referable AUC, SE and SP at ``threshold``, and kappa.

    Args:
        grades (array-like): ``(N,)`` true integer grades in ``[0, max_grade]``.
        scores (array-like): ``(N,)`` regression outputs on the grade scale (they are also the
            predicted grades of the kappa, rounded and clipped as in :func:`quadratic_kappa`).
        threshold (float): ``th_pred``; images with ``score >= threshold`` are called referable.
        referable_grade (int, optional): grades ``>= referable_grade`` are referable (ICDR
            grade 2 for DR, AREDS-derived stage 2 for AMD). Default: 2.
        max_grade (int, optional): the highest grade. Default: 4.

    Returns:
        dict: ``auc``, ``sensitivity``, ``specificity``, ``kappa``, ``threshold``,
        ``referable_grade``, ``n_images``, ``n_referable``, ``n_non_referable``, ``tp``,
        ``fp``, ``tn``, ``fn`` (counts as ``int``, the rest ``float``).

    Raises:
        ValueError: as :func:`quadratic_kappa`, or when all images fall on one side of
            ``referable_grade``.
    """
    if isinstance(referable_grade, bool) or not isinstance(referable_grade, int):
        raise ValueError(f"`referable_grade` must be an int, got {referable_grade!r}")
    kappa = quadratic_kappa(grades, scores, max_grade=max_grade)
    labels = _check_vector(grades, "grades") >= referable_grade
    y, s = _check_labels_scores(labels, scores, labels_name="grades >= referable_grade")
    tn, fp, fn, tp = _confusion(y, s, threshold)
    return {
        "auc": float(roc_auc_score(y, s)),
        "sensitivity": tp / (tp + fn),
        "specificity": tn / (tn + fp),
        "kappa": kappa,
        "threshold": float(threshold),
        "referable_grade": referable_grade,
        "n_images": int(y.size),
        "n_referable": int(y.sum()),
        "n_non_referable": int((~y).sum()),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }


def _confusion(labels: np.ndarray, scores: np.ndarray, threshold: float) -> tuple[int, ...]:
    if isinstance(threshold, bool) or not isinstance(threshold, Real) or math.isnan(threshold):
        raise ValueError(f"`threshold` must be a real number, got {threshold!r}")
    predicted = scores >= threshold
    tn, fp, fn, tp = confusion_matrix(labels, predicted, labels=[False, True]).ravel()
    return int(tn), int(fp), int(fn), int(tp)


def _check_vector(value: object, name: str) -> np.ndarray:
    array = np.asarray(to_numpy(value))
    if array.ndim != 1:
        raise ValueError(f"`{name}` must be one-dimensional (N,), got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"`{name}` is empty")
    return array


def _is_real(array: np.ndarray) -> bool:
    """Integer or floating dtype (bool, complex and object arrays are not real numbers)."""
    return bool(np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating))


def _check_same_length(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.size != b.size:
        raise ValueError(f"`{name_a}` has {a.size} entries but `{name_b}` has {b.size}")


def _check_labels_scores(
    labels: object, scores: object, labels_name: str = "labels"
) -> tuple[np.ndarray, np.ndarray]:
    """Return labels as a bool vector and scores as a float64 vector, both validated."""
    y = _check_vector(labels, labels_name)
    s = _check_vector(scores, "scores")
    _check_same_length(y, s, labels_name, "scores")
    if y.dtype != np.bool_:
        if not _is_real(y) or not np.isin(y, (0, 1)).all():
            raise ValueError(
                f"`{labels_name}` must be binary (bool or 0/1); for grades use e.g. "
                "`grades >= 2` or classification_report"
            )
        y = y == 1
    if y.all() or not y.any():
        raise ValueError(
            f"`{labels_name}` holds one class only ({int(y.sum())} positive of {y.size}); "
            "ROC, sensitivity and specificity need both classes"
        )
    if not _is_real(s):
        raise ValueError(f"`scores` must hold real numbers, got dtype {s.dtype}")
    s = s.astype(np.float64)
    if not np.isfinite(s).all():
        raise ValueError("`scores` contains NaN or infinite values")
    return y, s

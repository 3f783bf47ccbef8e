"""Evaluation: FROC for lesion localization and classification metrics.

Modules: ``froc`` (the greedy scan and the pooled threshold sweep), ``froc_result`` (the curve
and its detections), ``lesion_labels`` (lesion masks and label images across frames) and
``metrics`` (ROC, AUC, kappa, operating points).
"""

from captum_iterative.evaluation.froc import (
    AMD_RADIUS,
    DR_RADIUS,
    REFERENCE_SIZE,
    froc,
    scale_radius,
)
from captum_iterative.evaluation.froc_result import CamelyonFroc, Detection, FrocResult
from captum_iterative.evaluation.lesion_labels import (
    lesion_labels,
    resize_lesion_labels,
    resize_masks_checked,
)
from captum_iterative.evaluation.metrics import (
    OperatingPoint,
    classification_report,
    quadratic_kappa,
    roc_auc,
    roc_closest_to_corner,
    sensitivity_specificity,
)

__all__ = [
    "AMD_RADIUS",
    "DR_RADIUS",
    "REFERENCE_SIZE",
    "CamelyonFroc",
    "Detection",
    "FrocResult",
    "OperatingPoint",
    "classification_report",
    "froc",
    "lesion_labels",
    "quadratic_kappa",
    "resize_lesion_labels",
    "resize_masks_checked",
    "roc_auc",
    "roc_closest_to_corner",
    "scale_radius",
    "sensitivity_specificity",
]

"""Evaluation: FROC for lesion localization and classification metrics."""

from captum_iterative.evaluation.froc import (
    AMD_RADIUS,
    DR_RADIUS,
    REFERENCE_SIZE,
    CamelyonFroc,
    Detection,
    FrocResult,
    froc,
    resize_lesion_labels,
    resize_masks_checked,
    scale_radius,
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
    "quadratic_kappa",
    "resize_lesion_labels",
    "resize_masks_checked",
    "roc_auc",
    "roc_closest_to_corner",
    "scale_radius",
    "sensitivity_specificity",
]

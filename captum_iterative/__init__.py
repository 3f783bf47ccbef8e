"""captum-iterative: iterative augmentation of visual evidence for Captum attributions.

Explain a prediction, erase what the map found by inpainting, re-predict, and repeat until the
classifier calls the image normal; the weighted sum of the maps shows weaker evidence too.
"""

from captum_iterative.augmentation import (
    STOP_REASONS,
    AugmentationResult,
    IterativeAugmentation,
    default_score,
)
from captum_iterative.binarize import BINARIZERS, binarize_otsu, otsu_threshold
from captum_iterative.evaluation import (
    CamelyonFroc,
    FrocResult,
    classification_report,
    froc,
    quadratic_kappa,
    resize_lesion_labels,
    roc_auc,
    roc_closest_to_corner,
    scale_radius,
    sensitivity_specificity,
)
from captum_iterative.explainers import CallableAttribution
from captum_iterative.inpaint import (
    Inpainter,
    NavierStokesInpainter,
    OpenCVInpainter,
    PyramidInpainter,
    TeleaInpainter,
    dilate_masks,
)
from captum_iterative.outputs import SCORES
from captum_iterative.reduce import CHANNEL_REDUCTIONS, reduce_attribution

__version__ = "0.1.0"

__all__ = [
    "BINARIZERS",
    "CHANNEL_REDUCTIONS",
    "SCORES",
    "STOP_REASONS",
    "AugmentationResult",
    "CallableAttribution",
    "CamelyonFroc",
    "FrocResult",
    "Inpainter",
    "IterativeAugmentation",
    "NavierStokesInpainter",
    "OpenCVInpainter",
    "PyramidInpainter",
    "TeleaInpainter",
    "binarize_otsu",
    "classification_report",
    "default_score",
    "dilate_masks",
    "froc",
    "otsu_threshold",
    "quadratic_kappa",
    "reduce_attribution",
    "resize_lesion_labels",
    "roc_auc",
    "roc_closest_to_corner",
    "scale_radius",
    "sensitivity_specificity",
]

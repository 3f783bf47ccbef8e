"""captum-iterative: iterative augmentation of visual evidence for Captum attributions.

Explain a prediction, erase what the map found by inpainting, re-predict, and repeat until the
classifier calls the image normal; the weighted sum of the maps shows weaker evidence too.

The core re-exported here: ``augmentation`` (the loop), ``result`` (what it returns),
``binarize``, ``reduce``, ``outputs`` (scores from model outputs), ``explainers`` (what the loop
accepts besides Captum attributions), ``inpaint`` and ``evaluation``. The retinal pipeline
(``fundus``), the experiments (``experiments``), the command line (``cli``), figures (``viz``),
file input (``io``) and the optional ``integrations`` are imported as subpackages.
"""

from captum_iterative.augmentation import (
    IterativeAugmentation,
)
from captum_iterative.binarize import (
    BINARIZERS,
    Binarizer,
    binarize_otsu,
    get_binarizer,
    map_range,
    otsu_threshold,
)
from captum_iterative.evaluation import (
    AMD_RADIUS,
    DR_RADIUS,
    REFERENCE_SIZE,
    CamelyonFroc,
    Detection,
    FrocResult,
    OperatingPoint,
    classification_report,
    froc,
    lesion_labels,
    quadratic_kappa,
    resize_lesion_labels,
    resize_masks_checked,
    roc_auc,
    roc_closest_to_corner,
    scale_radius,
    sensitivity_specificity,
)
from captum_iterative.explainers import (
    REUSABLE_FORWARD,
    AttributionFn,
    CallableAttribution,
    accepts_target,
    as_attribution,
    reuses_forward,
)
from captum_iterative.inpaint import (
    INPAINTERS,
    Inpainter,
    InpainterFactory,
    NavierStokesInpainter,
    OpenCVInpainter,
    PyramidInpainter,
    TeleaInpainter,
    ball,
    dilate_masks,
    disk,
    get_inpainter,
    push_pull_fill,
    register_inpainter,
    to_uint8,
)
from captum_iterative.outputs import (
    SCORE_RANGES,
    SCORES,
    OutputFn,
    ScoreFn,
    check_threshold,
    default_score,
    get_score_fn,
    output_hook,
    sigmoid_score,
    softmax_score,
)
from captum_iterative.reduce import (
    CHANNEL_REDUCTIONS,
    ChannelReduction,
    ReshapeTransform,
    get_channel_reduction,
    reduce_attribution,
)
from captum_iterative.result import (
    AugmentationResult,
    AugmentationWarning,
    StopReason,
)

__version__ = "0.1.0"

__all__ = [
    "AMD_RADIUS",
    "BINARIZERS",
    "CHANNEL_REDUCTIONS",
    "DR_RADIUS",
    "INPAINTERS",
    "REFERENCE_SIZE",
    "REUSABLE_FORWARD",
    "SCORES",
    "SCORE_RANGES",
    "AttributionFn",
    "AugmentationResult",
    "AugmentationWarning",
    "Binarizer",
    "CallableAttribution",
    "CamelyonFroc",
    "ChannelReduction",
    "Detection",
    "FrocResult",
    "Inpainter",
    "InpainterFactory",
    "IterativeAugmentation",
    "NavierStokesInpainter",
    "OpenCVInpainter",
    "OperatingPoint",
    "OutputFn",
    "PyramidInpainter",
    "ReshapeTransform",
    "ScoreFn",
    "StopReason",
    "TeleaInpainter",
    "accepts_target",
    "as_attribution",
    "ball",
    "binarize_otsu",
    "check_threshold",
    "classification_report",
    "default_score",
    "dilate_masks",
    "disk",
    "froc",
    "get_binarizer",
    "get_channel_reduction",
    "get_inpainter",
    "get_score_fn",
    "lesion_labels",
    "map_range",
    "otsu_threshold",
    "output_hook",
    "push_pull_fill",
    "quadratic_kappa",
    "reduce_attribution",
    "register_inpainter",
    "resize_lesion_labels",
    "resize_masks_checked",
    "reuses_forward",
    "roc_auc",
    "roc_closest_to_corner",
    "scale_radius",
    "sensitivity_specificity",
    "sigmoid_score",
    "softmax_score",
    "to_uint8",
]

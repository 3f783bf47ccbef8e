"""captum-iterative: iterative augmentation of visual evidence for Captum attributions.

Explain a prediction, erase what the map found by inpainting, re-predict, and repeat until the
classifier calls the image normal; the weighted sum of the maps shows weaker evidence too.

The root holds what a Captum user needs to run the loop and score its maps: the loop
(``IterativeAugmentation``) and what it returns (``AugmentationResult``, ``StopReason``,
``AugmentationWarning``), the inpainters and their registry, the binarizers and channel
reductions by name, and ``froc`` with ``roc_closest_to_corner`` (the operating point th_pred).
Everything else is imported from its subpackage or module: ``inpaint`` (mask dilation, fills),
``evaluation`` (FROC details, lesion labels, retina radii, classification metrics),
``outputs`` (score presets and hooks), ``attribution`` (what the loop accepts as an
attribution besides Captum's classes), ``binarize``, ``reduce``; the retinal pipeline
(``fundus``), the experiments (``experiments``), the command line (``cli``), figures (``viz``),
file input (``io``) and the optional ``integrations``.
"""

from captum_iterative.augmentation import IterativeAugmentation
from captum_iterative.binarize import BINARIZERS, binarize_otsu, get_binarizer, otsu_threshold
from captum_iterative.evaluation import FrocResult, froc, roc_closest_to_corner
from captum_iterative.inpaint import (
    INPAINTERS,
    Inpainter,
    NavierStokesInpainter,
    PyramidInpainter,
    TeleaInpainter,
    get_inpainter,
    register_inpainter,
)
from captum_iterative.reduce import CHANNEL_REDUCTIONS, get_channel_reduction, reduce_attribution
from captum_iterative.result import AugmentationResult, AugmentationWarning, StopReason

__version__ = "0.1.0"

__all__ = [
    "BINARIZERS",
    "CHANNEL_REDUCTIONS",
    "INPAINTERS",
    "AugmentationResult",
    "AugmentationWarning",
    "FrocResult",
    "Inpainter",
    "IterativeAugmentation",
    "NavierStokesInpainter",
    "PyramidInpainter",
    "StopReason",
    "TeleaInpainter",
    "binarize_otsu",
    "froc",
    "get_binarizer",
    "get_channel_reduction",
    "get_inpainter",
    "otsu_threshold",
    "reduce_attribution",
    "register_inpainter",
    "roc_closest_to_corner",
]

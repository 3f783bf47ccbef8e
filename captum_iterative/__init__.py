"""captum-iterative: iterative augmentation of visual evidence for Captum attributions.

Explain a prediction, erase what the map found by inpainting, re-predict, and repeat until the
classifier calls the image normal; the weighted sum of the maps shows weaker evidence too.

The root holds what a Captum user needs to run the loop and score its maps: the loop
(``IterativeAugmentation``) and what it returns (``AugmentationResult``, ``StopReason``,
``AugmentationWarning``), the inpainters, binarizers and channel reductions with their
registries (``get_X``, ``register_X``, ``list_X``), and ``froc`` with ``roc_closest_to_corner``
(the operating point th_pred).
Everything else is imported from its subpackage or module: ``inpaint`` (mask dilation, fills),
``evaluation`` (FROC details, lesion labels, retina radii, classification metrics),
``outputs`` (score presets and hooks), ``attribution`` (what the loop accepts as an
attribution besides Captum's classes), ``binarize``, ``reduce``; the retinal pipeline
(``fundus``), the experiments (``experiments``), the command line (``cli``), figures (``viz``),
file input (``io``) and the optional ``integrations``.
"""

from captum_iterative.augmentation import IterativeAugmentation
from captum_iterative.binarize import (
    binarize_otsu,
    get_binarizer,
    list_binarizers,
    otsu_threshold,
    register_binarizer,
)
from captum_iterative.evaluation import FrocResult, froc, roc_closest_to_corner
from captum_iterative.inpaint import (
    Inpainter,
    NavierStokesInpainter,
    PyramidInpainter,
    TeleaInpainter,
    get_inpainter,
    list_inpainters,
    register_inpainter,
)
from captum_iterative.reduce import (
    get_channel_reduction,
    list_channel_reductions,
    reduce_attribution,
    register_channel_reduction,
)
from captum_iterative.result import AugmentationResult, AugmentationWarning, StopReason

__version__ = "0.1.0"

__all__ = [
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
    "list_binarizers",
    "list_channel_reductions",
    "list_inpainters",
    "otsu_threshold",
    "reduce_attribution",
    "register_binarizer",
    "register_channel_reduction",
    "register_inpainter",
    "roc_closest_to_corner",
]

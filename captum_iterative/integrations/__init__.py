"""Adapters for the tools around Captum, one module per tool.

- :mod:`~captum_iterative.integrations.quantus`: :func:`explain_func` for Quantus metrics
  (extra ``quantus``);
- :mod:`~captum_iterative.integrations.gradcam`: :class:`CAMAttribution`, a pytorch-grad-cam CAM
  object as the loop's explainer (extra ``gradcam``).

Neither module imports its tool when imported, so both are importable without the extras; the
adapter that needs one says which extra to install when it is called. The MONAI conventions need
no adapter: :meth:`~captum_iterative.evaluation.FrocResult.to_camelyon` exports FROC detections in
MONAI's form, and the loop takes MONAI's 3-D networks and volumes as they are.
"""

from captum_iterative.integrations.gradcam import CAMAttribution
from captum_iterative.integrations.quantus import QUANTUS_ONLY_KEYWORDS, MethodSpec, explain_func

__all__ = ["QUANTUS_ONLY_KEYWORDS", "CAMAttribution", "MethodSpec", "explain_func"]

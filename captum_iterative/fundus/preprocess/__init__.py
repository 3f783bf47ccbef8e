"""Fundus photograph preprocessing: field of view, crop, resize and Graham contrast enhancement.

Modules: ``fov`` (mask, bounding box, square, crop), ``resize``, ``graham``, ``host``
(:func:`preprocess_fundus`, one image on the host), ``batch`` (:func:`preprocess_batch`, a
batch on its device) and ``transform`` (:class:`FundusTransform`, for datasets).

The classifiers of González-Gonzalo et al. (IEEE TMI 2020) see every colour fundus image after
three steps: crop the field-of-view (FOV) bounding box, rescale to 512 x 512, and enhance the
contrast after Graham (winner of the Kaggle Diabetic Retinopathy 2015 challenge):
``4 * image - 4 * GaussianBlur(image, sigma=R / 30) + 128``, saturated to ``0..255``, with
everything outside ``0.9 R`` of the centre set to ``128`` (``R`` is the fundus radius). Given
a field of view, pixels within ``0.1 R`` of its border are set to ``128`` too, which changes
nothing for a round field of view and masks the clip lines of discs cut by the frame.

Two implementations follow the same arithmetic so that a model trained on one can be fed
with the other:

- :func:`preprocess_fundus` works on one ``(H, W, 3)`` ``uint8`` RGB array on the host with
  OpenCV, returns a :class:`PreprocessedFundus` with lesion masks resized consistently and
  the coordinate mapping back to the original image (to label lesions at native resolution).
- :func:`preprocess_batch` works on a ``(N, 3, H, W)`` tensor on its own device with kornia.

Both round every intermediate image to integers as an 8-bit pipeline does (resized image,
blurred image, output), so they agree on all but a handful of pixels (see the tests). Two
details differ from calling OpenCV on ``uint8`` arrays, on purpose, because OpenCV's 8-bit
kernels use fixed-point arithmetic that no tensor library reproduces:

- resizing is computed in ``float32`` and rounded half to even; for ``INTER_AREA`` this equals
  OpenCV's 8-bit result except for integer scale factors, where OpenCV's fast 8-bit path rounds
  halves up; for ``INTER_LINEAR`` OpenCV's 8-bit path uses 11-bit weights;
- the Gaussian blur uses OpenCV's 8-bit kernel size (``6 sigma + 1`` rounded, made odd,
  border ``REFLECT_101``) but is computed in ``float32`` and rounded; OpenCV's 8-bit blur
  differs from it by one grey level on about 2 % of pixels (four levels after the ``x4``).

The final combination is exactly ``cv2.addWeighted(image, 4, blur, -4, 128)`` on ``uint8``.

Model inputs for the whole project are ``float32`` ``(N, 3, S, S)`` tensors in ``[0, 1]``: the
preprocessed ``uint8`` image divided by 255 (:func:`to_tensor`).
"""

from captum_iterative.fundus.preprocess.batch import preprocess_batch
from captum_iterative.fundus.preprocess.fov import (
    crop,
    crop_tensor,
    fov_bbox,
    fov_mask,
    square_bbox,
)
from captum_iterative.fundus.preprocess.graham import (
    estimate_radius,
    graham_enhance,
    graham_enhance_batch,
)
from captum_iterative.fundus.preprocess.host import PreprocessedFundus, preprocess_fundus, to_tensor
from captum_iterative.fundus.preprocess.resize import resize_image, resize_mask, resize_tensor
from captum_iterative.fundus.preprocess.transform import FundusTransform

__all__ = [
    "FundusTransform",
    "PreprocessedFundus",
    "crop",
    "crop_tensor",
    "estimate_radius",
    "fov_bbox",
    "fov_mask",
    "graham_enhance",
    "graham_enhance_batch",
    "preprocess_batch",
    "preprocess_fundus",
    "resize_image",
    "resize_mask",
    "resize_tensor",
    "square_bbox",
    "to_tensor",
]

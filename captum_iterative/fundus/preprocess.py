"""Fundus photograph preprocessing: field of view, crop, resize and Graham contrast enhancement.

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

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import torch
from kornia.color import rgb_to_lab
from kornia.filters import gaussian_blur2d
from kornia.geometry.transform import resize as kornia_resize

from captum_iterative.fundus.types import FundusSample

__all__ = [
    "FundusTransform",
    "PreprocessedFundus",
    "crop",
    "estimate_radius",
    "fov_bbox",
    "fov_mask",
    "graham_enhance",
    "preprocess_batch",
    "preprocess_fundus",
    "resize_image",
    "resize_mask",
    "square_bbox",
    "to_tensor",
]

BBox = tuple[int, int, int, int]
FovMethod = Literal["red", "lab"]
MaskRule = Literal["nearest", "any"]

#: Default FOV thresholds: red channel ``> 40`` (of 255), or CIELab lightness ``L >= 15`` (of 100).
FOV_THRESHOLDS: dict[str, float] = {"red": 40.0, "lab": 15.0}

#: Graham's constants: blur sigma = R / 30, output = 4 img - 4 blur + 128, kept inside 0.9 R.
_GRAHAM_GAIN = 4.0
_GRAHAM_OFFSET = 128.0
_GRAHAM_SIGMA_DIVISOR = 30.0
_GRAHAM_KEEP = 0.9


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _check_rgb(image: object, name: str = "image") -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must have shape (H, W, 3), got {image.shape}")
    if image.dtype != np.uint8:
        raise TypeError(f"{name} must have dtype uint8, got {image.dtype}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {image.shape}")
    return image


def _check_mask(mask: object, name: str, shape: tuple[int, ...]) -> np.ndarray:
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(mask).__name__}")
    if mask.dtype != np.bool_:
        raise TypeError(f"{name} must have dtype bool, got {mask.dtype}")
    if mask.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {mask.shape}")
    return mask


def _check_size(size: object) -> int:
    if isinstance(size, bool) or not isinstance(size, int | np.integer):
        raise TypeError(f"size must be an int, got {type(size).__name__}")
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    return int(size)


def _check_method(method: str) -> str:
    if method not in FOV_THRESHOLDS:
        raise ValueError(f"method must be one of {sorted(FOV_THRESHOLDS)}, got {method!r}")
    return method


# --------------------------------------------------------------------------------------------
# Field of view
# --------------------------------------------------------------------------------------------


def _largest_filled_component(candidate: np.ndarray) -> np.ndarray:
    """Largest 8-connected component of a ``bool`` mask, with its holes filled."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        candidate.astype(np.uint8), connectivity=8
    )
    if count < 2:
        raise ValueError(
            "no field of view found: no pixel is above the brightness threshold "
            "(is the image black, or the threshold too high?)"
        )
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    component = labels == largest
    # Holes: background regions (4-connected) that do not touch the image border.
    _, background = cv2.connectedComponents((~component).astype(np.uint8), connectivity=4)
    border = np.unique(
        np.concatenate([background[0], background[-1], background[:, 0], background[:, -1]])
    )
    return ~np.isin(background, border[border != 0])


def fov_mask(
    image: np.ndarray, *, threshold: float | None = None, method: FovMethod = "red"
) -> np.ndarray:
    r"""Field-of-view mask of a colour fundus photograph.

    Thresholds a brightness channel, keeps the largest 8-connected component and fills its
    holes (dark lesions or a dark fovea inside the fundus stay in the field of view).

    Args:
        image (np.ndarray): ``(H, W, 3)`` ``uint8`` RGB image. Not modified.
        threshold (float, optional): brightness threshold. With ``method="red"`` a pixel is a
            candidate when its red value is ``> threshold`` (0-255 scale); with
            ``method="lab"`` when its CIELab lightness is ``>= threshold`` (0-100 scale,
            sRGB input, D65). Default: ``None`` (40 for ``"red"``, 15 for ``"lab"``).
        method (str, optional): ``"red"`` or ``"lab"``. Default: ``"red"``.

    Returns:
        np.ndarray: ``(H, W)`` ``bool`` mask, ``True`` inside the field of view.

    Raises:
        ValueError: when no pixel passes the threshold (black image).

    Examples::

        >>> import numpy as np, cv2
        >>> image = np.zeros((64, 64, 3), np.uint8)
        >>> _ = cv2.circle(image, (32, 32), 20, (200, 90, 40), -1)
        >>> int(fov_mask(image).sum()) == int((image[..., 0] > 40).sum())
        True
    """
    _check_rgb(image)
    _check_method(method)
    level = FOV_THRESHOLDS[method] if threshold is None else float(threshold)
    if method == "red":
        candidate = image[..., 0] > level
    else:
        lightness = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)[..., 0]
        candidate = lightness >= level
    return _largest_filled_component(candidate)


def fov_bbox(fov: np.ndarray) -> BBox:
    """Bounding box of a field-of-view mask.

    Args:
        fov (np.ndarray): ``(H, W)`` ``bool`` mask.

    Returns:
        tuple[int, int, int, int]: ``(y0, y1, x0, x1)``, half-open: ``fov[y0:y1, x0:x1]`` holds
        every ``True`` pixel.

    Raises:
        ValueError: when the mask is empty.
    """
    if not isinstance(fov, np.ndarray) or fov.ndim != 2:
        raise ValueError(f"fov must be a 2-D array, got {getattr(fov, 'shape', type(fov))}")
    rows = np.flatnonzero(fov.any(axis=1))
    cols = np.flatnonzero(fov.any(axis=0))
    if rows.size == 0:
        raise ValueError("fov is empty: no field-of-view pixel to take a bounding box of")
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def square_bbox(bbox: BBox) -> BBox:
    """Smallest square box with the same centre that contains ``bbox``.

    The square may extend beyond the image; :func:`crop` pads it. Fundus cameras often clip
    the top and bottom of the disc (DiaretDB1): squaring keeps the disc round after resizing.

    Args:
        bbox (tuple[int, int, int, int]): ``(y0, y1, x0, x1)``, half-open.

    Returns:
        tuple[int, int, int, int]: the square ``(y0, y1, x0, x1)``; the extra rows (columns)
        are split evenly, the odd one going after the box.
    """
    y0, y1, x0, x1 = bbox
    side = max(y1 - y0, x1 - x0)
    y0 -= (side - (y1 - y0)) // 2
    x0 -= (side - (x1 - x0)) // 2
    return y0, y0 + side, x0, x0 + side


def crop(array: np.ndarray, bbox: BBox, *, fill: float = 0) -> np.ndarray:
    """Copy of ``array[y0:y1, x0:x1]``, padded with ``fill`` where the box leaves the array.

    Args:
        array (np.ndarray): ``(H, W)`` or ``(H, W, C)`` array of any dtype. Not modified.
        bbox (tuple[int, int, int, int]): ``(y0, y1, x0, x1)``, half-open; may extend beyond
            the array.
        fill (float, optional): value of the padding. Default: ``0``.

    Returns:
        np.ndarray: ``(y1 - y0, x1 - x0[, C])`` array of the input's dtype.
    """
    y0, y1, x0, x1 = bbox
    if y1 <= y0 or x1 <= x0:
        raise ValueError(f"bbox must have y1 > y0 and x1 > x0, got {bbox}")
    height, width = array.shape[:2]
    out = np.full((y1 - y0, x1 - x0, *array.shape[2:]), fill, dtype=array.dtype)
    sy0, sy1 = max(y0, 0), min(y1, height)
    sx0, sx1 = max(x0, 0), min(x1, width)
    if sy1 > sy0 and sx1 > sx0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = array[sy0:sy1, sx0:sx1]
    return out


# --------------------------------------------------------------------------------------------
# Resizing
# --------------------------------------------------------------------------------------------


def _shrinks(height: int, width: int, size: int) -> bool:
    """Area averaging when no axis is enlarged, bilinear otherwise (as OpenCV advises)."""
    return height >= size and width >= size


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """Resize an 8-bit image to ``size x size``.

    Shrinking uses ``cv2.INTER_AREA`` (average over each output pixel's footprint),
    enlarging ``cv2.INTER_LINEAR``; the result is computed in ``float32`` and rounded half to
    even (see the module notes).

    Args:
        image (np.ndarray): ``(H, W, 3)`` ``uint8`` image. Not modified.
        size (int): output side in pixels.

    Returns:
        np.ndarray: ``(size, size, 3)`` ``uint8`` image.
    """
    _check_rgb(image)
    size = _check_size(size)
    height, width = image.shape[:2]
    interpolation = cv2.INTER_AREA if _shrinks(height, width, size) else cv2.INTER_LINEAR
    resized = cv2.resize(image.astype(np.float32), (size, size), interpolation=interpolation)
    return np.clip(np.rint(resized), 0, 255).astype(np.uint8)


def _nearest_index(n_in: int, n_out: int) -> np.ndarray:
    """Source index of each output pixel: ``floor(i * n_in / n_out)``, in exact integers."""
    return (np.arange(n_out, dtype=np.int64) * n_in) // n_out


def resize_mask(mask: np.ndarray, size: int, *, rule: MaskRule = "nearest") -> np.ndarray:
    """Resize a ``bool`` mask to ``size x size``.

    Args:
        mask (np.ndarray): ``(H, W)`` ``bool`` mask. Not modified.
        size (int): output side in pixels.
        rule (str, optional): ``"nearest"``: output pixel ``i`` takes source pixel
            ``floor(i * H / size)`` (the convention of ``cv2.INTER_NEAREST`` and torch's
            ``"nearest"``, in exact integer arithmetic); small lesions can vanish when
            shrinking. ``"any"``: an output pixel is ``True`` when any source pixel under its
            footprint is, so no lesion vanishes (lesions grow by up to one pixel).
            Default: ``"nearest"``.

    Returns:
        np.ndarray: ``(size, size)`` ``bool`` mask.
    """
    if not isinstance(mask, np.ndarray) or mask.ndim != 2 or mask.dtype != np.bool_:
        raise TypeError(
            f"mask must be a 2-D bool array, got {getattr(mask, 'dtype', type(mask))} "
            f"with shape {getattr(mask, 'shape', None)}"
        )
    size = _check_size(size)
    if rule not in ("nearest", "any"):
        raise ValueError(f"rule must be 'nearest' or 'any', got {rule!r}")
    height, width = mask.shape
    if rule == "nearest":
        return mask[np.ix_(_nearest_index(height, size), _nearest_index(width, size))]
    integral = np.zeros((height + 1, width + 1), dtype=np.int64)
    integral[1:, 1:] = mask.cumsum(axis=0).cumsum(axis=1)
    steps = np.arange(size + 1, dtype=np.int64)
    # Footprint of output pixel i: source pixels [floor(i n / size), ceil((i + 1) n / size)).
    y_lo, y_hi = (steps[:-1] * height) // size, -((-steps[1:] * height) // size)
    x_lo, x_hi = (steps[:-1] * width) // size, -((-steps[1:] * width) // size)
    y_hi, x_hi = np.maximum(y_hi, y_lo + 1), np.maximum(x_hi, x_lo + 1)
    counts = (
        integral[np.ix_(y_hi, x_hi)]
        - integral[np.ix_(y_lo, x_hi)]
        - integral[np.ix_(y_hi, x_lo)]
        + integral[np.ix_(y_lo, x_lo)]
    )
    return counts > 0


# --------------------------------------------------------------------------------------------
# Graham contrast enhancement
# --------------------------------------------------------------------------------------------


def estimate_radius(image: np.ndarray) -> float:
    """Fundus radius after Graham: half the number of bright pixels on the middle row.

    A pixel of row ``H // 2`` is bright when its channel sum exceeds a tenth of the row's
    mean channel sum.

    Args:
        image (np.ndarray): ``(H, W, 3)`` ``uint8`` RGB image, fundus roughly centred.

    Returns:
        float: the radius in pixels (a multiple of 0.5).

    Raises:
        ValueError: when the middle row is black.
    """
    _check_rgb(image)
    row = image[image.shape[0] // 2].astype(np.int64).sum(axis=1)
    radius = float(np.count_nonzero(row > row.mean() / 10)) / 2
    if radius == 0:
        raise ValueError("cannot estimate the fundus radius: the middle row of image is black")
    return radius


def _fov_radius(fov: np.ndarray) -> float:
    radius = float(np.count_nonzero(fov[fov.shape[0] // 2])) / 2
    if radius == 0:
        raise ValueError("cannot estimate the fundus radius: the middle row of fov is empty")
    return radius


def _gaussian_ksize(sigma: float) -> int:
    """OpenCV's kernel size for ``ksize=(0, 0)`` on 8-bit images: ``round(6 sigma + 1) | 1``."""
    return round(sigma * 6 + 1) | 1


def _graham_keep(shape: tuple[int, int], radius: float, fov: np.ndarray | None) -> np.ndarray:
    """Pixels Graham's enhancement keeps; the others are set to 128.

    Within ``0.9 radius`` of the image centre ``((H - 1) / 2, (W - 1) / 2)`` and, when ``fov``
    is given, at least ``0.1 radius`` inside it (Euclidean distance to the nearest pixel
    outside ``fov``). For a full round field of view the two rules coincide; for a disc
    clipped by the camera's frame the second also drops the bright band that the blur
    leaves along the straight clip lines.
    """
    height, width = shape
    ys = np.arange(height) - (height - 1) / 2
    xs = np.arange(width) - (width - 1) / 2
    limit = _GRAHAM_KEEP * radius
    keep = ys[:, None] ** 2 + xs[None, :] ** 2 <= limit * limit
    if fov is not None:
        inside = cv2.distanceTransform(fov.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        keep &= inside >= (1 - _GRAHAM_KEEP) * radius
    return keep


def graham_enhance(
    image: np.ndarray, *, radius: float | None = None, fov: np.ndarray | None = None
) -> np.ndarray:
    r"""Graham's contrast enhancement (Kaggle Diabetic Retinopathy 2015).

    ``out = saturate(4 * image - 4 * blur + 128)`` with ``blur`` a Gaussian blur of
    ``sigma = radius / 30`` (OpenCV ``ksize=(0, 0)`` semantics for 8-bit images: kernel
    ``round(6 sigma + 1) | 1``, border ``REFLECT_101``, rounded to integers) and the
    combination done by ``cv2.addWeighted`` on ``uint8`` (round, then saturate to 0-255).
    Pixels farther than ``0.9 radius`` from the image centre are set to 128, as are, when
    ``fov`` is given, pixels less than ``0.1 radius`` inside it (Euclidean distance to the
    nearest pixel outside ``fov``). For a round field of view both rules coincide; for a disc
    clipped by the camera's frame (DiaretDB1) the second removes the bright band the blur
    leaves along the clip lines, which Graham's circle alone does not reach.

    Args:
        image (np.ndarray): ``(H, W, 3)`` ``uint8`` RGB image with the fundus centred (as
            :func:`preprocess_fundus` crops it). Not modified.
        radius (float, optional): fundus radius ``R`` in pixels. Default: ``None``: half the
            width of ``fov``'s middle row when ``fov`` is given, else
            :func:`estimate_radius`.
        fov (np.ndarray, optional): ``(H, W)`` ``bool`` field of view. Default: ``None``.

    Returns:
        np.ndarray: ``(H, W, 3)`` ``uint8`` enhanced image.

    Examples::

        >>> import numpy as np
        >>> flat = np.full((64, 64, 3), 90, np.uint8)
        >>> bool((graham_enhance(flat, radius=30) == 128).all())
        True
    """
    _check_rgb(image)
    height, width = image.shape[:2]
    if fov is not None:
        _check_mask(fov, "fov", (height, width))
    if radius is None:
        radius = _fov_radius(fov) if fov is not None else estimate_radius(image)
    elif not radius > 0:
        raise ValueError(f"radius must be positive, got {radius}")
    sigma = radius / _GRAHAM_SIGMA_DIVISOR
    ksize = _gaussian_ksize(sigma)
    blur = cv2.GaussianBlur(
        image.astype(np.float32), (ksize, ksize), sigma, borderType=cv2.BORDER_REFLECT_101
    )
    blur_8u = np.clip(np.rint(blur), 0, 255).astype(np.uint8)
    out = cv2.addWeighted(image, _GRAHAM_GAIN, blur_8u, -_GRAHAM_GAIN, _GRAHAM_OFFSET)
    out[~_graham_keep((height, width), radius, fov)] = int(_GRAHAM_OFFSET)
    return out


# --------------------------------------------------------------------------------------------
# One image, host side
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreprocessedFundus:
    """A fundus image in the classifiers' frame, with the way back to the original image.

    Attributes:
        image: ``(size, size, 3)`` ``uint8`` RGB preprocessed image.
        fov: ``(size, size)`` ``bool`` field of view in the preprocessed frame.
        masks: lesion type -> ``(size, size)`` ``bool`` mask in the preprocessed frame.
        bbox: ``(y0, y1, x0, x1)`` crop box in original pixel indices, half-open; may extend
            beyond the original image (padded with black) when the box was squared.
        original_shape: ``(H, W)`` of the original image.
        scale: ``(sy, sx)`` preprocessed pixels per original pixel.
        radius: fundus radius used by Graham's enhancement, in preprocessed pixels, or
            ``None`` when the image was not enhanced.
    """

    image: np.ndarray
    fov: np.ndarray
    masks: dict[str, np.ndarray]
    bbox: BBox
    original_shape: tuple[int, int]
    scale: tuple[float, float]
    radius: float | None

    def to_original(self, yx: np.ndarray) -> np.ndarray:
        """Map ``(y, x)`` pixel coordinates of the preprocessed frame to the original image.

        Pixel centres map to pixel centres: preprocessed pixel ``p`` covers original
        coordinates ``[y0 + p / sy, y0 + (p + 1) / sy)``, so its centre is
        ``y0 + (p + 0.5) / sy - 0.5`` (likewise for ``x``).

        Args:
            yx (np.ndarray): ``(..., 2)`` array of ``(y, x)`` coordinates (any real dtype).

        Returns:
            np.ndarray: ``(..., 2)`` ``float64`` coordinates in the original image (may lie
            outside it where the crop box was padded).
        """
        points = _check_points(yx)
        origin = np.array([self.bbox[0], self.bbox[2]], dtype=np.float64)
        return origin + (points + 0.5) / np.asarray(self.scale) - 0.5

    def to_preprocessed(self, yx: np.ndarray) -> np.ndarray:
        """Map ``(y, x)`` coordinates of the original image to the preprocessed frame.

        The inverse of :meth:`to_original`.

        Args:
            yx (np.ndarray): ``(..., 2)`` array of ``(y, x)`` coordinates.

        Returns:
            np.ndarray: ``(..., 2)`` ``float64`` coordinates in the preprocessed frame.
        """
        points = _check_points(yx)
        origin = np.array([self.bbox[0], self.bbox[2]], dtype=np.float64)
        return (points - origin + 0.5) * np.asarray(self.scale) - 0.5


def _check_points(yx: np.ndarray) -> np.ndarray:
    points = np.asarray(yx, dtype=np.float64)
    if points.ndim == 0 or points.shape[-1] != 2:
        raise ValueError(f"yx must have shape (..., 2), got {points.shape}")
    return points


def preprocess_fundus(
    image: np.ndarray,
    size: int = 512,
    *,
    fov: np.ndarray | None = None,
    enhance: bool = True,
    masks: dict[str, np.ndarray] | None = None,
    fov_method: FovMethod = "red",
    fov_threshold: float | None = None,
    square: bool = True,
    mask_rule: MaskRule = "nearest",
) -> PreprocessedFundus:
    r"""Crop the field of view, resize to ``size x size`` and enhance after Graham.

    Steps: field of view (:func:`fov_mask` unless given); its bounding box, squared about its
    centre unless ``square=False`` (padding with black); crop; resize (:func:`resize_image`
    for the image, :func:`resize_mask` for the field of view and the masks); Graham's
    enhancement with the radius measured on the resized field of view's middle row and
    everything within ``0.1 R`` of the field of view's border set to 128
    (:func:`graham_enhance`).

    Args:
        image (np.ndarray): ``(H, W, 3)`` ``uint8`` RGB fundus photograph. Not modified.
        size (int, optional): output side in pixels. Default: ``512``.
        fov (np.ndarray, optional): ``(H, W)`` ``bool`` field of view (e.g. a dataset's own
            mask). Default: ``None`` (detected with ``fov_method``/``fov_threshold``).
        enhance (bool, optional): apply Graham's enhancement. Default: ``True``.
        masks (dict[str, np.ndarray], optional): lesion type -> ``(H, W)`` ``bool`` mask, to
            carry into the preprocessed frame. Default: ``None`` (no masks).
        fov_method (str, optional): ``method`` of :func:`fov_mask`. Default: ``"red"``.
        fov_threshold (float, optional): ``threshold`` of :func:`fov_mask`. Default: ``None``.
        square (bool, optional): square the crop box so the disc keeps its aspect ratio.
            Default: ``True``.
        mask_rule (str, optional): ``rule`` of :func:`resize_mask` for the lesion masks (the
            field of view always uses ``"nearest"``). Default: ``"nearest"``.

    Returns:
        PreprocessedFundus: the image, field of view and masks in the preprocessed frame, with
        the crop box, scale and coordinate mapping.

    Examples::

        >>> import numpy as np, cv2
        >>> photo = np.zeros((300, 400, 3), np.uint8)
        >>> _ = cv2.circle(photo, (200, 150), 120, (180, 80, 30), -1)
        >>> out = preprocess_fundus(photo, 128)
        >>> out.image.shape, out.fov.shape, out.bbox
        ((128, 128, 3), (128, 128), (30, 271, 80, 321))
    """
    _check_rgb(image)
    size = _check_size(size)
    shape = image.shape[:2]
    if fov is None:
        fov = fov_mask(image, threshold=fov_threshold, method=fov_method)
    else:
        _check_mask(fov, "fov", shape)
    for name, mask in (masks or {}).items():
        _check_mask(mask, f"masks[{name!r}]", shape)
    bbox = fov_bbox(fov)
    if square:
        bbox = square_bbox(bbox)
    resized = resize_image(crop(image, bbox), size)
    fov_out = resize_mask(crop(fov, bbox), size)
    masks_out = {
        name: resize_mask(crop(mask, bbox), size, rule=mask_rule)
        for name, mask in (masks or {}).items()
    }
    radius = _fov_radius(fov_out) if enhance else None
    if radius is not None:
        resized = graham_enhance(resized, radius=radius, fov=fov_out)
    return PreprocessedFundus(
        image=resized,
        fov=fov_out,
        masks=masks_out,
        bbox=bbox,
        original_shape=(int(shape[0]), int(shape[1])),
        scale=(size / (bbox[1] - bbox[0]), size / (bbox[3] - bbox[2])),
        radius=radius,
    )


# --------------------------------------------------------------------------------------------
# Batches, any device
# --------------------------------------------------------------------------------------------


def _area_taps(n_in: int, n_out: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse form of ``cv2.INTER_AREA`` shrinking along one axis.

    Output pixel ``i`` averages source ``[i n_in / n_out, (i + 1) n_in / n_out)``, each source
    pixel weighted by the length of its overlap. Overlaps are exact integers in units of
    ``1 / n_out``.

    Returns:
        ``(n_out, K)`` source indices (``int64``) and ``(n_out, K)`` weights (``float32``).
    """
    taps = -(-n_in // n_out) + 1
    start = np.arange(n_out, dtype=np.int64)[:, None] * n_in
    index = start // n_out + np.arange(taps, dtype=np.int64)[None, :]
    overlap = np.minimum(start + n_in, (index + 1) * n_out) - np.maximum(start, index * n_out)
    weight = np.clip(overlap, 0, None) / n_in
    index = np.minimum(index, n_in - 1)
    return (
        torch.from_numpy(index).to(device),
        torch.from_numpy(weight.astype(np.float32)).to(device),
    )


def _area_resize(box: torch.Tensor, size: int) -> torch.Tensor:
    """``(C, h, w)`` float tensor -> ``(C, size, size)`` by area averaging (h, w >= size)."""
    rows, row_weight = _area_taps(box.shape[1], size, box.device)
    cols, col_weight = _area_taps(box.shape[2], size, box.device)
    out = (box[:, rows, :] * row_weight[None, :, :, None]).sum(dim=2)
    return (out[:, :, cols] * col_weight[None, None]).sum(dim=-1)


def _crop_tensor(array: torch.Tensor, bbox: BBox) -> torch.Tensor:
    """Copy of ``array[..., y0:y1, x0:x1]`` padded with zeros outside ``array``."""
    y0, y1, x0, x1 = bbox
    height, width = array.shape[-2:]
    out = array.new_zeros((*array.shape[:-2], y1 - y0, x1 - x0))
    sy0, sy1 = max(y0, 0), min(y1, height)
    sx0, sx1 = max(x0, 0), min(x1, width)
    if sy1 > sy0 and sx1 > sx0:
        out[..., sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = array[..., sy0:sy1, sx0:sx1]
    return out


def _resize_tensor(box: torch.Tensor, size: int) -> torch.Tensor:
    """Same rule and rounding as :func:`resize_image`, on ``(3, h, w)`` float tensors."""
    if _shrinks(box.shape[1], box.shape[2], size):
        resized = _area_resize(box, size)
    else:
        resized = kornia_resize(
            box[None], (size, size), interpolation="bilinear", align_corners=False
        )[0]
    return resized.round().clamp(0, 255)


def _fov_candidates(images: torch.Tensor, method: str, threshold: float | None) -> torch.Tensor:
    level = FOV_THRESHOLDS[method] if threshold is None else float(threshold)
    if method == "red":
        return images[:, 0] > level
    return rgb_to_lab(images / 255.0)[:, 0] >= level


def _graham_combine_tensor(image: torch.Tensor, blur: torch.Tensor) -> torch.Tensor:
    """``cv2.addWeighted(image, 4, blur, -4, 128)`` on integer-valued float tensors."""
    return (_GRAHAM_GAIN * image - _GRAHAM_GAIN * blur + _GRAHAM_OFFSET).round().clamp(0, 255)


def _graham_batch(images: torch.Tensor, fov: np.ndarray) -> torch.Tensor:
    """:func:`graham_enhance` on ``(N, 3, S, S)`` integer-valued float tensors.

    ``fov`` is the ``(N, S, S)`` ``bool`` field of view on the host (radius and kept pixels are
    computed there, exactly as in the host path).
    """
    radii = np.array([_fov_radius(mask) for mask in fov])
    sigmas = radii / _GRAHAM_SIGMA_DIVISOR
    ksizes = np.array([_gaussian_ksize(float(sigma)) for sigma in sigmas])
    blur = torch.empty_like(images)
    for ksize in np.unique(ksizes):
        members = np.flatnonzero(ksizes == ksize)
        sigma = torch.as_tensor(sigmas[members], dtype=images.dtype, device=images.device)
        blur[members] = gaussian_blur2d(
            images[members],
            (int(ksize), int(ksize)),
            sigma[:, None].expand(-1, 2),
            border_type="reflect",
        )
    out = _graham_combine_tensor(images, blur.round().clamp(0, 255))
    keep = np.stack(
        [_graham_keep(mask.shape, float(r), mask) for mask, r in zip(fov, radii, strict=True)]
    )
    keep_device = torch.from_numpy(keep)[:, None].to(images.device)
    return torch.where(keep_device, out, torch.full_like(out, _GRAHAM_OFFSET))


def preprocess_batch(
    images: torch.Tensor,
    size: int = 512,
    *,
    fov: torch.Tensor | None = None,
    enhance: bool = True,
    fov_method: FovMethod = "red",
    fov_threshold: float | None = None,
    square: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Batched :func:`preprocess_fundus` on the images' device.

    Thresholding, cropping, resizing (area averaging when shrinking, kornia's bilinear
    ``resize`` when enlarging) and Graham's enhancement (kornia's ``gaussian_blur2d``) run on
    the device of ``images``. Only the field of view's connected-component step and the crop
    boxes go through the host (``(H, W)`` ``bool`` masks). Intermediate images are rounded as
    in the ``uint8`` host path, so both paths agree on all but a handful of pixels.

    kornia's ``"area"`` resize is adaptive average pooling, which differs from
    ``cv2.INTER_AREA`` for non-integer scale factors (and Graham's ``x4`` magnifies the
    difference), hence the exact area weights here.

    Args:
        images (torch.Tensor): ``(N, 3, H, W)`` RGB, ``uint8`` or floating point in
            ``[0, 255]``, on any device. Not modified.
        size (int, optional): output side in pixels. Default: ``512``.
        fov (torch.Tensor, optional): ``(N, 1, H, W)`` or ``(N, H, W)`` ``bool`` field of view
            on any device. Default: ``None`` (detected as in :func:`fov_mask`).
        enhance (bool, optional): apply Graham's enhancement. Default: ``True``.
        fov_method (str, optional): ``method`` of :func:`fov_mask`. Default: ``"red"``.
        fov_threshold (float, optional): ``threshold`` of :func:`fov_mask`. Default: ``None``.
        square (bool, optional): square the crop boxes. Default: ``True``.

    Returns:
        tuple[torch.Tensor, torch.Tensor]: ``(images, fov)``: ``(N, 3, size, size)``
        ``float32`` with integer values in ``[0, 255]`` (divide by 255 for the model), and
        ``(N, 1, size, size)`` ``bool``, both on the device of ``images``.

    Examples::

        >>> import torch
        >>> batch = torch.zeros(2, 3, 90, 120, dtype=torch.uint8)
        >>> batch[:, 0, 10:80, 20:100] = 200
        >>> out, fov = preprocess_batch(batch, 64)
        >>> out.shape, fov.shape, out.dtype
        (torch.Size([2, 3, 64, 64]), torch.Size([2, 1, 64, 64]), torch.float32)
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must have shape (N, 3, H, W), got {tuple(images.shape)}")
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise TypeError(f"images must be uint8 or floating point, got {images.dtype}")
    size = _check_size(size)
    _check_method(fov_method)
    pixels = images.to(torch.float32)
    count, _, height, width = images.shape
    if fov is None:
        candidates = _fov_candidates(pixels, fov_method, fov_threshold).cpu().numpy()
        host_fov = np.stack([_largest_filled_component(mask) for mask in candidates])
    else:
        if not isinstance(fov, torch.Tensor) or fov.dtype != torch.bool:
            raise TypeError(f"fov must be a bool torch.Tensor, got {getattr(fov, 'dtype', fov)}")
        if fov.ndim == 4 and fov.shape[1] == 1:
            fov = fov[:, 0]
        if tuple(fov.shape) != (count, height, width):
            raise ValueError(
                f"fov must have shape {(count, 1, height, width)} or {(count, height, width)}, "
                f"got {tuple(fov.shape)}"
            )
        host_fov = fov.cpu().numpy()
    out_images, out_fov = [], []
    for pixel, mask in zip(pixels, host_fov, strict=True):
        bbox = fov_bbox(mask)
        if square:
            bbox = square_bbox(bbox)
        out_images.append(_resize_tensor(_crop_tensor(pixel, bbox), size))
        out_fov.append(resize_mask(crop(mask, bbox), size))
    resized = torch.stack(out_images)
    host_out = np.stack(out_fov)
    if enhance:
        resized = _graham_batch(resized, host_out)
    return resized, torch.from_numpy(host_out)[:, None].to(images.device)


# --------------------------------------------------------------------------------------------
# Model inputs and dataset transform
# --------------------------------------------------------------------------------------------


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """Model input from a preprocessed image: ``float32`` ``(3, H, W)`` in ``[0, 1]``.

    Args:
        image (np.ndarray): ``(H, W, 3)`` ``uint8`` RGB image. Not modified.

    Returns:
        torch.Tensor: ``(3, H, W)`` ``float32`` tensor, ``image / 255`` channels first.
    """
    _check_rgb(image)
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float() / 255.0


class FundusTransform:
    r"""Dataset transform: :func:`preprocess_fundus` applied to a :class:`FundusSample`.

    The sample's own field of view is used for the crop (e.g. DiaretDB1's ``fmask.tif``), and
    its lesion masks follow the image into the preprocessed frame. Grade and id are kept.

    Args:
        size (int, optional): output side in pixels. Default: ``512``.
        enhance (bool, optional): apply Graham's enhancement. Default: ``True``.
        square (bool, optional): square the crop box. Default: ``True``.
        mask_rule (str, optional): ``rule`` of :func:`resize_mask` for lesion masks.
            Default: ``"nearest"``.

    Examples::

        >>> import numpy as np, cv2
        >>> image = np.zeros((200, 240, 3), np.uint8)
        >>> _ = cv2.circle(image, (120, 100), 90, (180, 80, 30), -1)
        >>> sample = FundusSample(image, 2, {}, image[..., 0] > 40, "demo")
        >>> out = FundusTransform(size=64)(sample)
        >>> out.image.shape, out.fov.shape, out.grade, out.id
        ((64, 64, 3), (64, 64), 2, 'demo')
    """

    def __init__(
        self,
        size: int = 512,
        enhance: bool = True,
        *,
        square: bool = True,
        mask_rule: MaskRule = "nearest",
    ) -> None:
        self.size = _check_size(size)
        self.enhance = enhance
        self.square = square
        self.mask_rule = mask_rule

    def __call__(self, sample: FundusSample) -> FundusSample:
        out = preprocess_fundus(
            sample.image,
            self.size,
            fov=sample.fov,
            enhance=self.enhance,
            masks=sample.masks,
            square=self.square,
            mask_rule=self.mask_rule,
        )
        return FundusSample(out.image, sample.grade, out.masks, out.fov, sample.id)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(size={self.size}, enhance={self.enhance}, "
            f"square={self.square}, mask_rule={self.mask_rule!r})"
        )

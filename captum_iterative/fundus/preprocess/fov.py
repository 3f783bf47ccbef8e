"""The field of view of a fundus photograph: its mask, its bounding box, and the crop.

:func:`fov_mask` thresholds a brightness channel and keeps the largest component with its holes
filled; :func:`fov_bbox` and :func:`square_bbox` give the crop box; :func:`crop` (arrays) and
:func:`crop_tensor` (tensors, any device) cut it out, padding where the box leaves the image.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from kornia.color import rgb_to_lab

from captum_iterative.fundus.preprocess._checks import (
    FOV_THRESHOLDS,
    BBox,
    FovMethod,
    check_fov_method,
    check_rgb,
)

__all__ = ["crop", "crop_tensor", "fov_bbox", "fov_mask", "square_bbox"]


def largest_filled_component(candidate: np.ndarray) -> np.ndarray:
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
    check_rgb(image)
    check_fov_method(method)
    level = FOV_THRESHOLDS[method] if threshold is None else float(threshold)
    if method == "red":
        candidate = image[..., 0] > level
    else:
        lightness = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)[..., 0]
        candidate = lightness >= level
    return largest_filled_component(candidate)


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
        raise ValueError(f"`fov` must be a 2-D array, got {getattr(fov, 'shape', type(fov))}")
    rows = np.flatnonzero(fov.any(axis=1))
    cols = np.flatnonzero(fov.any(axis=0))
    if rows.size == 0:
        raise ValueError("`fov` is empty: no field-of-view pixel to take a bounding box of")
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


def _overlap(bbox: BBox, height: int, width: int) -> tuple[slice, slice, slice, slice] | None:
    """Where the box ``bbox`` and an ``height x width`` image overlap.

    Returns:
        ``(out_rows, out_cols, in_rows, in_cols)`` slices of the crop and of the image, or None
        when the box lies outside the image.

    Raises:
        ValueError: an empty box.
    """
    y0, y1, x0, x1 = bbox
    if y1 <= y0 or x1 <= x0:
        raise ValueError(f"`bbox` must have y1 > y0 and x1 > x0, got {bbox}")
    sy0, sy1 = max(y0, 0), min(y1, height)
    sx0, sx1 = max(x0, 0), min(x1, width)
    if sy1 <= sy0 or sx1 <= sx0:
        return None
    return (
        slice(sy0 - y0, sy1 - y0),
        slice(sx0 - x0, sx1 - x0),
        slice(sy0, sy1),
        slice(sx0, sx1),
    )


def crop(array: np.ndarray, bbox: BBox, *, fill: float = 0) -> np.ndarray:
    """Copy of ``array[y0:y1, x0:x1]``, padded with ``fill`` where the box leaves the array.

    Args:
        array (np.ndarray): ``(H, W)`` or ``(H, W, C)`` array of any dtype. Not modified.
        bbox (tuple[int, int, int, int]): ``(y0, y1, x0, x1)``, half-open; may extend beyond
            the array.
        fill (float, optional): value of the padding. Default: ``0``.

    Returns:
        np.ndarray: ``(y1 - y0, x1 - x0[, C])`` array of the input's dtype.

    Examples::

        >>> crop(np.ones((2, 2), np.uint8), (-1, 2, 0, 3)).tolist()
        [[0, 0, 0], [1, 1, 0], [1, 1, 0]]
    """
    y0, y1, x0, x1 = bbox
    where = _overlap(bbox, *array.shape[:2])
    out = np.full((y1 - y0, x1 - x0, *array.shape[2:]), fill, dtype=array.dtype)
    if where is not None:
        out_rows, out_cols, rows, cols = where
        out[out_rows, out_cols] = array[rows, cols]
    return out


def crop_tensor(array: torch.Tensor, bbox: BBox) -> torch.Tensor:
    """:func:`crop` of a ``(..., H, W)`` tensor on its own device, padded with zeros."""
    y0, y1, x0, x1 = bbox
    where = _overlap(bbox, *array.shape[-2:])
    out = array.new_zeros((*array.shape[:-2], y1 - y0, x1 - x0))
    if where is not None:
        out_rows, out_cols, rows, cols = where
        out[..., out_rows, out_cols] = array[..., rows, cols]
    return out


def fov_candidates(images: torch.Tensor, method: str, threshold: float | None) -> torch.Tensor:
    level = FOV_THRESHOLDS[method] if threshold is None else float(threshold)
    if method == "red":
        return images[:, 0] > level
    return rgb_to_lab(images / 255.0)[:, 0] >= level

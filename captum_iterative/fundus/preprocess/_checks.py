"""Input checks of the preprocessing steps (they name the argument they refuse, in backticks)."""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = [
    "FOV_THRESHOLDS",
    "BBox",
    "FovMethod",
    "MaskRule",
    "check_fov_method",
    "check_mask",
    "check_rgb",
]

#: A crop box ``(y0, y1, x0, x1)``, half-open, in pixel indices.
BBox = tuple[int, int, int, int]
#: How the field of view is thresholded: ``"red"`` channel or CIELab ``"lab"`` lightness.
FovMethod = Literal["red", "lab"]
#: How lesion masks are resized: ``"nearest"`` or ``"any"`` (see ``resize_mask``).
MaskRule = Literal["nearest", "any"]

#: Default FOV thresholds: red channel ``> 40`` (of 255), or CIELab lightness ``L >= 15`` (of 100).
FOV_THRESHOLDS: dict[str, float] = {"red": 40.0, "lab": 15.0}


def check_rgb(image: object, name: str = "image") -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise TypeError(f"`{name}` must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"`{name}` must have shape (H, W, 3), got {image.shape}")
    if image.dtype != np.uint8:
        raise TypeError(f"`{name}` must have dtype uint8, got {image.dtype}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"`{name}` is empty: shape {image.shape}")
    return image


def check_mask(mask: object, name: str, shape: tuple[int, ...]) -> np.ndarray:
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"`{name}` must be a numpy array, got {type(mask).__name__}")
    if mask.dtype != np.bool_:
        raise TypeError(f"`{name}` must have dtype bool, got {mask.dtype}")
    if mask.shape != shape:
        raise ValueError(f"`{name}` must have shape {shape}, got {mask.shape}")
    return mask


def check_fov_method(method: str) -> str:
    if method not in FOV_THRESHOLDS:
        raise ValueError(f"`method` must be one of {sorted(FOV_THRESHOLDS)}, got {method!r}")
    return method

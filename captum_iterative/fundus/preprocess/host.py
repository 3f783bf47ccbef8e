"""One fundus photograph on the host: :func:`preprocess_fundus` and the way back to the original.

Field of view, crop box (squared), crop, resize and Graham's enhancement, with lesion masks
carried along and the coordinate mapping kept in :class:`PreprocessedFundus`;
:func:`to_tensor` turns the result into the model input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from captum_iterative._checks import check_positive_int
from captum_iterative.fundus.preprocess._checks import (
    BBox,
    FovMethod,
    MaskRule,
    check_mask,
    check_rgb,
)
from captum_iterative.fundus.preprocess.fov import crop, fov_bbox, fov_mask, square_bbox
from captum_iterative.fundus.preprocess.graham import fov_radius, graham_enhance
from captum_iterative.fundus.preprocess.resize import resize_image, resize_mask

__all__ = ["PreprocessedFundus", "preprocess_fundus", "to_tensor"]


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
        raise ValueError(f"`yx` must have shape (..., 2), got {points.shape}")
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
    check_rgb(image)
    size = check_positive_int(size, "size")
    shape = image.shape[:2]
    if fov is None:
        fov = fov_mask(image, threshold=fov_threshold, method=fov_method)
    else:
        check_mask(fov, "fov", shape)
    for name, mask in (masks or {}).items():
        check_mask(mask, f"masks[{name!r}]", shape)
    bbox = fov_bbox(fov)
    if square:
        bbox = square_bbox(bbox)
    resized = resize_image(crop(image, bbox), size)
    fov_out = resize_mask(crop(fov, bbox), size)
    masks_out = {
        name: resize_mask(crop(mask, bbox), size, rule=mask_rule)
        for name, mask in (masks or {}).items()
    }
    radius = fov_radius(fov_out) if enhance else None
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


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """Model input from a preprocessed image: ``float32`` ``(3, H, W)`` in ``[0, 1]``.

    Args:
        image (np.ndarray): ``(H, W, 3)`` ``uint8`` RGB image. Not modified.

    Returns:
        torch.Tensor: ``(3, H, W)`` ``float32`` tensor, ``image / 255`` channels first.
    """
    check_rgb(image)
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float() / 255.0

"""Resizing to the model's side: images by area averaging or bilinear, masks exactly.

Masks go through the package's one mask resizer (``captum_iterative._mask_resize``: the
``"nearest"`` and ``"any"`` rules, which the evaluation's lesion resizers share).

The host functions compute in ``float32`` and round half to even like an 8-bit pipeline;
:func:`resize_tensor` does the same on a tensor's own device (exact ``cv2.INTER_AREA`` weights
when shrinking, kornia's bilinear ``resize`` when enlarging).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from kornia.geometry.transform import resize as kornia_resize

from captum_iterative._checks import check_positive_int
from captum_iterative._mask_resize import resize_any, resize_nearest
from captum_iterative.fundus.preprocess._checks import MaskRule, check_rgb

__all__ = ["resize_image", "resize_mask", "resize_tensor"]


def shrinks(height: int, width: int, size: int) -> bool:
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
    check_rgb(image)
    size = check_positive_int(size, "size")
    height, width = image.shape[:2]
    interpolation = cv2.INTER_AREA if shrinks(height, width, size) else cv2.INTER_LINEAR
    resized = cv2.resize(image.astype(np.float32), (size, size), interpolation=interpolation)
    return np.clip(np.rint(resized), 0, 255).astype(np.uint8)


def resize_mask(mask: np.ndarray, size: int, *, rule: MaskRule = "nearest") -> np.ndarray:
    """Resize a ``bool`` mask to ``size x size``.

    Args:
        mask (np.ndarray): ``(H, W)`` ``bool`` mask. Not modified.
        size (int): output side in pixels.
        rule (str, optional): ``"nearest"``: output pixel ``i`` takes source pixel
            ``floor(i * H / size)`` (the convention of ``cv2.INTER_NEAREST`` and torch's
            ``"nearest"``, in exact integer arithmetic); small lesions can vanish when
            shrinking. ``"any"``: an output pixel is ``True`` when any source pixel under its
            footprint ``[floor(i * H / size), ceil((i + 1) * H / size))`` is, so no lesion
            vanishes (lesions grow by up to one pixel). Default: ``"nearest"``.

    Returns:
        np.ndarray: ``(size, size)`` ``bool`` mask.
    """
    if not isinstance(mask, np.ndarray) or mask.ndim != 2 or mask.dtype != np.bool_:
        raise TypeError(
            f"`mask` must be a 2-D bool array, got {getattr(mask, 'dtype', type(mask))} "
            f"with shape {getattr(mask, 'shape', None)}"
        )
    size = check_positive_int(size, "size")
    if rule not in ("nearest", "any"):
        raise ValueError(f"`rule` must be 'nearest' or 'any', got {rule!r}")
    if rule == "nearest":
        return resize_nearest(mask, size, size)
    return resize_any(mask, size, size)


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


def resize_tensor(box: torch.Tensor, size: int) -> torch.Tensor:
    """Same rule and rounding as :func:`resize_image`, on ``(3, h, w)`` float tensors."""
    if shrinks(box.shape[1], box.shape[2], size):
        resized = _area_resize(box, size)
    else:
        resized = kornia_resize(
            box[None], (size, size), interpolation="bilinear", align_corners=False
        )[0]
    return resized.round().clamp(0, 255)

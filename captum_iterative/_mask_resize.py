"""Resizing masks and label images: the one ``"nearest"`` and the one ``"any"`` rule.

Both rules are computed in exact integer arithmetic on a source axis of ``n`` pixels resized to
``size`` pixels; a 2-D array is resized along each axis independently.

- ``"nearest"``: output pixel ``i`` takes source pixel ``floor(i * n / size)`` (the convention
  of ``cv2.INTER_NEAREST`` and torch's ``"nearest"``, not the pixel-centre
  ``cv2.INTER_NEAREST_EXACT``). Small lesions can vanish when shrinking.
- ``"any"``: output pixel ``i`` covers the source pixels ``[floor(i * n / size),
  ceil((i + 1) * n / size))`` (its footprint); equivalently source pixel ``y`` lies under the
  output pixels ``[floor(y * size / n), ceil((y + 1) * size / n))``. A mask's output pixel is
  True when any source pixel of its footprint is, so no lesion vanishes (lesions grow by up to
  one pixel); a label image's output pixel goes to a label with a pixel in its footprint.

The fundus preprocessing (:func:`~captum_iterative.fundus.preprocess.resize_mask`: fields of
view and lesion masks), :func:`~captum_iterative.evaluation.resize_masks_checked` and
:func:`~captum_iterative.evaluation.resize_lesion_labels` all resize through this module.
"""

from __future__ import annotations

import numpy as np

__all__ = ["resize_any", "resize_any_labels", "resize_nearest"]


def nearest_index(n_in: int, n_out: int) -> np.ndarray:
    """Source index of each output pixel: ``floor(i * n_in / n_out)``, in exact integers."""
    return (np.arange(n_out, dtype=np.int64) * n_in) // n_out


def resize_nearest(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """``(H, W)`` mask or label image -> ``(height, width)`` by the ``"nearest"`` rule (a new
    array of ``array``'s dtype)."""
    rows, cols = array.shape
    return array[np.ix_(nearest_index(rows, height), nearest_index(cols, width))]


def _footprints(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)``: output pixel ``i`` covers source ``[lo[i], hi[i])`` (``hi > lo``)."""
    steps = np.arange(n_out + 1, dtype=np.int64)
    lo, hi = (steps[:-1] * n_in) // n_out, -((-steps[1:] * n_in) // n_out)
    return lo, np.maximum(hi, lo + 1)


def resize_any(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """``(H, W)`` bool mask -> ``(height, width)`` bool by the ``"any"`` rule."""
    rows, cols = mask.shape
    integral = np.zeros((rows + 1, cols + 1), dtype=np.int64)
    integral[1:, 1:] = mask.cumsum(axis=0).cumsum(axis=1)
    y_lo, y_hi = _footprints(rows, height)
    x_lo, x_hi = _footprints(cols, width)
    counts = (
        integral[np.ix_(y_hi, x_hi)]
        - integral[np.ix_(y_lo, x_hi)]
        - integral[np.ix_(y_hi, x_lo)]
        + integral[np.ix_(y_lo, x_lo)]
    )
    return counts > 0


def _covered(index: np.ndarray, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Output pixels ``[lo, hi)`` under source pixels ``index`` (the inverse of a footprint)."""
    lo = (index * n_out) // n_in
    hi = np.minimum(-((-(index + 1) * n_out) // n_in), n_out)
    return lo, hi


def resize_any_labels(labels: np.ndarray, height: int, width: int) -> tuple[np.ndarray, int]:
    """``(H, W)`` integer label image -> ``(height, width)`` ``int32`` by the ``"any"`` rule.

    A label claims every output pixel whose footprint holds one of its pixels; where labels
    compete, the smaller one (fewer source pixels; then the lower id) gets the pixel.

    Returns:
        tuple[np.ndarray, int]: the label image, and the number of labels that lost every pixel.
    """
    rows, cols = np.nonzero(labels > 0)
    ids = labels[rows, cols].astype(np.int64)
    out = np.zeros((height, width), dtype=np.int32)
    if ids.size == 0:
        return out, 0
    h, w = labels.shape
    y0, y1 = _covered(rows.astype(np.int64), h, height)
    x0, x1 = _covered(cols.astype(np.int64), w, width)
    span_y, span_x = int((y1 - y0).max()), int((x1 - x0).max())
    pix, lab = [], []
    for dy in range(span_y):
        for dx in range(span_x):
            keep = (y0 + dy < y1) & (x0 + dx < x1)
            pix.append((y0[keep] + dy) * width + x0[keep] + dx)
            lab.append(ids[keep])
    pixels, owners = np.concatenate(pix), np.concatenate(lab)
    sizes = np.bincount(ids)[owners]
    order = np.lexsort((owners, sizes, pixels))
    pixels, owners = pixels[order], owners[order]
    first = np.unique(pixels, return_index=True)[1]
    out.flat[pixels[first]] = owners[first]
    lost = np.setdiff1d(np.unique(ids), out).size
    return out, int(lost)

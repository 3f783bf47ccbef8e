"""Lesions as label images: carrying lesion masks to another frame without losing any.

A lesion is a connected component of a boolean mask, or the pixels of one positive label of an
integer label image. :func:`resize_lesion_labels` carries labels made at native resolution to the
maps' frame so that no lesion vanishes and touching lesions stay apart;
:func:`resize_masks_checked` resizes a boolean mask and reports the lesions that vanished;
:func:`lesion_labels` is what :func:`~captum_iterative.evaluation.froc` reads from either form.
Both resizers use the package's one mask resizer (``captum_iterative._mask_resize``), as the
fundus preprocessing does: :func:`resize_masks_checked` its ``"nearest"`` rule,
:func:`resize_lesion_labels` its ``"any"`` rule.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from skimage.measure import label as label_components

from captum_iterative._checks import check_size_2d
from captum_iterative._mask_resize import resize_any_labels, resize_nearest
from captum_iterative.evaluation._inputs import (
    ArrayOrTensor,
    as_array,
    check_mask,
    skimage_connectivity,
)

__all__ = ["lesion_labels", "resize_lesion_labels", "resize_masks_checked"]


def resize_masks_checked(
    mask: ArrayOrTensor,
    size: int | tuple[int, int],
    *,
    connectivity: int = 8,
    on_vanish: Literal["raise", "warn"] = "raise",
) -> np.ndarray:
    """Resize a lesion mask with nearest neighbour and check that no lesion vanished.

    Small lesions (microaneurysms) can fall between the sampled pixels when a mask is shrunk:
    a 1-pixel lesion shrunk 3x survives only if it sits on the top-left pixel of its 3 x 3 cell.
    The mask's lesions (connected components) are labelled at the input resolution, the label
    image is resized by the package's ``"nearest"`` rule (output pixel ``i`` takes source pixel
    ``floor(i * H / height)``, as ``cv2.INTER_NEAREST`` and the fundus preprocessing's
    :func:`~captum_iterative.fundus.preprocess.resize_mask`), and every label missing from the
    result is reported. Nearest-neighbour shrinking can also merge neighbouring lesions; that is
    not reported.

    Args:
        mask (np.ndarray or Tensor): ``(H, W)`` bool lesion mask.
        size (int or tuple[int, int]): output ``(height, width)``, or one int for a square.
        connectivity (int, optional): 8 or 4, the lesion definition. Default: 8.
        on_vanish (str, optional): ``"raise"`` a ``ValueError`` or ``"warn"`` (``UserWarning``)
            when a lesion vanished. Default: ``"raise"``.

    Returns:
        np.ndarray: ``(height, width)`` bool mask (a new array).

    Raises:
        ValueError: if a lesion vanished and ``on_vanish="raise"``, naming how many and where.

    Examples::

        >>> mask = np.zeros((9, 9), dtype=bool)
        >>> mask[3, 3] = True                      # top-left pixel of the middle 3 x 3 cell
        >>> int(resize_masks_checked(mask, 3).sum())
        1
    """
    array = as_array(mask, "mask")
    if array.ndim != 2:
        raise ValueError(f"`mask` must have shape (H, W), got {array.shape}")
    if array.dtype != np.bool_:
        raise TypeError(f"`mask` must be a bool mask, got dtype {array.dtype}")
    height, width = check_size_2d(size)
    if on_vanish not in ("raise", "warn"):
        raise ValueError(f'`on_vanish` must be "raise" or "warn", got {on_vanish!r}')
    labels, n_lesions = label_components(
        array, connectivity=skimage_connectivity(connectivity), return_num=True
    )
    resized = resize_nearest(labels.astype(np.int32), height, width)
    vanished = np.setdiff1d(np.arange(1, n_lesions + 1), resized)
    if vanished.size:
        where = []
        for lesion in vanished[:5]:
            rows, cols = np.nonzero(labels == lesion)
            where.append(f"{rows.size} px at row {rows.min()}, col {cols.min()}")
        more = ", ..." if vanished.size > 5 else ""
        message = (
            f"{vanished.size} of {n_lesions} lesions vanished when resizing `mask` from "
            f"{array.shape} to {(height, width)} ({'; '.join(where)}{more}); label lesions at the "
            "native resolution or scale the maps up instead"
        )
        if on_vanish == "raise":
            raise ValueError(message)
        warnings.warn(message, UserWarning, stacklevel=2)
    return resized > 0


def resize_lesion_labels(
    labels: ArrayOrTensor, size: int | tuple[int, int]
) -> tuple[np.ndarray, int]:
    """Carry lesions labelled at native resolution to another frame without losing any.

    Each output pixel covers a rectangle of source pixels; a lesion claims every output pixel
    whose rectangle holds at least one of its pixels (the ``"any"`` rule, as
    :func:`~captum_iterative.fundus.preprocess.resize_mask` with ``rule="any"``, in exact
    integers), so no lesion vanishes when a mask is shrunk, and lesions keep their own labels
    even where their footprints touch (touching lesions are not merged, unlike thresholding a
    resized boolean mask). Where two lesions claim the same output pixel the smaller lesion
    (fewer source pixels) gets it, so small lesions survive next to large ones; a lesion can
    still be lost when smaller lesions claim all of its pixels, which only happens when several
    lesions fall into one output pixel: the number of such lesions is returned.

    Args:
        labels (np.ndarray or Tensor): ``(H, W)`` integer label image at native resolution (0 =
            background), e.g. ``skimage.measure.label(mask, connectivity=2)``.
        size (int or tuple[int, int]): output ``(height, width)``, or one int for a square.

    Returns:
        tuple[np.ndarray, int]: the ``(height, width)`` ``int32`` label image (same ids), and the
        number of lesions that lost every pixel.

    Examples::

        >>> labels = np.zeros((9, 9), dtype=np.int32)
        >>> labels[0, 0] = 1; labels[0, 3] = 2      # two 1-pixel lesions, 3 px apart
        >>> small, lost = resize_lesion_labels(labels, 3)
        >>> sorted(np.unique(small[small > 0]).tolist()), lost   # both kept, one pixel each
        ([1, 2], 0)
    """
    array = as_array(labels, "labels")
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(
            f"`labels` must be an (H, W) integer label image, got {array.dtype} {array.shape}"
        )
    height, width = check_size_2d(size)
    return resize_any_labels(array, height, width)


def lesion_labels(
    value: object, name: str, shape: tuple[int, ...], index: int, connectivity: int
) -> tuple[np.ndarray, int]:
    """Lesion label image and lesion count of a bool mask or an integer label image."""
    array = as_array(value, name)
    if np.issubdtype(array.dtype, np.integer):
        if array.shape != shape:
            raise ValueError(
                f"`{name}` has shape {array.shape}, but `maps[{index}]` has shape {shape}"
            )
        if (array < 0).any():
            raise ValueError(f"`{name}` is a label image with negative labels")
        return array, int(np.unique(array[array > 0]).size)
    mask = check_mask(value, name, shape, index)
    labels, n_lesions = label_components(mask, connectivity=connectivity, return_num=True)
    return labels, int(n_lesions)

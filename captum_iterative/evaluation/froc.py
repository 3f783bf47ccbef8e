r"""Free-response ROC (FROC) of attribution maps against lesion masks.

This is the localization protocol of González-Gonzalo et al. (IEEE TMI 2020, section III-D):
each map is scanned greedily, every detection is a disc of radius ``r`` around the highest
remaining map value, and the detections of all images are pooled into one threshold sweep. The
paper reports the sensitivity at an average of 10 false positives per image (SE/10FPs).

The choices the paper leaves open are fixed here, each with a keyword of :func:`froc`:

- a lesion is a connected component of the boolean reference mask (``connectivity=8``), or,
  when an integer label image is given instead of a mask, the pixels of one positive label
  (lesions labelled at native resolution and carried to the maps' frame by
  :func:`resize_lesion_labels` keep their identity even where they touch);
- a pixel is inside the disc when :math:`dy^2 + dx^2 \le r^2` (integer pixel offsets from the
  detection);
- one disc may detect several lesions; each lesion is counted once;
- a disc that touches only lesions already detected (a duplicate) is neither a true nor a false
  positive (``duplicates="ignore"``, as in CAMELYON16 and LUNA16); ``duplicates="fp"`` counts it
  as a false positive;
- a disc that touches no lesion but the optional ``ignore_masks`` (e.g. the other lesion types)
  is neither a true nor a false positive; without ``ignore_masks`` it is a false positive;
- among equal map values the first pixel in row-major order is taken first;
- the curve pools all images: sensitivity = detected lesions / all lesions, false positives per
  image = all false positives / number of images; detections with equal scores enter the sweep
  together;
- maps are compared as they are (``normalize=None``) unless per-image normalization is asked.
"""

from __future__ import annotations

import functools
import heapq
import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from captum_iterative._checks import check_positive_int, check_real
from captum_iterative.evaluation._inputs import (
    ArrayOrTensor,
    check_map,
    check_mask,
    check_sequence,
    per_image,
    skimage_connectivity,
)
from captum_iterative.evaluation.froc_result import Detection, FrocResult
from captum_iterative.evaluation.lesion_labels import lesion_labels
from captum_iterative.inpaint.base import disk

__all__ = ["AMD_RADIUS", "DR_RADIUS", "REFERENCE_SIZE", "froc", "scale_radius"]

#: Detection radius of the paper for diabetic retinopathy lesions, in pixels at 512 x 512.
DR_RADIUS: float = 7.0
#: Detection radius of the paper for age-related macular degeneration lesions, at 512 x 512.
AMD_RADIUS: float = 10.0
#: Image side (pixels) at which the paper's radii are given.
REFERENCE_SIZE: int = 512


def scale_radius(
    radius_at_512: float = DR_RADIUS, *, size: int, reference_size: int = REFERENCE_SIZE
) -> float:
    """Scale a detection radius given at ``reference_size`` to maps of side ``size``.

    Args:
        radius_at_512 (float, optional): radius in pixels at ``reference_size``.
            Default: :data:`DR_RADIUS` (7.0; use :data:`AMD_RADIUS`, 10.0, for AMD).
        size (int): side in pixels of the (square) maps being evaluated.
        reference_size (int, optional): side at which ``radius_at_512`` holds. Default: 512.

    Returns:
        float: ``radius_at_512 * size / reference_size`` (not rounded; :func:`froc` accepts
        fractional radii).

    Examples::

        >>> scale_radius(7.0, size=224)
        3.0625
    """
    radius = check_real(radius_at_512, "radius_at_512", minimum=0.0)
    size = check_positive_int(size, "size")
    return radius * size / check_positive_int(reference_size, "reference_size")


def froc(
    maps: Sequence[ArrayOrTensor] | ArrayOrTensor,
    masks: Sequence[ArrayOrTensor] | ArrayOrTensor,
    radius: float,
    *,
    max_detections: int | None = None,
    ignore_masks: Sequence[ArrayOrTensor | None] | ArrayOrTensor | None = None,
    fovs: Sequence[ArrayOrTensor | None] | ArrayOrTensor | None = None,
    duplicates: Literal["ignore", "fp"] = "ignore",
    connectivity: int = 8,
    max_fps_per_image: float | None = 10.0,
    normalize: Literal["max", "minmax"] | None = None,
) -> FrocResult:
    r"""Pooled FROC of attribution maps against lesion masks (the paper's SE/10FPs protocol).

    Per image, the highest remaining map value is taken, a disc of ``radius`` is drawn around it
    (:math:`dy^2 + dx^2 \le r^2`), the disc is classified (see the module docstring: true
    positive if it hits a lesion not yet detected, duplicate, ignored or false positive) and
    the map is masked out inside it; this repeats until the map is exhausted. The detections of
    all images are pooled and swept by score.

    Scan length: the images are scanned together in decreasing score order (each image's scores
    never increase), and the scan stops after the first group of equal scores that brings the
    pooled false positives above ``max_fps_per_image`` per image. Every threshold whose average
    is still within the budget therefore sees all the detections it would see with no cap, so
    the curve is exact up to ``max_fps_per_image``. A per-image cap of 10 false positives would
    not be: with 2 images, one image alone may hold up to 20 false positives above a threshold
    whose average is still 10.

    Args:
        maps (sequence of np.ndarray or Tensor): one ``(H_i, W_i)`` (or ``(1, H_i, W_i)``)
            real-valued map per image, or one ``(N, 1, H, W)`` or ``(N, H, W)`` array or tensor
            (``result.augmented`` of the loop as it is). Values must be finite. Not modified.
        masks (sequence of np.ndarray or Tensor): ``(H_i, W_i)`` bool lesion masks, one per
            map (or the same batched forms as ``maps``), or integer label images (0 = background,
            each positive value one lesion, e.g. from :func:`resize_lesion_labels`). An image
            without lesions still counts: its detections are false positives and it counts in
            the number of images.
        radius (float): detection radius in pixels (>= 0); see :func:`scale_radius`.
        max_detections (int, optional): at most this many detections per image (>= 1);
            the curve then describes the capped scan. Default: None (no cap).
        ignore_masks (sequence of np.ndarray or Tensor, optional): ``(H_i, W_i)`` bool masks
            (or None entries, or batched as ``maps``); a disc hitting no lesion but a True pixel
            here is neither a true nor a false positive. Default: None.
        fovs (sequence of np.ndarray or Tensor, optional): ``(H_i, W_i)`` bool
            field-of-view masks (or None entries, or batched as ``maps``); pixels outside are
            never detection centres. Default: None.
        duplicates (str, optional): ``"ignore"`` (a disc hitting only detected lesions counts
            neither way) or ``"fp"`` (it is a false positive). Default: ``"ignore"``.
        connectivity (int, optional): 8 or 4, the pixel connectivity defining a lesion.
            Default: 8.
        max_fps_per_image (float, optional): the pooled false-positive budget (>= 0) after which
            the scan stops; None scans every map to exhaustion. Default: 10.0.
        normalize (str, optional): None keeps the maps as they are; ``"max"`` divides each map
            by its largest absolute value over the field of view; ``"minmax"`` maps the field of
            view's range to [0, 1]. Constant (or all-zero) maps become all zeros. Default: None.

    Returns:
        FrocResult: the staircase curve, counts and per-image detections.

    Raises:
        TypeError: for a non-array entry, a bool or non-numeric map, or a non-bool mask.
        ValueError: for mismatched lengths or shapes (naming the argument and image index),
            non-finite map values, or an invalid keyword value.

    Examples::

        >>> rng = np.random.default_rng(0)
        >>> maps = [rng.random((128, 128)) for _ in range(2)]
        >>> masks = [np.zeros((128, 128), dtype=bool) for _ in range(2)]
        >>> masks[0][40:44, 60:64] = True
        >>> maps[0][41, 61] = 2.0                # the strongest evidence is on the lesion
        >>> result = froc(maps, masks, radius=7.0)
        >>> result.n_images, result.n_lesions, result.truncated
        (2, 1, True)
        >>> result.sensitivity_at(10.0)          # SE/10FPs
        1.0
        >>> ax = result.plot(label="saliency")   # the paper's Fig. 3
    """
    radius = check_real(radius, "radius", minimum=0.0)
    if max_detections is not None:
        check_positive_int(max_detections, "max_detections")
    budget = None
    if max_fps_per_image is not None:
        budget = check_real(max_fps_per_image, "max_fps_per_image", minimum=0.0)
    if duplicates not in ("ignore", "fp"):
        raise ValueError(f'`duplicates` must be "ignore" or "fp", got {duplicates!r}')
    if normalize not in (None, "max", "minmax"):
        raise ValueError(f'`normalize` must be None, "max" or "minmax", got {normalize!r}')
    label_connectivity = skimage_connectivity(connectivity)

    maps, masks = per_image(maps, "maps"), per_image(masks, "masks")
    ignore_masks = per_image(ignore_masks, "ignore_masks")
    fovs = per_image(fovs, "fovs")
    n_images = check_sequence(maps, "maps", None)
    check_sequence(masks, "masks", n_images)
    if ignore_masks is not None:
        check_sequence(ignore_masks, "ignore_masks", n_images)
    if fovs is not None:
        check_sequence(fovs, "fovs", n_images)

    scans: list[_ImageScan] = []
    lesions_per_image = np.zeros(n_images, dtype=np.int64)
    for i in range(n_images):
        work = check_map(maps[i], f"maps[{i}]")
        labels, n_lesions = lesion_labels(
            masks[i], f"masks[{i}]", work.shape, i, label_connectivity
        )
        lesions_per_image[i] = n_lesions
        ignore = None
        if ignore_masks is not None and ignore_masks[i] is not None:
            ignore = check_mask(ignore_masks[i], f"ignore_masks[{i}]", work.shape, i)
        if fovs is not None and fovs[i] is not None:
            fov = check_mask(fovs[i], f"fovs[{i}]", work.shape, i)
            work[~fov] = -np.inf
        if normalize is not None:
            _normalize_in_place(work, normalize)
        # A disc wider than the image's diagonal covers no more of it: the footprint stays small
        # whatever the radius (1e300 once asked torch for a 1e300-wide grid).
        footprint = _footprint(min(radius, math.hypot(*work.shape)))
        scans.append(_ImageScan(work, labels, ignore, footprint, duplicates == "fp"))

    detections: list[list[Detection]] = [[] for _ in range(n_images)]
    heap = [(-scan.next_score(), i) for i, scan in enumerate(scans) if scan.has_next()]
    heapq.heapify(heap)
    total_fp = 0
    group_score = math.inf
    truncated = False
    while heap:
        score = -heap[0][0]
        if budget is not None and total_fp / n_images > budget and score < group_score:
            truncated = True
            break
        _, i = heapq.heappop(heap)
        detection = scans[i].take()
        detections[i].append(detection)
        total_fp += detection.is_fp
        group_score = score
        room = max_detections is None or len(detections[i]) < max_detections
        if room and scans[i].has_next():
            heapq.heappush(heap, (-scans[i].next_score(), i))

    fps_per_image, sensitivity, thresholds = _sweep(
        detections, int(lesions_per_image.sum()), n_images
    )
    return FrocResult(
        fps_per_image=fps_per_image,
        sensitivity=sensitivity,
        thresholds=thresholds,
        n_lesions=int(lesions_per_image.sum()),
        n_images=n_images,
        lesions_per_image=lesions_per_image,
        detections=detections,
        max_fps_per_image=budget,
        truncated=truncated,
    )


class _ImageScan:
    """The greedy scan of one map, producing detections lazily in non-increasing score order.

    The argmax is found through per-row maxima (first row holding the maximum, then first
    column in it), which is the row-major first maximum of the whole map; a detection only
    recomputes the maxima of the rows its disc covers.
    """

    def __init__(
        self,
        work: np.ndarray,
        labels: np.ndarray,
        ignore: np.ndarray | None,
        footprint: np.ndarray,
        duplicates_fp: bool,
    ) -> None:
        self._work = work
        self._row_max = work.max(axis=1)
        self._labels = labels
        self._ignore = ignore
        self._footprint = footprint
        self._reach = footprint.shape[0] // 2
        self._duplicates_fp = duplicates_fp
        self._detected: set[int] = set()

    def has_next(self) -> bool:
        return self.next_score() > -np.inf

    def next_score(self) -> float:
        return float(self._row_max.max())

    def take(self) -> Detection:
        y = int(np.argmax(self._row_max))
        x = int(np.argmax(self._work[y]))
        score = float(self._work[y, x])
        height, width = self._work.shape
        r = self._reach
        y0, y1 = max(y - r, 0), min(y + r + 1, height)
        x0, x1 = max(x - r, 0), min(x + r + 1, width)
        disc = self._footprint[y0 - y + r : y1 - y + r, x0 - x + r : x1 - x + r]
        inside = self._labels[y0:y1, x0:x1][disc]
        hit = tuple(int(v) for v in np.unique(inside[inside > 0]))
        new = tuple(v for v in hit if v not in self._detected)
        self._detected.update(new)
        if new:
            is_fp = False
        elif hit:
            is_fp = self._duplicates_fp
        else:
            is_fp = self._ignore is None or not self._ignore[y0:y1, x0:x1][disc].any()
        self._work[y0:y1, x0:x1][disc] = -np.inf
        self._row_max[y0:y1] = self._work[y0:y1].max(axis=1)
        return Detection(y, x, score, bool(new), is_fp, hit, new)


def _sweep(
    detections: list[list[Detection]], n_lesions: int, n_images: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pool all detections into the staircase (fps_per_image, sensitivity, thresholds)."""
    flat = [d for dets in detections for d in dets]
    scores = np.array([d.score for d in flat], dtype=np.float64)
    new = np.array([len(d.lesions_new) for d in flat], dtype=np.int64)
    fp = np.array([d.is_fp for d in flat], dtype=np.int64)
    order = np.argsort(-scores, kind="stable")
    scores, new, fp = scores[order], new[order], fp[order]
    group_end = np.flatnonzero(np.append(scores[1:] != scores[:-1], True)[: scores.size])
    thresholds = np.concatenate([[np.inf], scores[group_end]])
    cum_new = np.concatenate([[0], np.cumsum(new)[group_end]])
    cum_fp = np.concatenate([[0], np.cumsum(fp)[group_end]])
    if n_lesions:
        sensitivity = cum_new / n_lesions
    else:
        sensitivity = np.full(len(thresholds), np.nan)
    return cum_fp / n_images, sensitivity.astype(np.float64), thresholds


def _normalize_in_place(work: np.ndarray, mode: str) -> None:
    """Normalize the candidate (finite) pixels of ``work``, a private float64 copy."""
    candidates = np.isfinite(work)
    if not candidates.any():
        return
    values = work[candidates]
    if mode == "max":
        scale = np.abs(values).max()
        work[candidates] = values / scale if scale > 0 else 0.0
    else:
        low, high = values.min(), values.max()
        work[candidates] = (values - low) / (high - low) if high > low else 0.0


@functools.lru_cache(maxsize=8)
def _footprint(radius: float) -> np.ndarray:
    """The bool hit disc of ``radius`` (:func:`~captum_iterative.inpaint.disk`), built once per
    radius; read only."""
    return disk(radius).bool().numpy()

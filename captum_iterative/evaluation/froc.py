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

import heapq
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import cv2
import numpy as np
import torch
from skimage.measure import label as label_components

from captum_iterative._checks import check_positive_int, to_numpy

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "AMD_RADIUS",
    "DR_RADIUS",
    "REFERENCE_SIZE",
    "CamelyonFroc",
    "Detection",
    "FrocResult",
    "froc",
    "resize_lesion_labels",
    "resize_masks_checked",
    "scale_radius",
]

#: Detection radius of the paper for diabetic retinopathy lesions, in pixels at 512 x 512.
DR_RADIUS: float = 7.0
#: Detection radius of the paper for age-related macular degeneration lesions, at 512 x 512.
AMD_RADIUS: float = 10.0
#: Image side (pixels) at which the paper's radii are given.
REFERENCE_SIZE: int = 512

#: Points of the summary table (false positives per image).
_SUMMARY_FPS: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 10.0)

ArrayOrTensor = np.ndarray | torch.Tensor


@dataclass(frozen=True)
class Detection:
    """One detection of the greedy scan of one map.

    Attributes:
        y (int): row of the disc centre.
        x (int): column of the disc centre.
        score (float): map value at the centre (after ``normalize``, if asked).
        is_tp (bool): the disc detected at least one lesion not detected before.
        is_fp (bool): the disc counts as a false positive.
        lesions_hit (tuple[int, ...]): ids of all lesions with a pixel inside the disc. Ids are
            the labels of :func:`skimage.measure.label` on the image's mask (1, 2, ... in
            row-major order of each lesion's first pixel).
        lesions_new (tuple[int, ...]): the ids of ``lesions_hit`` that this disc detected first.
    """

    y: int
    x: int
    score: float
    is_tp: bool
    is_fp: bool
    lesions_hit: tuple[int, ...]
    lesions_new: tuple[int, ...]

    @property
    def outcome(self) -> str:
        """``"tp"``, ``"fp"``, ``"duplicate"`` (only lesions already detected; also when
        ``duplicates="fp"`` made it a false positive) or ``"ignored"`` (hit only the ignore mask).
        """
        if self.is_tp:
            return "tp"
        if self.lesions_hit:
            return "duplicate"
        return "fp" if self.is_fp else "ignored"


class CamelyonFroc(NamedTuple):
    """Detections in the form of the CAMELYON16 evaluation script and of MONAI.

    ``monai.metrics.compute_froc_curve_data(*result.to_camelyon())`` takes it as it is.

    Attributes:
        fp_probs (np.ndarray): ``(F,)`` float64 scores of the false positives, all images pooled.
        tp_probs (np.ndarray): ``(num_targets,)`` float64, one entry per lesion: the score of the
            detection that detected it first (the highest score among the discs touching it),
            ``-inf`` for a lesion no detection reached. Detected lesions come first, in scan
            order.
        num_targets (int): number of lesions over all images.
        num_images (int): number of images.
    """

    fp_probs: np.ndarray
    tp_probs: np.ndarray
    num_targets: int
    num_images: int


@dataclass(frozen=True, repr=False, eq=False)
class FrocResult:
    """A pooled FROC curve and the detections it was built from.

    The curve is a staircase: point ``k`` holds the operating point of the threshold
    ``thresholds[k]`` (detections with ``score >= thresholds[k]`` are kept). Point 0 is the
    threshold ``+inf`` (no detection, 0 false positives, sensitivity 0).

    Attributes:
        fps_per_image (np.ndarray): ``(K,)`` float64, non-decreasing average number of false
            positives per image.
        sensitivity (np.ndarray): ``(K,)`` float64, non-decreasing fraction of lesions detected;
            all NaN when there is no lesion in any mask.
        thresholds (np.ndarray): ``(K,)`` float64, decreasing; ``thresholds[0] = inf``.
        n_lesions (int): number of lesions over all images.
        n_images (int): number of images (the denominator of ``fps_per_image``).
        lesions_per_image (np.ndarray): ``(n_images,)`` int64 lesion counts.
        detections (list[list[Detection]]): per image, its detections in scan order.
        max_fps_per_image (float or None): the false-positive budget of the scan.
        truncated (bool): ``True`` when the scan stopped at the budget with detections left, so
            the curve is exact only up to ``max_fps_per_image``.
    """

    fps_per_image: np.ndarray
    sensitivity: np.ndarray
    thresholds: np.ndarray
    n_lesions: int
    n_images: int
    lesions_per_image: np.ndarray
    detections: list[list[Detection]]
    max_fps_per_image: float | None
    truncated: bool

    def sensitivity_at(
        self, fps: float | Sequence[float] | np.ndarray = 10.0
    ) -> float | np.ndarray:
        """Highest sensitivity reached while the average false positives per image is <= ``fps``.

        Args:
            fps (float or sequence of float, optional): false positives per image, each finite
                and >= 0. Default: 10.0 (the paper's SE/10FPs).

        Returns:
            float for a scalar ``fps``, otherwise an array of ``fps``' shape (float64). NaN when
            there are no lesions at all. A curve that ends before ``fps`` (the maps ran out)
            gives its last sensitivity.

        Raises:
            ValueError: if ``fps`` is negative or not finite, or exceeds ``max_fps_per_image``
                of a truncated scan (the curve is unknown there).
        """
        values = np.asarray(fps, dtype=np.float64)
        if not np.isfinite(values).all() or (values < 0).any():
            raise ValueError(f"`fps` must be finite and >= 0, got {fps!r}")
        if (
            self.truncated
            and self.max_fps_per_image is not None
            and (values > self.max_fps_per_image).any()
        ):
            raise ValueError(
                f"`fps` = {fps!r} exceeds max_fps_per_image = {self.max_fps_per_image} of the "
                "scan, so the curve is not known there; call froc() with a larger "
                "`max_fps_per_image` (or None)"
            )
        index = np.searchsorted(self.fps_per_image, values, side="right") - 1
        result = self.sensitivity[index]
        return float(result) if result.ndim == 0 else result

    def to_camelyon(self) -> CamelyonFroc:
        """The detections in the CAMELYON16 / MONAI form (``fp_probs``, ``tp_probs``, ...).

        MONAI's ``compute_froc_curve_data`` on it gives this curve at every threshold it
        evaluates: all distinct scores but the lowest one, which CAMELYON16's script (and
        MONAI's copy) reserves for "not detected" (0 there, ``-inf`` here), so when every lesion
        is detected the point of the lowest score is missing from MONAI's curve. Duplicates and
        ignored detections are neither false positives nor hits, as in :func:`froc`. A truncated
        scan exports the detections up to its budget only.

        Returns:
            CamelyonFroc: ``(fp_probs, tp_probs, num_targets, num_images)``.

        Examples::

            >>> from monai.metrics import compute_froc_curve_data
            >>> fps_per_image, sensitivity = compute_froc_curve_data(*result.to_camelyon())
        """
        flat = [d for dets in self.detections for d in dets]
        fp_probs = np.array([d.score for d in flat if d.is_fp], dtype=np.float64)
        hits = [d.score for d in flat for _ in d.lesions_new]
        missed = np.full(self.n_lesions - len(hits), -np.inf)
        tp_probs = np.concatenate([np.array(hits, dtype=np.float64), missed])
        return CamelyonFroc(fp_probs, tp_probs, self.n_lesions, self.n_images)

    def plot(self, ax: Axes | None = None, label: str | None = None, **kwargs: Any) -> Axes:
        """Draw the FROC staircase with a logarithmic false-positive axis (the paper's Fig. 3).

        The x axis spans from the power of ten at or below ``1 / n_images`` to
        ``max_fps_per_image`` (or the last point when there is no budget); points with zero
        false positives are drawn at its left edge. A curve whose maps ran out is extended flat.

        Args:
            ax (matplotlib.axes.Axes, optional): axes to draw on. Default: None (a new figure).
            label (str, optional): legend label; a legend is drawn when given. Default: None.
            **kwargs: passed to :meth:`matplotlib.axes.Axes.step` (``color``, ``linestyle``...).

        Returns:
            matplotlib.axes.Axes: the axes drawn on.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        left = 10.0 ** math.floor(math.log10(1.0 / self.n_images))
        last_fps = float(self.fps_per_image[-1])
        if self.max_fps_per_image is not None:
            right = self.max_fps_per_image
        else:
            right = max(last_fps, 10.0)
        right = max(right, 10.0 * left)
        x = np.maximum(self.fps_per_image, left)
        y = self.sensitivity
        if not self.truncated and last_fps < right:
            x = np.append(x, right)
            y = np.append(y, y[-1])
        ax.step(x, y, where="post", label=label, **kwargs)
        ax.set_xscale("log")
        ax.set_xlim(left, right)
        ax.set_ylim(0.0, 1.0)
        ax.set_xlabel("Average number of false positives per image")
        ax.set_ylabel("Sensitivity")
        ax.grid(True, which="both", alpha=0.3)
        if label is not None:
            ax.legend(loc="lower right")
        return ax

    def _summary_points(self) -> list[float]:
        if self.truncated and self.max_fps_per_image is not None:
            return [f for f in _SUMMARY_FPS if f <= self.max_fps_per_image]
        return list(_SUMMARY_FPS)

    def summary(self) -> str:
        """A short multi-line text: counts, then the sensitivity at 1/8 ... 10 FPs per image."""
        flat = [d for dets in self.detections for d in dets]
        outcomes = [d.outcome for d in flat]
        lines = [
            f"FROC over {self.n_images} images, {self.n_lesions} lesions, {len(flat)} detections: "
            f"{sum(d.is_tp for d in flat)} TP, {sum(d.is_fp for d in flat)} FP, "
            f"{outcomes.count('duplicate')} duplicate, {outcomes.count('ignored')} ignored",
        ]
        points = self._summary_points()
        if points:
            values = np.atleast_1d(self.sensitivity_at(points))
            lines.append("FPs/image    " + " ".join(f"{f:>6g}" for f in points))
            lines.append("sensitivity  " + " ".join(f"{v:>6.3f}" for v in values))
        if self.truncated:
            lines.append(f"(scan stopped past {self.max_fps_per_image:g} FPs per image)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        at = self._summary_points()[-1] if self._summary_points() else 0.0
        return (
            f"FrocResult(n_images={self.n_images}, n_lesions={self.n_lesions}, "
            f"points={len(self.thresholds)}, truncated={self.truncated}, "
            f"sensitivity_at({at:g})={self.sensitivity_at(at):.4f})"
        )


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
    radius = _check_real(radius_at_512, "radius_at_512", minimum=0.0)
    size = check_positive_int(size, "size")
    return radius * size / check_positive_int(reference_size, "reference_size")


def resize_masks_checked(
    mask: ArrayOrTensor,
    size: int | tuple[int, int],
    *,
    connectivity: int = 8,
    on_vanish: Literal["raise", "warn"] = "raise",
) -> np.ndarray:
    """Resize a lesion mask with nearest neighbour and check that no lesion vanished.

    Small lesions (microaneurysms) can fall between the sampled pixels when a mask is shrunk:
    a 1-pixel lesion shrunk 3x survives only if it sits on the centre of its 3 x 3 cell. The
    mask's lesions (connected components) are labelled at the input resolution, the label image
    is resized with OpenCV's ``INTER_NEAREST_EXACT`` (pixel-centre sampling, as scikit-image and
    PIL), and every label missing from the result is reported. Nearest-neighbour shrinking can
    also merge neighbouring lesions; that is not reported.

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
        >>> mask[4, 4] = True                      # centre of the middle 3 x 3 cell
        >>> int(resize_masks_checked(mask, 3).sum())
        1
    """
    array = _to_numpy(mask, "mask")
    if array.ndim != 2:
        raise ValueError(f"`mask` must have shape (H, W), got {array.shape}")
    if array.dtype != np.bool_:
        raise TypeError(f"`mask` must be a bool mask, got dtype {array.dtype}")
    if isinstance(size, int) and not isinstance(size, bool):
        height, width = size, size
    elif (
        isinstance(size, tuple)
        and len(size) == 2
        and all(isinstance(s, int) and not isinstance(s, bool) for s in size)
    ):
        height, width = size
    else:
        raise TypeError(f"`size` must be an int or a (height, width) tuple of ints, got {size!r}")
    if height < 1 or width < 1:
        raise ValueError(f"`size` must be positive, got {size!r}")
    if on_vanish not in ("raise", "warn"):
        raise ValueError(f'`on_vanish` must be "raise" or "warn", got {on_vanish!r}')
    labels, n_lesions = label_components(
        array, connectivity=_skimage_connectivity(connectivity), return_num=True
    )
    resized = cv2.resize(
        labels.astype(np.int32), (width, height), interpolation=cv2.INTER_NEAREST_EXACT
    )
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
    whose rectangle holds at least one of its pixels (the ``"any"`` rule), so no lesion vanishes
    when a mask is shrunk, and lesions keep their own labels even where their footprints touch
    (touching lesions are not merged, unlike thresholding a resized boolean mask). Where two
    lesions claim the same output pixel the smaller lesion (fewer source pixels) gets it, so small
    lesions survive next to large ones; a lesion can still be lost when smaller lesions claim all
    of its pixels, which only happens when several lesions fall into one output pixel: the number
    of such lesions is returned.

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
    array = _to_numpy(labels, "labels")
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(
            f"`labels` must be an (H, W) integer label image, got {array.dtype} {array.shape}"
        )
    if isinstance(size, tuple) and len(size) == 2:
        height, width = int(size[0]), int(size[1])
    elif isinstance(size, int) and not isinstance(size, bool):
        height, width = size, size
    else:
        raise TypeError(f"`size` must be an int or a (height, width) tuple, got {size!r}")
    if height < 1 or width < 1:
        raise ValueError(f"`size` must be positive, got {size!r}")
    rows, cols = np.nonzero(array > 0)
    ids = array[rows, cols].astype(np.int64)
    out = np.zeros((height, width), dtype=np.int32)
    if ids.size == 0:
        return out, 0
    h, w = array.shape
    # Output pixels overlapped by source pixel [y, y + 1): floor(y s) .. ceil((y + 1) s) - 1.
    sy, sx = height / h, width / w
    y0 = np.floor(rows * sy).astype(np.int64)
    y1 = np.minimum(np.ceil((rows + 1) * sy).astype(np.int64), height)
    x0 = np.floor(cols * sx).astype(np.int64)
    x1 = np.minimum(np.ceil((cols + 1) * sx).astype(np.int64), width)
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


def froc(
    maps: Sequence[ArrayOrTensor] | ArrayOrTensor,
    masks: Sequence[ArrayOrTensor] | ArrayOrTensor,
    radius: float,
    *,
    max_detections: int | None = None,
    ignore_masks: Sequence[ArrayOrTensor | None] | ArrayOrTensor | None = None,
    fov_masks: Sequence[ArrayOrTensor | None] | ArrayOrTensor | None = None,
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
        fov_masks (sequence of np.ndarray or Tensor, optional): ``(H_i, W_i)`` bool
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

        >>> maps = [np.random.rand(512, 512) for _ in range(2)]
        >>> masks = [np.zeros((512, 512), dtype=bool) for _ in range(2)]
        >>> masks[0][100:104, 200:204] = True
        >>> result = froc(maps, masks, radius=7.0)
        >>> result.sensitivity_at(10.0)          # SE/10FPs
        >>> result.plot(label="saliency")
    """
    radius = _check_real(radius, "radius", minimum=0.0)
    if max_detections is not None:
        check_positive_int(max_detections, "max_detections")
    budget = None
    if max_fps_per_image is not None:
        budget = _check_real(max_fps_per_image, "max_fps_per_image", minimum=0.0)
    if duplicates not in ("ignore", "fp"):
        raise ValueError(f'`duplicates` must be "ignore" or "fp", got {duplicates!r}')
    if normalize not in (None, "max", "minmax"):
        raise ValueError(f'`normalize` must be None, "max" or "minmax", got {normalize!r}')
    skimage_connectivity = _skimage_connectivity(connectivity)

    maps, masks = _per_image(maps, "maps"), _per_image(masks, "masks")
    ignore_masks = _per_image(ignore_masks, "ignore_masks")
    fov_masks = _per_image(fov_masks, "fov_masks")
    n_images = _check_sequence(maps, "maps", None)
    _check_sequence(masks, "masks", n_images)
    if ignore_masks is not None:
        _check_sequence(ignore_masks, "ignore_masks", n_images)
    if fov_masks is not None:
        _check_sequence(fov_masks, "fov_masks", n_images)

    footprint = _disc(radius)
    scans: list[_ImageScan] = []
    lesions_per_image = np.zeros(n_images, dtype=np.int64)
    for i in range(n_images):
        work = _check_map(maps[i], f"maps[{i}]")
        labels, n_lesions = _lesion_labels(
            masks[i], f"masks[{i}]", work.shape, i, skimage_connectivity
        )
        lesions_per_image[i] = n_lesions
        ignore = None
        if ignore_masks is not None and ignore_masks[i] is not None:
            ignore = _check_mask(ignore_masks[i], f"ignore_masks[{i}]", work.shape, i)
        if fov_masks is not None and fov_masks[i] is not None:
            fov = _check_mask(fov_masks[i], f"fov_masks[{i}]", work.shape, i)
            work[~fov] = -np.inf
        if normalize is not None:
            _normalize_in_place(work, normalize)
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


def _disc(radius: float) -> np.ndarray:
    """Bool footprint ``(2R + 1, 2R + 1)``, ``R = floor(radius)``, True where dy² + dx² <= r²."""
    reach = math.floor(radius)
    offsets = np.arange(-reach, reach + 1)
    return offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius**2


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


def _skimage_connectivity(connectivity: object) -> int:
    if connectivity not in (4, 8) or isinstance(connectivity, bool):
        raise ValueError(f"`connectivity` must be 4 or 8, got {connectivity!r}")
    return 1 if connectivity == 4 else 2


def _check_real(value: object, name: str, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"`{name}` must be a real number, got {type(value).__name__}")
    out = float(value)
    if not math.isfinite(out) or out < minimum:
        raise ValueError(f"`{name}` must be finite and >= {minimum:g}, got {value!r}")
    return out


def _per_image(value: Any, name: str) -> Any:
    """A batch ``(N, 1, H, W)`` (the loop's output shape) as ``(N, H, W)``; others as they are."""
    if isinstance(value, np.ndarray | torch.Tensor) and value.ndim == 4:
        if value.shape[1] != 1:
            raise ValueError(
                f"`{name}` as one array must be (N, 1, H, W) or (N, H, W), got shape "
                f"{tuple(value.shape)}"
            )
        return value[:, 0]
    return value


def _check_sequence(value: object, name: str, length: int | None) -> int:
    if isinstance(value, np.ndarray | torch.Tensor) and value.ndim == 2:
        raise ValueError(
            f"`{name}` must be a sequence of (H, W) arrays; wrap one image as [{name}]"
        )
    if not isinstance(value, Sequence | np.ndarray | torch.Tensor):
        raise TypeError(f"`{name}` must be a sequence of (H, W) arrays, got {type(value).__name__}")
    n = len(value)
    if length is None and n == 0:
        raise ValueError(f"`{name}` is empty")
    if length is not None and n != length:
        raise ValueError(f"`{name}` has {n} entries, but `maps` has {length}")
    return n


def _to_numpy(value: object, name: str) -> np.ndarray:
    """One image's map or mask as an array; a ``(1, H, W)`` entry (a loop map) as ``(H, W)``."""
    value = to_numpy(value)
    if isinstance(value, np.ndarray):
        return value[0] if value.ndim == 3 and value.shape[0] == 1 else value
    raise TypeError(f"`{name}` must be a numpy array or a torch tensor, got {type(value).__name__}")


def _check_map(value: object, name: str) -> np.ndarray:
    """Return a float64 copy of a finite (H, W) map."""
    array = _to_numpy(value, name)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"`{name}` must be a non-empty (H, W) map, got shape {array.shape}")
    if array.dtype == np.bool_ or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise TypeError(f"`{name}` must hold real numbers, got dtype {array.dtype}")
    work = array.astype(np.float64, copy=True)
    if not np.isfinite(work).all():
        raise ValueError(f"`{name}` contains NaN or infinite values")
    return work


def _lesion_labels(
    value: object, name: str, shape: tuple[int, ...], index: int, connectivity: int
) -> tuple[np.ndarray, int]:
    """Lesion label image and lesion count of a bool mask or an integer label image."""
    array = _to_numpy(value, name)
    if np.issubdtype(array.dtype, np.integer):
        if array.shape != shape:
            raise ValueError(
                f"`{name}` has shape {array.shape}, but `maps[{index}]` has shape {shape}"
            )
        if (array < 0).any():
            raise ValueError(f"`{name}` is a label image with negative labels")
        return array, int(np.unique(array[array > 0]).size)
    mask = _check_mask(value, name, shape, index)
    labels, n_lesions = label_components(mask, connectivity=connectivity, return_num=True)
    return labels, int(n_lesions)


def _check_mask(value: object, name: str, shape: tuple[int, ...], index: int) -> np.ndarray:
    array = _to_numpy(value, name)
    if array.dtype != np.bool_:
        raise TypeError(
            f"`{name}` must be a bool mask (or, for lesion masks, an integer label image), got "
            f"dtype {array.dtype}; threshold it first (e.g. `mask > 0`)"
        )
    if array.shape != shape:
        raise ValueError(f"`{name}` has shape {array.shape}, but `maps[{index}]` has shape {shape}")
    return array

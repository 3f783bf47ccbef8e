"""What :func:`~captum_iterative.evaluation.froc` returns: the pooled FROC curve and its detections.

:class:`FrocResult` holds the staircase curve (false positives per image, sensitivity and
threshold at every operating point) with the per-image :class:`Detection` records it was built
from; :meth:`FrocResult.to_camelyon` exports them in the CAMELYON16 / MONAI form
(:class:`CamelyonFroc`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["CamelyonFroc", "Detection", "FrocResult"]

#: Points of the summary table (false positives per image).
_SUMMARY_FPS: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 10.0)


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

            >>> import numpy as np, pytest
            >>> from captum_iterative.evaluation import froc
            >>> mask = np.zeros((16, 16), dtype=bool)
            >>> mask[4:6, 4:6] = True
            >>> saliency = np.zeros((16, 16))
            >>> saliency[5, 5], saliency[12, 12] = 1.0, 0.5
            >>> result = froc([saliency], [mask], radius=2.0, max_fps_per_image=None)
            >>> camelyon = result.to_camelyon()
            >>> camelyon.tp_probs.tolist(), camelyon.num_targets, camelyon.num_images
            ([1.0], 1, 1)
            >>> metrics = pytest.importorskip("monai.metrics")  # the optional extra monai
            >>> fps_per_image, sensitivity = metrics.compute_froc_curve_data(*camelyon)
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

"""The lesion canvas: paints lesions on local patches and keeps masks and records consistent.

Each lesion is painted in a small patch around it: its blend weight (alpha) comes from a shape
function, its colour from a colour function of the pixels it covers, and the image becomes
``image + alpha * (colour - image)``. The canvas guarantees what the generator promises:

* a lesion is only drawn when its whole footprint (alpha > 0.02) lies in the field of view and
  does not touch a lesion of another type, so no mask is hidden by a later lesion;
* its visible part (alpha > 0.5) is one 8-connected region of at least one pixel (stray pieces
  are faded below 0.5), and that region is added to its type's mask;
* every painted lesion is recorded as a :class:`~captum_iterative.fundus.synthetic.records.Lesion`.

A lesion that the reference outlines as a region around several painted parts (a cluster of
hard exudates, as DiaretDB1's experts outlined them) is reserved first (:meth:`fits`), its parts
are painted with ``annotate=False`` (blended, not masked or recorded), and the region is then
masked and recorded once (:meth:`annotate`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

from captum_iterative.fundus.synthetic._window import patch_window
from captum_iterative.fundus.synthetic.colours import ColourFn
from captum_iterative.fundus.synthetic.records import Lesion

#: ``shape(dx, dy) -> (h, w) float32 alpha``; see :mod:`~captum_iterative.fundus.synthetic.shapes`.
ShapeFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

_FOOTPRINT = 0.02


class LesionCanvas:
    """A copy of an anatomy image that lesions are painted on.

    Args:
        image (numpy.ndarray): ``(3, size, size)`` ``float32`` planar RGB; copied.
        fov (numpy.ndarray): ``(size, size)`` ``bool`` field of view.
        vessels (numpy.ndarray): ``(size, size)`` ``bool`` vessel mask.
        types (tuple[str, ...]): the lesion types that get a mask.
    """

    def __init__(
        self, image: np.ndarray, fov: np.ndarray, vessels: np.ndarray, types: tuple[str, ...]
    ) -> None:
        self.image = image.copy()
        self.size = image.shape[-1]
        self.fov = fov
        self.vessels = vessels
        self.masks = {t: np.zeros(fov.shape, dtype=bool) for t in types}
        self.lesions: list[Lesion] = []
        self._owner = np.zeros(fov.shape, dtype=np.int8)
        self._ids = {t: i + 1 for i, t in enumerate(types)}

    def paint(
        self,
        type_: str,
        kind: str,
        center: tuple[float, float],
        radius: float,
        extent: float,
        shape: ShapeFn,
        colour: ColourFn,
        *,
        diameter_um: float = float("nan"),
        avoid_vessels: bool = False,
        annotate: bool = True,
    ) -> bool:
        """Paint one lesion if it fits.

        Args:
            type_ (str): its mask key (one of the canvas's ``types``).
            kind (str): its variant, recorded in the :class:`Lesion`.
            center (tuple[float, float]): ``(x, y)`` centre in pixels.
            radius (float): nominal radius in pixels, recorded.
            extent (float): half-side of the patch in pixels; the shape must fade to 0 inside it.
            shape (ShapeFn): blend weight on the patch.
            colour (ColourFn): target colour of the covered pixels.
            diameter_um (float, optional): nominal diameter in micrometres, recorded.
                Default: NaN
            avoid_vessels (bool, optional): refuse to draw when the visible part touches a
                vessel (for dots that a vessel would hide). Default: False
            annotate (bool, optional): add the visible part to the type's mask and record the
                lesion; ``False`` for the parts of a region lesion (see :meth:`annotate`),
                whose visible part may then be several pieces. Default: True

        Returns:
            bool: whether the lesion was painted (``False``: outside the field of view, on
            another type's lesion, or on a vessel when ``avoid_vessels``).
        """
        rows, cols, dx, dy = patch_window(self.size, center, extent)
        if dx.size == 0 or dy.size == 0:
            return False
        alpha = shape(dx, dy)
        visible = _one_region(alpha, center, rows, cols) if annotate else alpha > 0.5
        footprint = alpha > _FOOTPRINT
        if not self.fov[rows, cols][footprint].all():
            return False
        owner = self._owner[rows, cols]
        tid = self._ids[type_]
        if np.any((owner != 0) & (owner != tid) & footprint):
            return False
        if avoid_vessels and self.vessels[rows, cols][visible].any():
            return False
        patch = self.image[:, rows, cols]
        patch += alpha * (colour(patch, dx, dy) - patch)
        owner[footprint] = tid
        if annotate:
            self.masks[type_][rows, cols] |= visible
            self.lesions.append(
                Lesion(type_, kind, (float(center[0]), float(center[1])), radius, diameter_um)
            )
        return True

    def fits(self, type_: str, rows: slice, cols: slice, region: np.ndarray) -> bool:
        """Whether ``region`` (a bool patch at ``rows, cols``) lies in the field of view and off
        every lesion of another type."""
        if not region.any() or not self.fov[rows, cols][region].all():
            return False
        owner = self._owner[rows, cols]
        return not np.any((owner != 0) & (owner != self._ids[type_]) & region)

    def annotate(
        self,
        type_: str,
        kind: str,
        center: tuple[float, float],
        radius: float,
        rows: slice,
        cols: slice,
        region: np.ndarray,
    ) -> None:
        """Mask and record one region lesion whose parts were painted with ``annotate=False``.

        Args:
            type_ (str): its mask key.
            kind (str): its variant, recorded.
            center (tuple[float, float]): ``(x, y)`` centre in pixels, recorded.
            radius (float): nominal radius in pixels, recorded.
            rows (slice): rows of the patch holding ``region``.
            cols (slice): columns of the patch holding ``region``.
            region (numpy.ndarray): bool patch, one 8-connected region that :meth:`fits`.
        """
        self.masks[type_][rows, cols] |= region
        self._owner[rows, cols][region] = self._ids[type_]
        self.lesions.append(
            Lesion(type_, kind, (float(center[0]), float(center[1])), radius, math.nan)
        )

    def counts(self) -> dict[str, int]:
        """Number of lesions painted per type (every type present)."""
        out = dict.fromkeys(self.masks, 0)
        for lesion in self.lesions:
            out[lesion.type] += 1
        return out

    def to_uint8(self, fov_alpha: np.ndarray, black: float) -> np.ndarray:
        """The finished photograph: the surround set to ``black``, quantised.

        Args:
            fov_alpha (numpy.ndarray): ``(size, size)`` ``float32`` anti-aliased field of view.
            black (float): grey level of the surround.

        Returns:
            numpy.ndarray: ``(size, size, 3)`` ``uint8`` RGB.
        """
        planes = []
        for c in range(3):
            plane = (self.image[c] - np.float32(black)) * fov_alpha + np.float32(black)
            planes.append(np.clip(plane + 0.5, 0, 255).astype(np.uint8))
        return cv2.merge(planes)


def _one_region(
    alpha: np.ndarray, center: tuple[float, float], rows: slice, cols: slice
) -> np.ndarray:
    """Make ``alpha > 0.5`` one non-empty 8-connected region, in place; return that region."""
    visible = alpha > 0.5
    if not visible.any():
        iy = min(max(round(center[1]) - rows.start, 0), alpha.shape[0] - 1)
        ix = min(max(round(center[0]) - cols.start, 0), alpha.shape[1] - 1)
        alpha[iy, ix] = 1.0
        visible[iy, ix] = True
        return visible
    n, labels, stats, _ = cv2.connectedComponentsWithStats(visible.view(np.uint8), connectivity=8)
    if n > 2:
        keep = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        stray = visible & (labels != keep)
        alpha[stray] = np.minimum(alpha[stray], np.float32(0.49))
        visible = labels == keep
    return visible


def retry(draw: Callable[[], bool], tries: int = 10) -> bool:
    """Call ``draw`` until it returns ``True``, at most ``tries`` times; return its success."""
    return any(draw() for _ in range(tries))

"""Grading rules of the synthetic generator: ICDR-like DR grades and AREDS-like AMD stages.

Grades are computed from the lesions actually drawn (:class:`Lesion` records), so an image's
label always agrees with its content.

DR (ICDR-like), first rule that holds:

* 4 proliferative: a neovascularization or a preretinal hemorrhage was drawn;
* 3 severe: at least :data:`SEVERE_HEMORRHAGES_PER_QUADRANT` hemorrhages (dot, blot or flame)
  in each of the four quadrants about the fovea (split by the horizontal and vertical lines
  through it). ICDR's rule is "more than 20 intraretinal hemorrhages in each of 4 quadrants" of
  the whole retina; one 45-degree photograph shows a fraction of it, hence the lower count;
* 2 moderate: any hemorrhage, hard exudate or soft exudate;
* 1 mild: microaneurysms only;
* 0 none: no lesion.

AMD (AREDS-like, on drusen diameters in micrometres), first rule that holds:

* 3 advanced: a neovascular lesion, or geographic atrophy covering the fovea;
* 2 intermediate: a large druse (>= 125 um), at least :data:`INTERMEDIATE_DRUSEN_EXTENSIVE`
  intermediate drusen (63-124 um), or non-central geographic atrophy;
* 1 early: any drusen (small < 63 um or intermediate) or pigment changes;
* 0 none: no lesion (AREDS also counts a few small drusen as "no AMD"; here stage 0 means no
  lesion at all, so stage-0 masks are empty).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from captum_iterative.fundus.synthetic.records import Lesion

__all__ = [
    "INTERMEDIATE_DRUSEN_EXTENSIVE",
    "SEVERE_HEMORRHAGES_PER_QUADRANT",
    "grade_dr",
    "stage_amd",
]

#: Hemorrhages needed in each of the four quadrants for severe NPDR (grade 3).
SEVERE_HEMORRHAGES_PER_QUADRANT = 5
#: Intermediate drusen that make "extensive" intermediate drusen (stage 2).
INTERMEDIATE_DRUSEN_EXTENSIVE = 15
#: Drusen diameter bounds in micrometres: small < 63 <= intermediate < 125 <= large.
DRUSEN_SMALL_UM, DRUSEN_LARGE_UM = 63.0, 125.0

_HEMORRHAGE_KINDS = ("dot", "blot", "flame")


def quadrant(point: tuple[float, float], fovea: tuple[float, float]) -> int:
    """Quadrant of ``point`` about ``fovea`` (``(x, y)`` pixels).

    0 upper right, 1 upper left, 2 lower left, 3 lower right; image ``y`` grows downwards, so
    "upper" means ``y < fovea_y``. A point on the vertical line counts as right, one on the
    horizontal line as lower.
    """
    return int(quadrants(np.asarray([point], dtype=float), fovea)[0])


def quadrants(points: np.ndarray, fovea: tuple[float, float]) -> np.ndarray:
    """:func:`quadrant` of each row of ``points`` ``(P, 2)`` (``(x, y)``); returns ``(P,)`` int."""
    right = points[:, 0] >= fovea[0]
    upper = points[:, 1] < fovea[1]
    return np.where(upper, np.where(right, 0, 1), np.where(right, 3, 2))


def grade_dr(lesions: Iterable[Lesion], fovea: tuple[float, float]) -> int:
    """ICDR-like DR grade of the drawn lesions (rules in the module docstring).

    Args:
        lesions (Iterable[Lesion]): the lesions drawn on one image.
        fovea (tuple[float, float]): ``(x, y)`` fovea centre, which splits the quadrants.

    Returns:
        int: grade 0 (none) to 4 (proliferative).
    """
    per_quadrant = [0, 0, 0, 0]
    other = microaneurysms = False
    for lesion in lesions:
        if lesion.type == "neovascularization" or lesion.kind == "preretinal":
            return 4
        if lesion.type == "hemorrhages" and lesion.kind in _HEMORRHAGE_KINDS:
            per_quadrant[quadrant(lesion.center, fovea)] += 1
        if lesion.type == "microaneurysms":
            microaneurysms = True
        else:
            other = True
    if min(per_quadrant) >= SEVERE_HEMORRHAGES_PER_QUADRANT:
        return 3
    if other:
        return 2
    return 1 if microaneurysms else 0


def drusen_kind(diameter_um: float) -> str:
    """``"small"``, ``"intermediate"`` or ``"large"`` for a druse of this diameter."""
    if diameter_um < DRUSEN_SMALL_UM:
        return "small"
    return "intermediate" if diameter_um < DRUSEN_LARGE_UM else "large"


def atrophy_is_central(lesion: Lesion, fovea: tuple[float, float]) -> bool:
    """Whether a geographic-atrophy lesion covers the fovea (centre closer than its radius)."""
    return math.dist(lesion.center, fovea) < lesion.radius


def stage_amd(lesions: Iterable[Lesion], fovea: tuple[float, float]) -> int:
    """AREDS-like AMD stage of the drawn lesions (rules in the module docstring).

    Args:
        lesions (Iterable[Lesion]): the lesions drawn on one image.
        fovea (tuple[float, float]): ``(x, y)`` fovea centre.

    Returns:
        int: stage 0 (none) to 3 (advanced).
    """
    intermediate = 0
    stage = 0
    for lesion in lesions:
        if lesion.type == "neovascular":
            return 3
        if lesion.type == "atrophy":
            if atrophy_is_central(lesion, fovea):
                return 3
            stage = 2
        elif lesion.type == "drusen":
            kind = drusen_kind(lesion.diameter_um)
            if kind == "large":
                stage = 2
            intermediate += kind == "intermediate"
            stage = max(stage, 1)
        elif lesion.type == "pigment":
            stage = max(stage, 1)
    if intermediate >= INTERMEDIATE_DRUSEN_EXTENSIVE:
        stage = 2
    return stage

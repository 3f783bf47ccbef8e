"""Grading rules of the synthetic generator: ICDR-like DR grades and AREDS-like AMD stages.

Grades are computed from the lesions actually drawn (:class:`Lesion` records), so an image's
label always agrees with its content.

DR (ICDR), on the lesions counted in each quadrant about the fovea (split by the horizontal and
vertical lines through it, :func:`quadrant_counts`); first rule that holds:

* 4 proliferative: a neovascularization or a preretinal hemorrhage was drawn;
* 3 severe: at least :data:`SEVERE_HEMORRHAGES_PER_QUADRANT` intraretinal hemorrhages (dot, blot
  or flame) in each of the four quadrants. ICDR's rule is "more than 20 intraretinal hemorrhages
  in each of 4 quadrants" of the whole retina; one 45-degree photograph shows a fraction of it,
  hence the lower count (venous beading and IRMA, ICDR's other severe signs, are not drawn);
* 2 moderate: more than microaneurysms only: any hemorrhage, hard exudate or cotton-wool spot
  (soft exudate) in any quadrant;
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
    "quadrant_counts",
    "stage_amd",
]

#: Hemorrhages needed in each of the four quadrants for severe NPDR (grade 3).
SEVERE_HEMORRHAGES_PER_QUADRANT = 5
#: Intermediate drusen that make "extensive" intermediate drusen (stage 2).
INTERMEDIATE_DRUSEN_EXTENSIVE = 15
#: Drusen diameter bounds in micrometres: small < 63 <= intermediate < 125 <= large.
DRUSEN_SMALL_UM, DRUSEN_LARGE_UM = 63.0, 125.0

_HEMORRHAGE_KINDS = ("dot", "blot", "flame")
#: The DR lesion types :func:`quadrant_counts` counts (intraretinal hemorrhages only).
DR_COUNTED: tuple[str, ...] = ("microaneurysms", "hemorrhages", "hard_exudates", "soft_exudates")


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


def quadrant_counts(
    lesions: Iterable[Lesion], fovea: tuple[float, float]
) -> dict[str, tuple[int, int, int, int]]:
    """DR lesions per quadrant about the fovea, by type (:data:`DR_COUNTED`).

    Hemorrhages count only when intraretinal (dot, blot or flame; a preretinal hemorrhage is a
    sign of proliferation); a hard-exudate cluster counts once.

    Args:
        lesions (Iterable[Lesion]): the lesions drawn on one image.
        fovea (tuple[float, float]): ``(x, y)`` fovea centre, which splits the quadrants.

    Returns:
        dict[str, tuple[int, int, int, int]]: type -> counts in quadrants 0-3 (see
        :func:`quadrant`).
    """
    counts = {t: [0, 0, 0, 0] for t in DR_COUNTED}
    for lesion in lesions:
        if lesion.type not in counts:
            continue
        if lesion.type == "hemorrhages" and lesion.kind not in _HEMORRHAGE_KINDS:
            continue
        counts[lesion.type][quadrant(lesion.center, fovea)] += 1
    return {t: (c[0], c[1], c[2], c[3]) for t, c in counts.items()}


def grade_dr(lesions: Iterable[Lesion], fovea: tuple[float, float]) -> int:
    """ICDR DR grade of the drawn lesions (rules in the module docstring).

    Args:
        lesions (Iterable[Lesion]): the lesions drawn on one image.
        fovea (tuple[float, float]): ``(x, y)`` fovea centre, which splits the quadrants.

    Returns:
        int: grade 0 (none) to 4 (proliferative).
    """
    lesions = list(lesions)
    if any(le.type == "neovascularization" or le.kind == "preretinal" for le in lesions):
        return 4
    counts = quadrant_counts(lesions, fovea)
    if min(counts["hemorrhages"]) >= SEVERE_HEMORRHAGES_PER_QUADRANT:
        return 3
    if any(sum(counts[t]) for t in DR_COUNTED if t != "microaneurysms"):
        return 2
    return 1 if sum(counts["microaneurysms"]) else 0


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

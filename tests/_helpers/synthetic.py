"""Modes, lesion classes and a reference labeller shared by the synthetic-fundus tests."""

from __future__ import annotations

import numpy as np
from skimage.measure import label

from captum_iterative.fundus.types import AMD_LESIONS, DR_LESIONS

MODES = {"dr": (DR_LESIONS, 4), "amd": (AMD_LESIONS, 3)}
DARK = {"hemorrhages", "microaneurysms", "pigment"}
BRIGHT = {"hard_exudates", "soft_exudates", "drusen", "atrophy"}


def components(mask: np.ndarray) -> int:
    """Number of 8-connected components (scikit-image as the reference labeller)."""
    return int(label(mask, connectivity=2).max())

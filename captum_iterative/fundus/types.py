"""Shared record types and lesion vocabularies for the fundus pipeline.

Every dataset in :mod:`captum_iterative.fundus` (real loaders and the synthetic generator)
yields :class:`FundusSample` records, so training, explanation and evaluation code can treat
them alike.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["AMD_LESIONS", "DR_LESIONS", "FundusSample"]

#: Lesion types of diabetic retinopathy, in the order used by tables and figures.
DR_LESIONS: tuple[str, ...] = (
    "hemorrhages",
    "microaneurysms",
    "hard_exudates",
    "soft_exudates",
)

#: Lesion types of age-related macular degeneration produced by the synthetic generator.
AMD_LESIONS: tuple[str, ...] = (
    "drusen",
    "pigment",
    "atrophy",
    "neovascular",
)


class FundusSample(NamedTuple):
    """One colour fundus photograph with its labels.

    Attributes:
        image: ``(H, W, 3)`` ``uint8`` RGB image.
        grade: ICDR DR grade 0-4 (or AMD stage 0-3), or ``None`` when the dataset has none.
        masks: lesion type -> ``(H, W)`` ``bool`` mask at the image's resolution. Types the
            dataset annotates but this image lacks are present and all ``False``; types the
            dataset does not annotate are absent.
        fov: ``(H, W)`` ``bool`` field-of-view mask (``True`` inside the fundus disc).
        id: the image's identifier within its dataset (e.g. ``"image001"``).
    """

    image: np.ndarray
    grade: int | None
    masks: dict[str, np.ndarray]
    fov: np.ndarray
    id: str

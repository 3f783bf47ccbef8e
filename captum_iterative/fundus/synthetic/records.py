"""Records returned by the synthetic generator: one drawn lesion, one generated image."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from captum_iterative.fundus.types import FundusSample

__all__ = ["Lesion", "SyntheticFundus"]


class Lesion(NamedTuple):
    """One lesion as drawn.

    Attributes:
        type: its mask key (``"hemorrhages"``, ``"drusen"``, ...), or a sign without a mask of
            its own (``"neovascularization"`` in DR images).
        kind: the variant drawn, e.g. ``"microaneurysm"``, ``"dot"``, ``"blot"``, ``"flame"``,
            ``"preretinal"``, ``"small"``/``"intermediate"``/``"large"`` drusen,
            ``"central"``/``"noncentral"`` atrophy.
        center: ``(x, y)`` pixel position of its centre.
        radius: its nominal radius in pixels as drawn.
        diameter_um: its nominal diameter on the retina in micrometres (what AMD staging uses).
    """

    type: str
    kind: str
    center: tuple[float, float]
    radius: float
    diameter_um: float


@dataclass(frozen=True)
class SyntheticFundus:
    """One generated fundus photograph with its ground truth.

    Attributes:
        image: ``(size, size, 3)`` ``uint8`` RGB image.
        masks: lesion type -> ``(size, size)`` ``bool`` mask of where that type is visibly drawn
            (blend weight > 0.5); every type of the mode is present, all ``False`` if absent.
        counts: lesion type -> number of lesions of that type drawn (touching lesions of one
            type can merge into a single connected component of its mask).
        grade: ICDR DR grade 0-4 (``mode="dr"``) or AMD stage 0-3 (``mode="amd"``), computed
            from ``lesions`` by :func:`~captum_iterative.fundus.synthetic.grading.grade_dr` or
            :func:`~captum_iterative.fundus.synthetic.grading.stage_amd`.
        fov: ``(size, size)`` ``bool`` field of view.
        disc_center: ``(x, y)`` optic-disc centre in pixels.
        disc_radius: optic-disc radius in pixels.
        fovea_center: ``(x, y)`` fovea centre in pixels.
        vessels: ``(size, size)`` ``bool`` vessel-tree mask.
        lesions: every lesion drawn, in drawing order.
        extra_masks: masks of signs that are not lesion types of the mode (DR:
            ``"neovascularization"``), all ``False`` if absent.
        mode: ``"dr"`` or ``"amd"``.
        seed: the seed the image was generated from.
    """

    image: np.ndarray
    masks: dict[str, np.ndarray]
    counts: dict[str, int]
    grade: int
    fov: np.ndarray
    disc_center: tuple[float, float]
    disc_radius: float
    fovea_center: tuple[float, float]
    vessels: np.ndarray
    lesions: tuple[Lesion, ...] = field(default=())
    extra_masks: dict[str, np.ndarray] = field(default_factory=dict)
    mode: str = "dr"
    seed: int = 0

    def to_sample(self, id: str | None = None) -> FundusSample:
        """Convert to the pipeline's common record.

        Args:
            id (str, optional): identifier of the sample. Default: ``"synthetic_<mode>_<seed>"``
                with the seed zero-padded to six digits.

        Returns:
            FundusSample: the image, grade, lesion masks and field of view (arrays are shared,
            not copied).
        """
        return FundusSample(
            image=self.image,
            grade=self.grade,
            masks=self.masks,
            fov=self.fov,
            id=f"synthetic_{self.mode}_{self.seed:06d}" if id is None else id,
        )

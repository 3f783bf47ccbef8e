"""``generate_fundus``: one deterministic synthetic fundus photograph with its ground truth."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from captum_iterative.fundus.synthetic.amd import draw_amd_lesions
from captum_iterative.fundus.synthetic.anatomy import (
    fov_alpha,
    render_background,
    render_disc,
    sample_geometry,
    sample_palette,
)
from captum_iterative.fundus.synthetic.canvas import LesionCanvas
from captum_iterative.fundus.synthetic.dr import draw_dr_lesions
from captum_iterative.fundus.synthetic.grading import grade_dr, stage_amd
from captum_iterative.fundus.synthetic.records import SyntheticFundus
from captum_iterative.fundus.synthetic.vessels import render_vessels, sample_vessel_tree
from captum_iterative.fundus.types import AMD_LESIONS, DR_LESIONS

__all__ = ["GRADE_WEIGHTS", "MAX_GRADE", "generate_fundus"]

#: Lesion types with a mask, per mode.
MODE_LESIONS: dict[str, tuple[str, ...]] = {"dr": DR_LESIONS, "amd": AMD_LESIONS}
#: Signs drawn with a mask outside :data:`MODE_LESIONS` (``SyntheticFundus.extra_masks``).
MODE_EXTRAS: dict[str, tuple[str, ...]] = {"dr": ("neovascularization",), "amd": ()}
#: Highest grade per mode: ICDR 0-4 for DR, AREDS-like stages 0-3 for AMD.
MAX_GRADE: dict[str, int] = {"dr": 4, "amd": 3}
#: Grade distributions for ``grade=None``. DR "prevalence" follows APTOS 2019's training labels
#: (1805 / 370 / 999 / 193 / 295 of 3662); AMD "prevalence" is a screening-like guess.
GRADE_WEIGHTS: dict[str, dict[str, tuple[float, ...]]] = {
    "dr": {"prevalence": (0.49, 0.10, 0.27, 0.06, 0.08), "balanced": (0.2,) * 5},
    "amd": {"prevalence": (0.45, 0.25, 0.18, 0.12), "balanced": (0.25,) * 4},
}
_ATTEMPTS = 8


def validate_args(
    seed: object, size: object, mode: object, grade: object, lesion_scale: object
) -> None:
    """Raise ``TypeError``/``ValueError`` naming the first invalid ``generate_fundus`` argument."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"`seed` must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"`seed` must be >= 0, got {seed}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise TypeError(f"`size` must be an int, got {type(size).__name__}")
    if size < 32:
        raise ValueError(f"`size` must be >= 32 pixels, got {size}")
    if mode not in MODE_LESIONS:
        raise ValueError(f"`mode` must be one of {sorted(MODE_LESIONS)}, got {mode!r}")
    if grade is not None:
        if isinstance(grade, bool) or not isinstance(grade, (int, np.integer)):
            raise TypeError(f"`grade` must be an int or None, got {type(grade).__name__}")
        top = MAX_GRADE[str(mode)]
        if not 0 <= grade <= top:
            raise ValueError(f"`grade` must be in 0..{top} for mode {mode!r}, got {grade}")
    if isinstance(lesion_scale, bool) or not isinstance(lesion_scale, (int, float, np.floating)):
        raise TypeError(f"`lesion_scale` must be a number, got {type(lesion_scale).__name__}")
    if not (math.isfinite(lesion_scale) and 0.25 <= lesion_scale <= 4.0):
        raise ValueError(f"`lesion_scale` must be in [0.25, 4], got {lesion_scale}")


def _weights(mode: str, grade_weights: str | Sequence[float]) -> np.ndarray:
    if isinstance(grade_weights, str):
        if grade_weights not in GRADE_WEIGHTS[mode]:
            raise ValueError(
                f"`grade_weights` must be one of {sorted(GRADE_WEIGHTS[mode])} or a sequence "
                f"of {MAX_GRADE[mode] + 1} weights, got {grade_weights!r}"
            )
        w = np.asarray(GRADE_WEIGHTS[mode][grade_weights], dtype=np.float64)
    else:
        w = np.asarray(grade_weights, dtype=np.float64)
        if w.shape != (MAX_GRADE[mode] + 1,) or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(
                f"`grade_weights` must hold {MAX_GRADE[mode] + 1} finite non-negative weights "
                f"for mode {mode!r}, got {grade_weights!r}"
            )
        if w.sum() <= 0:
            raise ValueError("`grade_weights` must not all be zero")
    return w / w.sum()


def generate_fundus(
    seed: int,
    size: int = 512,
    *,
    mode: str = "dr",
    grade: int | None = None,
    lesion_scale: float = 1.0,
    grade_weights: str | Sequence[float] = "prevalence",
) -> SyntheticFundus:
    """Generate one synthetic colour fundus photograph with lesion masks and a grade.

    The image is drawn procedurally: a dark surround and a circular field of view (sometimes
    clipped at the top and bottom), an orange-red retina with uneven illumination, vignetting
    and fine texture, a bright optic disc with its cup, a darker macula and fovea about 2.5
    disc diameters temporal to the disc, a branching vessel tree leaving the disc, and lesions
    drawn to match the grade (see :mod:`~captum_iterative.fundus.synthetic.dr`,
    :mod:`~captum_iterative.fundus.synthetic.amd` and the rules in
    :mod:`~captum_iterative.fundus.synthetic.grading`). Everything comes from one
    ``numpy.random.Generator`` seeded with ``seed``: the same arguments give bit-identical
    results on every call and platform with the same NumPy and OpenCV.

    Args:
        seed (int): non-negative seed.
        size (int, optional): image side in pixels, at least 32. Lesion sizes scale with it.
            Default: 512
        mode (str, optional): ``"dr"`` (diabetic retinopathy: lesion types
            :data:`~captum_iterative.fundus.types.DR_LESIONS`, ICDR grades 0-4) or ``"amd"``
            (age-related macular degeneration: :data:`~captum_iterative.fundus.types.AMD_LESIONS`,
            stages 0-3). Default: ``"dr"``
        grade (int, optional): grade (DR) or stage (AMD) to draw; ``None`` samples it from
            ``grade_weights``. Default: None
        lesion_scale (float, optional): factor on lesion sizes, in [0.25, 4] (below 1,
            microaneurysms may fall under 2 px in radius at 512 px; AMD stages still use the
            nominal drusen diameters). Default: 1.0
        grade_weights (str or Sequence[float], optional): distribution of the sampled grade:
            ``"prevalence"`` (DR: APTOS 2019's label frequencies), ``"balanced"``, or one
            non-negative weight per grade. Ignored when ``grade`` is given.
            Default: ``"prevalence"``

    Returns:
        SyntheticFundus: the ``(size, size, 3)`` ``uint8`` image, masks, counts, grade, field
        of view, landmarks, vessel mask and lesion records.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if ``seed < 0``, ``size < 32``, ``mode`` is unknown, ``grade`` is out of
            range for the mode, ``lesion_scale`` is outside [0.25, 4], or ``grade_weights`` is
            invalid.

    Examples::

        >>> from captum_iterative.fundus.synthetic import generate_fundus
        >>> fundus = generate_fundus(7, size=128, grade=2)
        >>> fundus.image.shape, fundus.image.dtype, fundus.grade
        ((128, 128, 3), dtype('uint8'), 2)
        >>> sorted(fundus.masks)
        ['hard_exudates', 'hemorrhages', 'microaneurysms', 'soft_exudates']
    """
    validate_args(seed, size, mode, grade, lesion_scale)
    size, seed, lesion_scale = int(size), int(seed), float(lesion_scale)
    rng = np.random.default_rng(seed)
    if grade is None:
        grade = int(rng.choice(MAX_GRADE[mode] + 1, p=_weights(mode, grade_weights)))
    grade = int(grade)

    geom = sample_geometry(rng, size)
    palette = sample_palette(rng)
    background = render_background(rng, geom, palette)
    branches = sample_vessel_tree(rng, geom)
    image, vessels = render_vessels(
        rng, geom, render_disc(rng, geom, background), background, branches
    )
    alpha = fov_alpha(geom)
    fov = alpha > 0.5
    types = MODE_LESIONS[mode] + MODE_EXTRAS[mode]
    for _ in range(_ATTEMPTS):
        canvas = LesionCanvas(image, fov, vessels, types)
        if mode == "dr":
            draw_dr_lesions(rng, canvas, geom, grade, palette, branches, lesion_scale)
            drawn = grade_dr(canvas.lesions, geom.fovea_center)
        else:
            draw_amd_lesions(rng, canvas, geom, grade, palette, lesion_scale)
            drawn = stage_amd(canvas.lesions, geom.fovea_center)
        if drawn == grade:
            break
    else:
        raise RuntimeError(
            f"could not draw grade {grade} ({mode}) at size {size} with seed {seed} in "
            f"{_ATTEMPTS} attempts; try a larger size or lesion_scale"
        )
    counts = canvas.counts()
    return SyntheticFundus(
        image=canvas.to_uint8(alpha, black=rng.uniform(0.0, 6.0)),
        masks={t: canvas.masks[t] for t in MODE_LESIONS[mode]},
        counts={t: counts[t] for t in MODE_LESIONS[mode]},
        grade=grade,
        fov=fov,
        disc_center=geom.disc_center,
        disc_radius=geom.disc_radius,
        fovea_center=geom.fovea_center,
        vessels=vessels & fov,
        lesions=tuple(canvas.lesions),
        extra_masks={t: canvas.masks[t] for t in MODE_EXTRAS[mode]},
        mode=mode,
        seed=seed,
    )

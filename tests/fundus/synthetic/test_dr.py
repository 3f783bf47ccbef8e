"""DR lesions per grade (``fundus.synthetic.dr``): ICDR content, DiaretDB1 mixes and sizes, lesions
off the optic disc."""

from __future__ import annotations

import math

import numpy as np
from _helpers.synthetic import components
from skimage.measure import label

from captum_iterative.fundus.synthetic import (
    SEVERE_HEMORRHAGES_PER_QUADRANT,
    generate_fundus,
)
from captum_iterative.fundus.synthetic.dr import PRESENCE
from captum_iterative.fundus.synthetic.grading import quadrant
from captum_iterative.fundus.types import DR_LESIONS


def test_grade_content_matches_icdr_rules() -> None:
    one = generate_fundus(1, 128, grade=1)
    assert one.counts["microaneurysms"] > 0
    assert sum(one.counts[t] for t in DR_LESIONS if t != "microaneurysms") == 0
    severe = generate_fundus(1, 128, grade=3)
    per_quadrant = [0, 0, 0, 0]
    for lesion in severe.lesions:
        if lesion.type == "hemorrhages":
            per_quadrant[quadrant(lesion.center, severe.fovea_center)] += 1
    assert min(per_quadrant) >= SEVERE_HEMORRHAGES_PER_QUADRANT
    proliferative = [generate_fundus(s, 128, grade=4) for s in range(4)]
    assert all(
        f.extra_masks["neovascularization"].any()
        or any(lesion.kind == "preretinal" for lesion in f.lesions)
        for f in proliferative
    )


def test_moderate_images_mix_lesion_types_as_diaretdb1() -> None:
    """Grade-2 images hold hemorrhages, hard exudates and cotton-wool spots independently, at
    DiaretDB1's train-split shares: some show exudates and no hemorrhage at all."""
    images = [generate_fundus(seed, 96, grade=2) for seed in range(60)]
    has = {t: [f.counts[t] > 0 for f in images] for t in PRESENCE}
    exudates_only = sum(
        e and not h for e, h in zip(has["hard_exudates"], has["hemorrhages"], strict=True)
    )
    assert exudates_only >= 1
    # expected share with hemorrhages 0.93 (presence 21/23, at least one non-MA type present)
    assert 0.8 <= np.mean(has["hemorrhages"]) < 1.0
    assert 0.1 <= np.mean(has["soft_exudates"]) <= 0.45  # expected 0.26


def test_a_hard_exudate_cluster_is_one_region_lesion() -> None:
    f = generate_fundus(0, 512, grade=3)
    clusters = [lesion for lesion in f.lesions if lesion.type == "hard_exudates"]
    assert clusters and all(c.kind in ("scatter", "patch", "ring") for c in clusters)
    assert 1 <= components(f.masks["hard_exudates"]) <= len(clusters)


def test_microaneurysm_areas_are_diaretdb1_sized() -> None:
    # DiaretDB1's train split at 512 px: microaneurysms of 4 / 8 / 12 px (10th / 50th / 90th
    # percentile, docs/synthetic.md); drawn radii of 0.8-1.4 px give one to a dozen pixels.
    areas = []
    for seed in range(4):
        f = generate_fundus(seed, 512, grade=1 + seed)
        labels = label(f.masks["microaneurysms"], connectivity=2)
        areas += np.bincount(labels.ravel())[1:].tolist()
    assert len(areas) >= 10
    assert 1 <= min(areas) and max(areas) <= 12
    assert 3 <= np.median(areas) <= 8


def test_microaneurysm_size_scales_with_image_and_lesion_scale() -> None:
    for size, scale in [(512, 1.0), (256, 1.0), (256, 2.0)]:
        f = generate_fundus(4, size, grade=1, lesion_scale=scale)
        radii = [lesion.radius for lesion in f.lesions if lesion.type == "microaneurysms"]
        s = size / 512 * scale
        assert radii and all(max(0.75, 0.8 * s) <= r <= max(0.75, 1.4 * s) for r in radii)


def test_lesions_stay_off_the_optic_disc() -> None:
    for seed in range(4):
        f = generate_fundus(seed, 128, grade=3)
        for lesion in f.lesions:
            if lesion.type in DR_LESIONS and lesion.kind != "preretinal":
                assert math.dist(lesion.center, f.disc_center) > 1.2 * f.disc_radius

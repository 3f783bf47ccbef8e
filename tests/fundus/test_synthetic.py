"""Tests of the procedural synthetic fundus generator (captum_iterative.fundus.synthetic)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skimage.measure import label

from captum_iterative.fundus.synthetic import (
    INTERMEDIATE_DRUSEN_EXTENSIVE,
    SEVERE_HEMORRHAGES_PER_QUADRANT,
    Lesion,
    SyntheticFundus,
    SyntheticFundusDataset,
    generate_fundus,
    grade_dr,
    quadrant_counts,
    stage_amd,
)
from captum_iterative.fundus.synthetic.anatomy import DISC_DIAMETER_UM
from captum_iterative.fundus.synthetic.dr import PRESENCE
from captum_iterative.fundus.synthetic.grading import drusen_kind, quadrant
from captum_iterative.fundus.types import AMD_LESIONS, DR_LESIONS, FundusSample

MODES = {"dr": (DR_LESIONS, 4), "amd": (AMD_LESIONS, 3)}
DARK = {"hemorrhages", "microaneurysms", "pigment"}
BRIGHT = {"hard_exudates", "soft_exudates", "drusen", "atrophy"}


def _components(mask: np.ndarray) -> int:
    """Number of 8-connected components (scikit-image as the reference labeller)."""
    return int(label(mask, connectivity=2).max())


def _same(a: SyntheticFundus, b: SyntheticFundus) -> bool:
    return (
        np.array_equal(a.image, b.image)
        and all(np.array_equal(a.masks[k], b.masks[k]) for k in a.masks)
        and np.array_equal(a.fov, b.fov)
        and a.counts == b.counts
        and a.grade == b.grade
        and a.lesions == b.lesions
    )


# -- determinism -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["dr", "amd"])
def test_same_seed_is_bit_identical(mode: str) -> None:
    first = generate_fundus(11, 96, mode=mode)
    second = generate_fundus(11, 96, mode=mode)
    assert _same(first, second)


def test_different_seeds_differ() -> None:
    images = [generate_fundus(seed, 64, grade=0).image for seed in range(4)]
    for i in range(4):
        for j in range(i + 1, 4):
            assert not np.array_equal(images[i], images[j])


def test_generation_does_not_touch_global_random_state() -> None:
    np.random.seed(3)  # noqa: NPY002 (the legacy global state is what is checked)
    expected = np.random.random(3)  # noqa: NPY002
    np.random.seed(3)  # noqa: NPY002
    generate_fundus(5, 64)
    assert np.array_equal(np.random.random(3), expected)  # noqa: NPY002


# -- shapes, dtypes, field of view ------------------------------------------------------------


@pytest.mark.parametrize("size", [32, 63, 64, 97, 128])
@pytest.mark.parametrize("mode", ["dr", "amd"])
def test_shapes_and_dtypes(size: int, mode: str) -> None:
    types, top = MODES[mode]
    f = generate_fundus(size, size, mode=mode, grade=top)
    assert f.image.shape == (size, size, 3) and f.image.dtype == np.uint8
    assert f.fov.shape == (size, size) and f.fov.dtype == np.bool_
    assert f.vessels.shape == (size, size) and f.vessels.dtype == np.bool_
    assert tuple(f.masks) == types and tuple(f.counts) == types
    for mask in [*f.masks.values(), *f.extra_masks.values()]:
        assert mask.shape == (size, size) and mask.dtype == np.bool_
    assert set(f.extra_masks) == ({"neovascularization"} if mode == "dr" else set())
    assert all(isinstance(n, int) for n in f.counts.values())


def test_field_of_view_and_surround() -> None:
    f = generate_fundus(2, 128, grade=2)
    cx, cy = f.image.shape[1] / 2, f.image.shape[0] / 2
    assert f.fov[int(cy), int(cx)] and not f.fov[0, 0] and not f.fov[-1, -1]
    assert f.fov.mean() > 0.5
    rim = cv2.dilate(f.fov.view(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert f.image[~rim].max() <= 7  # dark surround beyond the anti-aliased edge
    assert np.median(f.image[f.fov][:, 0]) > 2 * np.median(f.image[f.fov][:, 2])  # orange-red


def test_some_fields_of_view_are_clipped_top_and_bottom() -> None:
    clipped = 0
    for seed in range(12):
        fov = generate_fundus(seed, 64, grade=0).fov
        rows = np.flatnonzero(fov.any(axis=1))
        widest = fov.sum(axis=1).max()
        clipped += fov[rows[0]].sum() > 0.4 * widest  # a flat top, not a circle's tip
    assert 0 < clipped < 12


@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.sampled_from([48, 64, 81]),
    mode=st.sampled_from(["dr", "amd"]),
)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_invariants_over_seeds(seed: int, size: int, mode: str) -> None:
    types, top = MODES[mode]
    f = generate_fundus(seed, size, mode=mode, grade_weights="balanced")
    assert 0 <= f.grade <= top
    rule = grade_dr if mode == "dr" else stage_amd
    assert rule(f.lesions, f.fovea_center) == f.grade
    for t in types:
        assert not (f.masks[t] & ~f.fov).any()
        assert f.masks[t].any() == (f.counts[t] > 0)
        assert _components(f.masks[t]) <= f.counts[t]
        assert f.counts[t] == sum(lesion.type == t for lesion in f.lesions)
    for lesion in f.lesions:
        assert f.fov[round(lesion.center[1]), round(lesion.center[0])]


# -- anatomy ------------------------------------------------------------------------------------


def _luminance(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)


@pytest.mark.parametrize("seed", range(4))
def test_disc_is_bright_and_fovea_dark(seed: int) -> None:
    f = generate_fundus(seed, 256, grade=0)
    lum = _luminance(f.image)
    yy, xx = np.mgrid[: lum.shape[0], : lum.shape[1]]
    d_disc = np.hypot(xx - f.disc_center[0], yy - f.disc_center[1])
    d_fovea = np.hypot(xx - f.fovea_center[0], yy - f.fovea_center[1])
    dd = 2 * f.disc_radius
    retina = f.fov & (d_disc > 1.5 * dd) & (d_fovea > 1.0 * dd)
    disc = (d_disc < 0.8 * f.disc_radius) & ~f.vessels
    assert lum[disc].mean() > 1.4 * np.median(lum[retina])
    assert lum[d_fovea < 0.15 * dd].mean() < 0.9 * np.median(lum[retina])
    assert 2.2 <= math.dist(f.disc_center, f.fovea_center) / dd <= 2.8
    # The vessel tree leaves the disc and reaches the periphery.
    assert f.vessels[d_disc < 1.5 * f.disc_radius].mean() > 0.1
    assert f.vessels[retina].mean() > 0.03
    assert lum[f.vessels & retina].mean() < np.median(lum[retina])


# -- grades ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "grade"), [("dr", g) for g in range(5)] + [("amd", g) for g in range(4)]
)
def test_requested_grade_is_honoured(mode: str, grade: int) -> None:
    rule = grade_dr if mode == "dr" else stage_amd
    for seed in range(6):
        f = generate_fundus(seed, 96, mode=mode, grade=grade)
        assert f.grade == grade
        assert rule(f.lesions, f.fovea_center) == grade


@pytest.mark.parametrize("mode", ["dr", "amd"])
def test_grade_zero_has_empty_masks(mode: str) -> None:
    for seed in range(3):
        f = generate_fundus(seed, 80, mode=mode, grade=0)
        assert not any(m.any() for m in f.masks.values())
        assert not any(m.any() for m in f.extra_masks.values())
        assert set(f.counts.values()) == {0} and f.lesions == ()


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


def test_sampled_grades_follow_the_weights() -> None:
    grades = [generate_fundus(s, 32, grade_weights=(0, 0, 1, 0, 1)).grade for s in range(12)]
    assert set(grades) == {2, 4}
    prevalence = [generate_fundus(s, 32).grade for s in range(40)]
    assert prevalence.count(0) > prevalence.count(3)


def _lesion(
    type_: str, kind: str, x: float, y: float, radius: float = 2.0, um: float = 50.0
) -> Lesion:
    return Lesion(type_, kind, (x, y), radius, um)


def test_grade_dr_known_answers() -> None:
    fovea = (50.0, 50.0)
    corners = [(60, 40), (40, 40), (40, 60), (60, 60)]
    assert [quadrant(c, fovea) for c in corners] == [0, 1, 2, 3]
    assert grade_dr([], fovea) == 0
    assert grade_dr([_lesion("microaneurysms", "microaneurysm", 60, 40)], fovea) == 1
    assert grade_dr([_lesion("hard_exudates", "dot", 60, 40)], fovea) == 2
    severe = [
        _lesion("hemorrhages", "blot", x, y) for x, y in corners
    ] * SEVERE_HEMORRHAGES_PER_QUADRANT
    assert grade_dr(severe, fovea) == 3
    assert grade_dr(severe[1:], fovea) == 2  # one quadrant one short
    assert grade_dr([_lesion("hemorrhages", "preretinal", 60, 40)], fovea) == 4
    assert grade_dr([_lesion("neovascularization", "disc", 60, 40)], fovea) == 4
    assert grade_dr([_lesion("soft_exudates", "cotton_wool", 40, 60)], fovea) == 2
    counts = quadrant_counts(
        [
            *severe[1:],
            _lesion("hemorrhages", "preretinal", 60, 40),  # not intraretinal: not counted
            _lesion("microaneurysms", "microaneurysm", 40, 60),
            _lesion("hard_exudates", "ring", 60, 60),
        ],
        fovea,
    )
    n = SEVERE_HEMORRHAGES_PER_QUADRANT
    assert counts == {
        "microaneurysms": (0, 0, 1, 0),
        "hemorrhages": (n - 1, n, n, n),
        "hard_exudates": (0, 0, 0, 1),
        "soft_exudates": (0, 0, 0, 0),
    }


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
    assert 1 <= _components(f.masks["hard_exudates"]) <= len(clusters)


def test_stage_amd_known_answers() -> None:
    fovea = (50.0, 50.0)
    assert drusen_kind(62.9) == "small" and drusen_kind(63) == "intermediate"
    assert drusen_kind(124.9) == "intermediate" and drusen_kind(125) == "large"
    assert stage_amd([], fovea) == 0
    assert stage_amd([_lesion("drusen", "small", 55, 55, um=40)], fovea) == 1
    assert stage_amd([_lesion("pigment", "hyperpigmentation", 55, 55)], fovea) == 1
    few = [_lesion("drusen", "intermediate", 55, 55, um=90)] * (INTERMEDIATE_DRUSEN_EXTENSIVE - 1)
    assert stage_amd(few, fovea) == 1
    assert stage_amd([*few, few[0]], fovea) == 2
    assert stage_amd([_lesion("drusen", "large", 55, 55, um=150)], fovea) == 2
    assert stage_amd([_lesion("atrophy", "noncentral", 80, 50, radius=10)], fovea) == 2
    assert stage_amd([_lesion("atrophy", "central", 55, 50, radius=10)], fovea) == 3
    assert stage_amd([_lesion("neovascular", "choroidal", 55, 50)], fovea) == 3


# -- lesions are visible where masked -----------------------------------------------------------


@pytest.mark.parametrize("mode", ["dr", "amd"])
def test_lesions_are_visible_where_masked(mode: str) -> None:
    """Every masked lesion differs from the ring of retina around it in the green channel:
    red lesions and pigment darker, exudates, drusen and atrophy brighter. At 512 px, the size
    whose DiaretDB1 contrasts the generator copies (the faintest microaneurysms darken green by
    about 5 %, less than the retina's texture varies at 128 px)."""
    _, top = MODES[mode]
    checked = 0
    kernel = np.ones((3, 3), np.uint8)
    for seed in range(8):
        f = generate_fundus(seed, 512, mode=mode, grade=1 + seed % top)
        lesions = np.logical_or.reduce([*f.masks.values(), *f.extra_masks.values()])
        green = f.image[..., 1].astype(np.float64)
        for t, mask in f.masks.items():
            labels = label(mask, connectivity=2)
            for i in range(1, labels.max() + 1):
                comp = labels == i
                ring = cv2.dilate(comp.view(np.uint8), kernel, iterations=2).astype(bool)
                ring &= ~lesions & ~f.vessels & f.fov
                if ring.sum() < 4:
                    continue
                delta = green[comp].mean() - green[ring].mean()
                assert (delta < 0) if t in DARK else (delta > 0), (t, seed, i, delta)
                checked += 1
    assert checked > 50


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


def test_drusen_sizes_follow_their_class() -> None:
    f = generate_fundus(6, 512, mode="amd", grade=2)
    px_per_um = 2 * f.disc_radius / DISC_DIAMETER_UM
    drusen = [lesion for lesion in f.lesions if lesion.type == "drusen"]
    assert drusen
    for d in drusen:
        assert d.kind == drusen_kind(d.diameter_um)
        assert d.radius == pytest.approx(max(0.75, d.diameter_um / 2 * px_per_um))


def test_lesions_stay_off_the_optic_disc() -> None:
    for seed in range(4):
        f = generate_fundus(seed, 128, grade=3)
        for lesion in f.lesions:
            if lesion.type in DR_LESIONS and lesion.kind != "preretinal":
                assert math.dist(lesion.center, f.disc_center) > 1.2 * f.disc_radius


# -- records and dataset ------------------------------------------------------------------------


def test_to_sample() -> None:
    f = generate_fundus(42, 64, grade=2)
    sample = f.to_sample()
    assert isinstance(sample, FundusSample)
    assert sample.id == "synthetic_dr_000042" and sample.grade == 2
    assert sample.image is f.image and sample.masks is f.masks and sample.fov is f.fov
    assert f.to_sample("custom").id == "custom"


def test_dataset_items_do_not_depend_on_access_order() -> None:
    forward = SyntheticFundusDataset(5, size=48, seed=3)
    backward = SyntheticFundusDataset(5, size=48, seed=3)
    first = [forward[i] for i in range(5)]
    second = [backward[i] for i in reversed(range(5))][::-1]
    for a, b in zip(first, second, strict=True):
        assert a.id == b.id and a.grade == b.grade
        assert np.array_equal(a.image, b.image)
    assert not np.array_equal(first[0].image, first[1].image)
    other = SyntheticFundusDataset(5, size=48, seed=4)
    assert not np.array_equal(first[0].image, other[0].image)


def test_dataset_ids_grades_and_transform() -> None:
    data = SyntheticFundusDataset(
        6, size=40, mode="amd", grades="balanced", transform=lambda s: s.grade
    )
    assert len(data) == 6
    assert data.ids[:2] == ["synthetic_amd_000000", "synthetic_amd_000001"]
    assert [data[i] for i in range(6)] == [0, 1, 2, 3, 0, 1]
    assert data[-1] == data[5]
    with pytest.raises(IndexError):
        data[6]
    fixed = SyntheticFundusDataset(3, size=40, grades=[4, 0, 2])
    assert [fixed[i].grade for i in range(3)] == [4, 0, 2]
    assert fixed[1].id == "synthetic_dr_000001"
    assert isinstance(fixed.item_seed(1), int) and fixed.item_seed(1) != fixed.item_seed(2)


def test_dataset_works_with_a_torch_dataloader() -> None:
    torch = pytest.importorskip("torch")
    data = SyntheticFundusDataset(
        4, size=32, grades="balanced", transform=lambda s: torch.from_numpy(s.image)
    )
    batch = next(iter(torch.utils.data.DataLoader(data, batch_size=4)))
    assert tuple(batch.shape) == (4, 32, 32, 3) and batch.dtype == torch.uint8


# -- argument checks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"size": 31}, "size"),
        ({"mode": "glaucoma"}, "mode"),
        ({"grade": 5}, "grade"),
        ({"grade": -1}, "grade"),
        ({"mode": "amd", "grade": 4}, "grade"),
        ({"lesion_scale": 0.0}, "lesion_scale"),
        ({"lesion_scale": float("nan")}, "lesion_scale"),
        ({"grade_weights": "uniform"}, "grade_weights"),
        ({"grade_weights": (1, 1)}, "grade_weights"),
        ({"grade_weights": (0, 0, 0, 0, 0)}, "grade_weights"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=f"`{name}`"):
        generate_fundus(0, **{"size": 64, **kwargs})


def test_bad_types_and_seed() -> None:
    with pytest.raises(ValueError, match="`seed`"):
        generate_fundus(-1, 64)
    with pytest.raises(TypeError, match="`seed`"):
        generate_fundus(1.5, 64)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`size`"):
        generate_fundus(0, 64.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`grade`"):
        generate_fundus(0, 64, grade=True)  # type: ignore[arg-type]


def test_dataset_bad_arguments() -> None:
    with pytest.raises(ValueError, match="`n`"):
        SyntheticFundusDataset(-1)
    with pytest.raises(ValueError, match="`size`"):
        SyntheticFundusDataset(2, size=16)
    with pytest.raises(ValueError, match="`mode`"):
        SyntheticFundusDataset(2, mode="x")
    with pytest.raises(ValueError, match="`grades`"):
        SyntheticFundusDataset(2, grades=[0])
    with pytest.raises(ValueError, match="`grades`"):
        SyntheticFundusDataset(2, mode="amd", grades=[0, 4])
    with pytest.raises(ValueError, match="`grades`"):
        SyntheticFundusDataset(2, grades="random")

"""The FROC scan and sweep (``evaluation.froc``): known answers and a brute-force reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _helpers.froc import canvas
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from captum_iterative.evaluation import (
    AMD_RADIUS,
    DR_RADIUS,
    FrocResult,
    froc,
    scale_radius,
)


def _points(result: FrocResult) -> list[tuple[float, float, float]]:
    return list(
        zip(
            result.thresholds.tolist(),
            result.fps_per_image.tolist(),
            result.sensitivity.tolist(),
            strict=True,
        )
    )


def _reference_froc(
    maps: list[np.ndarray],
    masks: list[np.ndarray],
    radius: float,
    fovs: list[np.ndarray],
    ignores: list[np.ndarray | None],
    duplicates: str,
    connectivity: int,
) -> tuple[list[tuple[float, float, float]], list[list[tuple]]]:
    """Obviously correct FROC: full-image distance maps, Python loops, naive threshold sweep."""
    structure = np.ones((3, 3)) if connectivity == 8 else None
    n_lesions = 0
    per_image = []
    for m, mask, fov, ignore in zip(maps, masks, fovs, ignores, strict=True):
        labels, n = ndimage.label(mask, structure=structure)
        n_lesions += n
        work = np.where(fov, m.astype(np.float64), -np.inf)
        rows, cols = np.indices(m.shape)
        detected: set[int] = set()
        dets = []
        while True:
            y, x = np.unravel_index(np.argmax(work), work.shape)
            if work[y, x] == -np.inf:
                break
            disc = (rows - y) ** 2 + (cols - x) ** 2 <= radius**2
            hit = {int(v) for v in labels[disc]} - {0}
            new = hit - detected
            detected |= new
            if new:
                fp = False
            elif hit:
                fp = duplicates == "fp"
            else:
                fp = not (ignore is not None and ignore[disc].any())
            dets.append((int(y), int(x), float(work[y, x]), bool(new), fp, len(hit), len(new)))
            work[disc] = -np.inf
        per_image.append(dets)
    everything = [d for dets in per_image for d in dets]
    points = [(math.inf, 0.0, 0.0 if n_lesions else math.nan)]
    for t in sorted({d[2] for d in everything}, reverse=True):
        kept = [d for d in everything if d[2] >= t]
        fps = sum(d[4] for d in kept) / len(maps)
        sens = sum(d[6] for d in kept) / n_lesions if n_lesions else math.nan
        points.append((t, fps, sens))
    return points, per_image


@st.composite
def _froc_cases(draw: st.DrawFn) -> dict:
    n = draw(st.integers(1, 3))
    maps, masks, fovs, ignores = [], [], [], []
    for _ in range(n):
        shape = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
        maps.append(draw(arrays(np.float64, shape, elements=st.integers(-2, 3).map(float))))
        masks.append(draw(arrays(np.bool_, shape)))
        fovs.append(draw(arrays(np.bool_, shape)) | draw(st.booleans()))
        ignores.append(draw(st.none() | arrays(np.bool_, shape)))
    return {
        "maps": maps,
        "masks": masks,
        "fovs": fovs,
        "ignores": ignores,
        "radius": draw(st.sampled_from([0.0, 1.0, 1.5, 2.0, math.sqrt(5), 3.2])),
        "duplicates": draw(st.sampled_from(["ignore", "fp"])),
        "connectivity": draw(st.sampled_from([4, 8])),
    }


def _same(a: list[tuple[float, float, float]], b: list[tuple[float, float, float]]) -> bool:
    return len(a) == len(b) and all(
        all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(p, q, strict=True))
        for p, q in zip(a, b, strict=True)
    )


def test_lesion_hit_by_first_detection() -> None:
    m, mask = canvas()
    mask[10, 10] = True
    m[10, 11] = 5.0
    result = froc([m], [mask], radius=2.0, max_fps_per_image=None)
    first = result.detections[0][0]
    assert (first.y, first.x, first.score) == (10, 11, 5.0)
    assert first.is_tp and not first.is_fp and first.lesions_new == (1,)
    assert _points(result)[:2] == [(math.inf, 0.0, 0.0), (5.0, 0.0, 1.0)]
    assert result.n_lesions == 1 and result.n_images == 1
    assert result.sensitivity_at(0.0) == 1.0


def test_two_lesions_under_one_disc_are_both_detected() -> None:
    m, mask = canvas()
    mask[5, 5] = mask[5, 9] = True
    m[5, 7] = 1.0
    result = froc([m], [mask], radius=2.0)
    first = result.detections[0][0]
    assert first.lesions_hit == (1, 2) and first.lesions_new == (1, 2)
    assert result.sensitivity[1] == 1.0 and result.fps_per_image[1] == 0.0


def test_duplicate_is_neither_by_default_and_fp_on_request() -> None:
    m, mask = canvas((7, 30))
    mask[3, 0:30] = True  # one long lesion
    m[3, 2] = 3.0
    m[3, 20] = 2.0
    default = froc([m], [mask], radius=2.0, max_fps_per_image=None)
    second = default.detections[0][1]
    assert (second.y, second.x) == (3, 20)
    assert second.outcome == "duplicate" and not second.is_tp and not second.is_fp
    assert _points(default)[:3] == [(math.inf, 0, 0), (3.0, 0, 1.0), (2.0, 0, 1.0)]
    as_fp = froc([m], [mask], radius=2.0, duplicates="fp", max_fps_per_image=None)
    second = as_fp.detections[0][1]
    assert second.outcome == "duplicate" and second.is_fp
    assert _points(as_fp)[2] == (2.0, 1.0, 1.0)


def test_image_without_lesions_adds_fps_and_counts_in_denominator() -> None:
    m_a, mask_a = canvas()
    mask_a[4, 4] = True
    m_a[4, 4] = 4.0
    m_b, mask_b = canvas()
    m_b[10, 10] = 5.0
    result = froc([m_a, m_b], [mask_a, mask_b], radius=1.0, max_fps_per_image=None)
    assert result.n_images == 2 and result.n_lesions == 1
    assert result.lesions_per_image.tolist() == [1, 0]
    assert _points(result)[:3] == [(math.inf, 0.0, 0.0), (5.0, 0.5, 0.0), (4.0, 0.5, 1.0)]
    assert result.detections[1][0].outcome == "fp"
    assert result.sensitivity_at(0.25) == 0.0
    assert result.sensitivity_at(0.5) == 1.0


def test_map_exhausted_before_budget_ends_curve_early() -> None:
    m, mask = canvas((5, 5))
    mask[0, 0] = True
    m[4, 4] = 2.0
    m[0, 0] = 1.0
    # radius 4: two discs cover the whole 5 x 5 map
    result = froc([m], [mask], radius=4.0)
    assert not result.truncated
    assert len(result.detections[0]) == 2
    assert _points(result) == [(math.inf, 0.0, 0.0), (2.0, 1.0, 0.0), (1.0, 1.0, 1.0)]
    assert result.sensitivity_at(10.0) == result.sensitivity[-1] == 1.0


def test_equal_scores_enter_the_sweep_together() -> None:
    m_a, mask_a = canvas()
    mask_a[3, 3] = True
    m_a[3, 3] = 7.0
    m_b, mask_b = canvas()
    m_b[12, 12] = 7.0
    result = froc([m_a, m_b], [mask_a, mask_b], radius=1.0)
    # one point for both detections of score 7: no point with only the TP or only the FP
    assert _points(result)[:2] == [(math.inf, 0.0, 0.0), (7.0, 0.5, 1.0)]
    assert result.sensitivity_at(0.25) == 0.0


def test_ties_within_an_image_take_the_row_major_first_pixel() -> None:
    m = np.zeros((6, 6))
    m[4, 1] = m[2, 5] = m[2, 3] = 1.0
    result = froc([m], [np.zeros((6, 6), dtype=bool)], radius=0.0, max_detections=3)
    assert [(d.y, d.x) for d in result.detections[0]] == [(2, 3), (2, 5), (4, 1)]


def test_fov_mask_excludes_candidates() -> None:
    m, mask = canvas()
    mask[10, 10] = True
    m[0, 0] = 9.0  # brightest pixel, outside the field of view
    m[10, 10] = 1.0
    fov = np.zeros((20, 20), dtype=bool)
    fov[5:15, 5:15] = True
    result = froc([m], [mask], radius=1.0, fovs=[fov], max_fps_per_image=None)
    centres = [(d.y, d.x) for d in result.detections[0]]
    assert (0, 0) not in centres
    assert all(fov[y, x] for y, x in centres)
    assert result.detections[0][0].score == 1.0 and result.sensitivity_at(0.0) == 1.0
    without = froc([m], [mask], radius=1.0, max_fps_per_image=None)
    assert without.detections[0][0].score == 9.0 and without.sensitivity_at(0.0) == 0.0


def test_ignore_mask_makes_detection_neither_tp_nor_fp() -> None:
    m, mask = canvas()
    mask[15, 15] = True
    other = np.zeros((20, 20), dtype=bool)
    other[4, 4] = True  # a lesion of another type
    m[4, 5] = 3.0
    m[15, 15] = 2.0
    kwargs = {"radius": 1.0, "max_fps_per_image": None}
    ignored = froc([m], [mask], ignore_masks=[other], **kwargs)
    assert ignored.detections[0][0].outcome == "ignored"
    assert ignored.sensitivity_at(0.0) == 1.0
    counted = froc([m], [mask], **kwargs)
    assert counted.detections[0][0].outcome == "fp"
    assert counted.sensitivity_at(0.0) == 0.0 and counted.sensitivity_at(1.0) == 1.0
    # a lesion hit wins over the ignore mask
    both = froc([m], [mask], ignore_masks=[mask | other], **kwargs)
    assert both.detections[0][0].outcome == "ignored"
    assert both.detections[0][1].outcome == "tp"


@pytest.mark.parametrize(
    ("offset", "radius", "hit"),
    [
        ((3, 4), 5.0, True),  # d = 5 exactly: inside (d² <= r²)
        ((3, 4), 4.999, False),
        ((0, 5), 5.0, True),
        ((1, 5), 5.0, False),  # d² = 26
        ((1, 1), math.sqrt(2), True),
        ((0, 0), 0.0, True),
        ((0, 1), 0.999, False),
    ],
)
def test_disc_boundary(offset: tuple[int, int], radius: float, hit: bool) -> None:
    m, mask = canvas((21, 21))
    m[10, 10] = 1.0
    mask[10 + offset[0], 10 + offset[1]] = True
    result = froc([m], [mask], radius=radius, max_detections=1)
    assert result.detections[0][0].is_tp is hit


def test_disc_is_clipped_at_the_border() -> None:
    m, mask = canvas((4, 4))
    mask[0, 3] = True
    m[0, 0] = 1.0
    result = froc([m], [mask], radius=3.0, max_detections=1)
    assert result.detections[0][0].is_tp


@pytest.mark.parametrize(("connectivity", "n_lesions"), [(8, 1), (4, 2)])
def test_connectivity_defines_lesions(connectivity: int, n_lesions: int) -> None:
    m, mask = canvas((6, 6))
    mask[1, 1] = mask[2, 2] = True
    result = froc([m], [mask], radius=1.0, connectivity=connectivity)
    assert result.n_lesions == n_lesions


def test_max_detections_caps_each_image() -> None:
    rng = np.random.default_rng(0)
    maps = [rng.random((30, 30)) for _ in range(2)]
    masks = [np.zeros((30, 30), dtype=bool)] * 2
    result = froc(maps, masks, radius=1.0, max_detections=3, max_fps_per_image=None)
    assert [len(d) for d in result.detections] == [3, 3]
    assert result.fps_per_image[-1] == 3.0


def test_zero_lesions_gives_nan_sensitivity() -> None:
    m, mask = canvas()
    m[3, 3] = 1.0
    result = froc([m], [mask], radius=2.0)
    assert result.n_lesions == 0
    assert np.isnan(result.sensitivity).all()
    assert math.isnan(result.sensitivity_at(10.0))
    assert result.fps_per_image[1] == 1.0


def test_pooled_budget_is_exact_where_a_per_image_cap_is_not() -> None:
    # Image A holds 15 false positives above its lesion; image B is empty. At A's lesion the
    # average is 15 / 2 = 7.5 FPs per image, so SE/10FPs = 1. A per-image cap of 10 false
    # positives would stop A before its lesion and report 0.
    m_a, mask_a = canvas((40, 40))
    for k in range(15):
        m_a[2 * (k // 5) * 4, 4 * (k % 5) + 20] = 100.0 - k
    mask_a[35, 5] = True
    m_a[35, 5] = 50.0
    fov_a = m_a > 0
    m_b, mask_b = canvas((40, 40))
    fov_b = np.zeros((40, 40), dtype=bool)
    result = froc(
        [m_a, m_b], [mask_a, mask_b], radius=1.0, fovs=[fov_a, fov_b], max_fps_per_image=10
    )
    assert [d.outcome for d in result.detections[0]] == ["fp"] * 15 + ["tp"]
    assert result.sensitivity_at(10.0) == 1.0
    assert result.fps_per_image[-1] == 7.5


def test_budget_stops_after_passing_and_guards_beyond() -> None:
    rng = np.random.default_rng(3)
    maps = [rng.random((40, 40)) for _ in range(3)]
    masks = [rng.random((40, 40)) > 0.97 for _ in range(3)]
    capped = froc(maps, masks, radius=2.0, max_fps_per_image=2.0)
    full = froc(maps, masks, radius=2.0, max_fps_per_image=None)
    assert capped.truncated and not full.truncated
    k = len(capped.thresholds)
    assert capped.fps_per_image[-1] > 2.0 >= capped.fps_per_image[-2]
    np.testing.assert_array_equal(capped.thresholds, full.thresholds[:k])
    np.testing.assert_array_equal(capped.sensitivity, full.sensitivity[:k])
    np.testing.assert_array_equal(capped.fps_per_image, full.fps_per_image[:k])
    grid = np.linspace(0.0, 2.0, 41)
    np.testing.assert_array_equal(capped.sensitivity_at(grid), full.sensitivity_at(grid))
    with pytest.raises(ValueError, match="max_fps_per_image"):
        capped.sensitivity_at(2.5)
    assert full.sensitivity_at(2.5) >= capped.sensitivity_at(2.0)


@pytest.mark.parametrize("mode", ["max", "minmax"])
def test_normalize_equals_normalizing_by_hand(mode: str) -> None:
    rng = np.random.default_rng(1)
    maps = [rng.random((25, 25)) * s - o for s, o in ((1.0, 0.0), (50.0, 10.0), (0.1, -3.0))]
    masks = [rng.random((25, 25)) > 0.95 for _ in range(3)]
    if mode == "max":
        by_hand = [m / np.abs(m).max() for m in maps]
    else:
        by_hand = [(m - m.min()) / (m.max() - m.min()) for m in maps]
    ours = froc(maps, masks, radius=2.0, normalize=mode, max_fps_per_image=None)
    ref = froc(by_hand, masks, radius=2.0, max_fps_per_image=None)
    assert _points(ours) == _points(ref)
    raw = froc(maps, masks, radius=2.0, max_fps_per_image=None)
    assert _points(raw) != _points(ours)  # pooling differs across scales


def test_torch_inputs_equal_numpy_inputs_and_inputs_are_not_modified() -> None:
    rng = np.random.default_rng(2)
    maps = [rng.random((16, 16)).astype(np.float32) for _ in range(2)]
    masks = [rng.random((16, 16)) > 0.9 for _ in range(2)]
    fovs = [np.ones((16, 16), dtype=bool), rng.random((16, 16)) > 0.3]
    copies = [m.copy() for m in maps]
    tensors = [torch.from_numpy(m.copy()) for m in maps]
    ours = froc(maps, masks, radius=2.0, fovs=fovs)
    from_torch = froc(tensors, [torch.from_numpy(k) for k in masks], radius=2.0, fovs=fovs)
    assert _points(ours) == _points(from_torch)
    for m, c, t in zip(maps, copies, tensors, strict=True):
        np.testing.assert_array_equal(m, c)
        np.testing.assert_array_equal(t.numpy(), c)
    stacked = froc(np.stack(maps), np.stack(masks), radius=2.0, fovs=fovs)
    assert _points(stacked) == _points(ours)


def test_invalid_inputs_raise_clear_errors() -> None:
    m, mask = canvas((8, 8))
    with pytest.raises(ValueError, match=r"masks\[1\]"):
        froc([m, m], [mask, np.zeros((8, 9), dtype=bool)], radius=1.0)
    with pytest.raises(ValueError, match=r"maps\[0\].*NaN"):
        froc([np.full((8, 8), np.nan)], [mask], radius=1.0)
    with pytest.raises(ValueError, match=r"maps\[0\]"):
        froc([np.full((8, 8), np.inf)], [mask], radius=1.0)
    with pytest.raises(TypeError, match=r"masks\[0\].*bool"):
        froc([m], [mask.astype(np.float32)], radius=1.0)
    with pytest.raises(TypeError, match=r"maps\[0\]"):
        froc([mask], [mask], radius=1.0)
    with pytest.raises(ValueError, match="masks"):
        froc([m, m], [mask], radius=1.0)
    with pytest.raises(ValueError, match="maps"):
        froc([], [], radius=1.0)
    with pytest.raises(ValueError, match="sequence"):
        froc(m, mask, radius=1.0)
    with pytest.raises(ValueError, match=r"fovs\[0\]"):
        froc([m], [mask], radius=1.0, fovs=[np.ones((3, 3), dtype=bool)])
    with pytest.raises(ValueError, match="radius"):
        froc([m], [mask], radius=-1.0)
    with pytest.raises(ValueError, match="duplicates"):
        froc([m], [mask], radius=1.0, duplicates="count")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="connectivity"):
        froc([m], [mask], radius=1.0, connectivity=6)
    with pytest.raises(ValueError, match="max_detections"):
        froc([m], [mask], radius=1.0, max_detections=0)
    with pytest.raises(ValueError, match="max_fps_per_image"):
        froc([m], [mask], radius=1.0, max_fps_per_image=float("inf"))
    with pytest.raises(ValueError, match="normalize"):
        froc([m], [mask], radius=1.0, normalize="z")  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(case=_froc_cases(), budget=st.sampled_from([0.0, 0.5, 1.0, 3.0]))
def test_froc_equals_brute_force_reference(case: dict, budget: float) -> None:
    ref_points, ref_dets = _reference_froc(
        case["maps"],
        case["masks"],
        case["radius"],
        case["fovs"],
        case["ignores"],
        case["duplicates"],
        case["connectivity"],
    )
    kwargs = {
        "radius": case["radius"],
        "fovs": case["fovs"],
        "ignore_masks": case["ignores"],
        "duplicates": case["duplicates"],
        "connectivity": case["connectivity"],
    }
    full = froc(case["maps"], case["masks"], max_fps_per_image=None, **kwargs)
    assert _same(_points(full), ref_points)
    ours = [
        [
            (d.y, d.x, d.score, d.is_tp, d.is_fp, len(d.lesions_hit), len(d.lesions_new))
            for d in dets
        ]
        for dets in full.detections
    ]
    assert ours == ref_dets
    capped = froc(case["maps"], case["masks"], max_fps_per_image=budget, **kwargs)
    assert _same(_points(capped), ref_points[: len(capped.thresholds)])
    if capped.truncated:
        assert capped.fps_per_image[-1] > budget
    else:
        assert _same(_points(capped), ref_points)


@settings(max_examples=60, deadline=None)
@given(case=_froc_cases())
def test_curve_is_monotone_and_bounded(case: dict) -> None:
    result = froc(
        case["maps"],
        case["masks"],
        radius=case["radius"],
        fovs=case["fovs"],
        duplicates=case["duplicates"],
        max_fps_per_image=None,
    )
    assert (np.diff(result.fps_per_image) >= 0).all()
    assert (np.diff(result.thresholds) < 0).all()
    if result.n_lesions:
        assert (np.diff(result.sensitivity) >= 0).all()
        assert ((result.sensitivity >= 0) & (result.sensitivity <= 1)).all()
    else:
        assert np.isnan(result.sensitivity).all()


def test_scale_radius() -> None:
    assert scale_radius(size=512) == DR_RADIUS == 7.0
    assert scale_radius(7.0, size=224) == 3.0625
    assert scale_radius(AMD_RADIUS, size=256) == 5.0
    assert scale_radius(7.0, size=1500, reference_size=1500) == 7.0
    with pytest.raises(TypeError, match="size"):
        scale_radius(7.0, size=224.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="radius_at_512"):
        scale_radius(-1.0, size=224)


def test_a_radius_beyond_the_diagonal_hits_the_whole_image() -> None:
    # Two lesions in opposite corners of a 20 x 30 map; one candidate in the middle. A disc of
    # the diagonal's radius reaches both; any wider one is the same disc on this image.
    mask = np.zeros((20, 30), bool)
    mask[0, 0] = mask[19, 29] = True
    score = np.zeros((20, 30), np.float32)
    score[10, 15] = 1.0
    wide = froc([score], [mask], math.hypot(20, 30))
    for radius in (1e6, 1e300):
        huge = froc([score], [mask], radius)
        np.testing.assert_array_equal(huge.sensitivity, wide.sensitivity)
        np.testing.assert_array_equal(huge.fps_per_image, wide.fps_per_image)
    # Point 0 is the threshold inf; point 1 the first detection, at the map's maximum.
    assert wide.sensitivity[1] == 1.0  # both lesions hit by it
    assert froc([score], [mask], 5.0).sensitivity[1] == 0.0  # neither within 5 px

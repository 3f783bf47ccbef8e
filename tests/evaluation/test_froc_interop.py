"""FROC on the loop's own output shapes, and the CAMELYON16 / MONAI export checked against MONAI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _helpers.core import BlobScore, blob_image
from captum.attr import Saliency
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.measure import label

from captum_iterative import IterativeAugmentation
from captum_iterative.evaluation import FrocResult, froc


def _same_curve(a: FrocResult, b: FrocResult) -> None:
    np.testing.assert_array_equal(a.thresholds, b.thresholds)
    np.testing.assert_array_equal(a.fps_per_image, b.fps_per_image)
    np.testing.assert_array_equal(a.sensitivity, b.sensitivity)


def test_froc_takes_the_loop_output_as_it_is(blob_model: BlobScore) -> None:
    images = torch.stack([blob_image(v, seed=i) for i, v in enumerate([[0.9, 0.8], [0.95], []])])
    result = IterativeAugmentation(Saliency(blob_model), threshold=0.3).explain(images)
    masks = images.mean(dim=1, keepdim=True) > 0.5  # the blobs, (N, 1, H, W)
    # Raised "must be a non-empty (H, W) map": the wrapper's (N, 1, H, W) maps and masks.
    batched = froc(result.augmented, masks, 2.0)
    listed = froc([m[0] for m in result.augmented], [m[0] for m in masks], 2.0)
    _same_curve(batched, listed)
    _same_curve(froc(result.augmented.numpy(), masks.numpy(), 2.0), listed)
    _same_curve(froc(list(result.augmented), list(masks), 2.0), listed)  # (1, H, W) entries
    fov = torch.ones_like(masks)
    _same_curve(froc(result.augmented, masks, 2.0, fovs=fov, ignore_masks=~fov), listed)
    assert batched.n_lesions == 3 and batched.sensitivity_at(10.0) == 1.0
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        froc(torch.rand(2, 3, 8, 8), torch.zeros(2, 3, 8, 8, dtype=torch.bool), 1.0)


def test_camelyon_export_known_answer() -> None:
    # distinct background values below every lesion score: the scan stops on the first of them
    maps = -1.0 - np.arange(2 * 144).reshape(2, 12, 12) / 1000
    masks = np.zeros((2, 12, 12), dtype=bool)
    masks[0, 2, 2] = masks[0, 2, 4] = True  # two lesions one disc covers
    masks[0, 9, 9] = True  # a lesion nothing reaches (scan budget)
    maps[0, 2, 3], maps[0, 6, 6], maps[0, 2, 5] = 0.9, 0.7, 0.6  # hit both, FP, duplicate
    maps[1, 5, 5] = 0.8  # FP in an image without lesions
    result = froc(list(maps), list(masks), 1.0, max_fps_per_image=1.0)
    fp_probs, tp_probs, num_targets, num_images = result.to_camelyon()
    assert num_targets == 3 and num_images == 2
    np.testing.assert_array_equal(tp_probs, [0.9, 0.9, -np.inf])
    np.testing.assert_array_equal(np.sort(fp_probs), [-1.0, 0.7, 0.8])
    assert result.truncated


@pytest.fixture(scope="module")
def monai_froc():  # type: ignore[no-untyped-def]
    return pytest.importorskip("monai.metrics.froc", reason="needs the monai extra")


def _monai_staircase(monai_froc, result: FrocResult) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    fps, sensitivity = monai_froc.compute_froc_curve_data(*result.to_camelyon())
    return np.asarray(fps, dtype=np.float64), np.asarray(sensitivity, dtype=np.float64)


def _best_within(fps: np.ndarray, sensitivity: np.ndarray, budget: float) -> float:
    inside = fps <= budget
    return float(sensitivity[inside].max()) if inside.any() else 0.0


@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 4),
    st.floats(0.0, 3.0),
    st.sampled_from(["ignore", "fp"]),
    st.booleans(),
)
def test_monai_computes_our_curve_from_the_export(
    monai_froc, seed: int, n: int, radius: float, duplicates: str, quantized: bool
) -> None:
    rng = np.random.default_rng(seed)
    maps = rng.random((n, 16, 16))
    if quantized:
        maps = np.round(maps * 8) / 8  # many ties
    masks = rng.random((n, 16, 16)) > 0.93
    masks[0, 0, 0] = True  # at least one lesion
    ours = froc(list(maps), list(masks), radius, duplicates=duplicates, max_fps_per_image=None)
    fps, sensitivity = _monai_staircase(monai_froc, ours)
    export = ours.to_camelyon()
    # MONAI evaluates every distinct exported score but the lowest; there our curve has a point
    # with the same counts.
    scores = np.unique(np.concatenate([export.fp_probs, export.tp_probs]))
    for threshold, f, s in zip(
        scores[1:][::-1], fps[:-1][::-1], sensitivity[:-1][::-1], strict=True
    ):
        k = int(np.flatnonzero(ours.thresholds == threshold)[0])
        assert (f, s) == (ours.fps_per_image[k], ours.sensitivity[k])
    # ... so SE at k FPs (the best sensitivity within the budget) agrees, except at the lowest
    # score, which MONAI (after CAMELYON16) reserves for targets never detected.
    missed = bool(np.isneginf(export.tp_probs).any())
    for budget in (0.0, 0.5, 1.0, 2.0, 10.0, 1e9):
        if missed or ours.fps_per_image[-1] > budget:
            assert _best_within(fps, sensitivity, budget) == ours.sensitivity_at(budget)


def test_monai_and_our_detections_agree_when_points_lie_inside_lesions(monai_froc) -> None:
    # MONAI's compute_fp_tp_probs counts a hit when the point lies inside a lesion; ours when the
    # disc touches one. With radius 0 the disc is the point, and the two agree.
    rng = np.random.default_rng(3)
    # float32 values: MONAI returns some probabilities as float32, exact for these
    maps = rng.random((1, 20, 20)).astype(np.float32)
    masks = np.zeros((1, 20, 20), dtype=bool)
    masks[0, 3:6, 3:6] = masks[0, 12:15, 8:11] = True
    ours = froc(list(maps), list(masks), 0.0, max_fps_per_image=None)
    detections = ours.detections[0]
    labels = label(masks[0], connectivity=2)
    fp_probs, tp_probs, num_targets = monai_froc.compute_fp_tp_probs(
        probs=np.array([d.score for d in detections]),
        y_coord=np.array([d.y for d in detections]),
        x_coord=np.array([d.x for d in detections]),
        evaluation_mask=labels,
    )
    export = ours.to_camelyon()
    assert num_targets == export.num_targets
    for theirs, mine in ((fp_probs, export.fp_probs), (tp_probs, export.tp_probs)):
        np.testing.assert_array_equal(np.sort(np.asarray(theirs, dtype=np.float64)), np.sort(mine))


def test_sensitivity_at_k_fps_is_the_best_within_the_budget_not_monais_interpolation(
    monai_froc,
) -> None:
    # Two images, two lesions; by score: lesion A (0.9), a FP (0.8), then lesion B and a FP
    # together (0.7). The curve goes (0, 0.5) -> (0.5, 0.5) -> (1, 1).
    maps = np.full((2, 12, 12), -1.0)
    masks = np.zeros((2, 12, 12), dtype=bool)
    masks[0, 2, 2] = masks[1, 9, 9] = True
    maps[0, 2, 2], maps[0, 6, 6], maps[1, 9, 9], maps[1, 3, 3] = 0.9, 0.8, 0.7, 0.7
    ours = froc(list(maps), list(masks), 0.0, max_fps_per_image=1.0)
    fps, sensitivity = _monai_staircase(monai_froc, ours)
    assert ours.sensitivity_at(1.0) == 1.0
    # MONAI interpolates linearly between its points: at 0.75 FPs per image it reports 0.75, a
    # sensitivity no threshold reaches; ours is the best one reached within 0.75 FPs, 0.5.
    interpolated = monai_froc.compute_froc_score(fps, sensitivity, eval_thresholds=(0.75,))
    assert interpolated == pytest.approx(0.75)
    assert ours.sensitivity_at(0.75) == 0.5

"""Lesion masks and label images across frames (``evaluation.lesion_labels``)."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from captum_iterative.evaluation import (
    froc,
    lesion_labels,
    resize_lesion_labels,
    resize_masks_checked,
)
from captum_iterative.fundus.preprocess import resize_mask


def test_one_pixel_lesion_shrunk_3x_vanishes_and_is_caught() -> None:
    mask = np.zeros((9, 9), dtype=bool)
    mask[1, 1] = True  # not on a sampled pixel (0, 3, 6)
    naive = cv2.resize(mask.astype(np.uint8), (3, 3), interpolation=cv2.INTER_NEAREST)
    assert not naive.any()  # plain nearest neighbour loses it silently
    with pytest.raises(ValueError, match="1 of 1 lesions vanished"):
        resize_masks_checked(mask, 3)
    with pytest.warns(UserWarning, match="vanished"):
        out = resize_masks_checked(mask, (3, 3), on_vanish="warn")
    assert out.shape == (3, 3) and not out.any()
    mask[3, 3] = True  # on a sampled pixel: survives, the other still vanishes
    with pytest.raises(ValueError, match="1 of 2 lesions vanished"):
        resize_masks_checked(mask, 3)
    mask[1, 1] = False
    assert resize_masks_checked(mask, 3).tolist() == [[0, 0, 0], [0, 1, 0], [0, 0, 0]]


@settings(max_examples=60, deadline=None)
@given(
    mask=arrays(
        np.bool_,
        st.tuples(st.integers(1, 6), st.integers(1, 6)).map(lambda s: (3 * s[0], 3 * s[1])),
    ),
    connectivity=st.sampled_from([4, 8]),
)
def test_resize_checked_matches_sampling_and_reports_exactly_the_vanished(
    mask: np.ndarray, connectivity: int
) -> None:
    h, w = mask.shape[0] // 3, mask.shape[1] // 3
    sampled = mask[::3, ::3]  # the package's nearest neighbour (cv2.INTER_NEAREST), 3x shrink
    expected = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
    np.testing.assert_array_equal(expected.astype(bool), sampled)
    structure = np.ones((3, 3)) if connectivity == 8 else None
    labels, n = ndimage.label(mask, structure=structure)
    on_grid = np.zeros_like(mask)
    on_grid[::3, ::3] = True
    lost = [k for k in range(1, n + 1) if not (on_grid & (labels == k)).any()]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = resize_masks_checked(mask, (h, w), connectivity=connectivity, on_vanish="warn")
    np.testing.assert_array_equal(out, sampled)
    if lost:
        assert len(caught) == 1 and f"{len(lost)} of {n} lesions vanished" in str(caught[0].message)
    else:
        assert not caught


def test_resize_checked_upsampling_keeps_lesions_and_validates() -> None:
    mask = np.zeros((4, 4), dtype=bool)
    mask[1, 2] = True
    out = resize_masks_checked(torch.from_numpy(mask), (8, 12))
    assert out.dtype == np.bool_ and out.shape == (8, 12)
    assert out.sum() == 6
    with pytest.raises(TypeError, match="bool"):
        resize_masks_checked(mask.astype(np.uint8), 2)
    with pytest.raises(TypeError, match="size"):
        resize_masks_checked(mask, (2.0, 2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="on_vanish"):
        resize_masks_checked(mask, 2, on_vanish="ignore")  # type: ignore[arg-type]


def test_label_images_give_the_same_result_as_masks() -> None:
    from skimage.measure import label

    rng = np.random.default_rng(7)
    maps = [rng.random((40, 40)) for _ in range(3)]
    masks = [rng.random((40, 40)) > 0.97 for _ in range(3)]
    labels = [label(m, connectivity=2).astype(np.int32) for m in masks]
    a = froc(maps, masks, 3.0)
    b = froc(maps, labels, 3.0)
    np.testing.assert_array_equal(a.sensitivity, b.sensitivity)
    np.testing.assert_array_equal(a.fps_per_image, b.fps_per_image)
    assert a.n_lesions == b.n_lesions


def test_touching_lesions_stay_separate_in_a_label_image() -> None:
    labels = np.zeros((10, 10), dtype=np.int32)
    labels[4, 4] = 1
    labels[4, 5] = 2  # touches lesion 1: one component as a mask, two lesions as labels
    heat = np.zeros((10, 10))
    heat[4, 4] = 1.0
    assert froc([heat], [labels], 0.0).n_lesions == 2
    assert froc([heat], [labels > 0], 0.0).n_lesions == 1
    assert froc([heat], [labels], 0.0).sensitivity_at(0.0) == 0.5


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), size=st.integers(5, 30))
def test_resize_lesion_labels_keeps_every_lesion_when_shrinking(seed: int, size: int) -> None:
    from skimage.measure import label

    from captum_iterative.evaluation.lesion_labels import resize_lesion_labels

    rng = np.random.default_rng(seed)
    mask = rng.random((60, 47)) > 0.985
    labels = label(mask, connectivity=2)
    small, lost = resize_lesion_labels(labels, size)
    kept = np.unique(small[small > 0])
    assert set(kept.tolist()) <= set(range(1, labels.max() + 1))
    assert kept.size + lost == labels.max()
    # a lesion is only lost when its every output pixel went to a smaller lesion
    for lesion in np.setdiff1d(np.arange(1, labels.max() + 1), kept):
        assert (labels == lesion).sum() >= 1
    # every claimed pixel is covered by a source pixel of its lesion ("any" rule)
    ys, xs = np.nonzero(small)
    for y, x in zip(ys[:50], xs[:50], strict=True):
        block = labels[
            int(y * 60 / size) : int(np.ceil((y + 1) * 60 / size)),
            int(x * 47 / size) : int(np.ceil((x + 1) * 47 / size)),
        ]
        assert small[y, x] in block


def test_resize_lesion_labels_upsampling_is_a_block_copy() -> None:
    from captum_iterative.evaluation.lesion_labels import resize_lesion_labels

    labels = np.array([[0, 1], [2, 0]], dtype=np.int32)
    up, lost = resize_lesion_labels(labels, 4)
    np.testing.assert_array_equal(up, np.kron(labels, np.ones((2, 2), dtype=np.int32)))
    assert lost == 0
    with pytest.raises(TypeError, match="labels"):
        resize_lesion_labels(labels > 0, 4)


@pytest.mark.parametrize("size", [3, np.int64(3), (3, 3), (np.int32(3), 3)])
def test_both_resizers_read_size_alike(size: object) -> None:
    """One size rule: an int or an (h, w) pair of ints, Python or numpy."""
    labels = np.zeros((9, 9), dtype=np.int32)
    labels[3, 3] = 1  # on a sampled pixel
    assert resize_masks_checked(labels > 0, size).shape == (3, 3)  # type: ignore[arg-type]
    assert resize_lesion_labels(labels, size)[0].shape == (3, 3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("size", "error"),
    [((3.0, 3), TypeError), (True, TypeError), (0, ValueError), ((3, -1), ValueError)],
)
def test_both_resizers_refuse_the_same_sizes(size: object, error: type[Exception]) -> None:
    labels = np.ones((4, 4), dtype=np.int32)
    with pytest.raises(error, match="`size`"):
        resize_masks_checked(labels > 0, size)  # type: ignore[arg-type]
    with pytest.raises(error, match="`size`"):
        resize_lesion_labels(labels, size)  # type: ignore[arg-type]


def test_lesion_labels_of_a_mask_and_of_a_label_image() -> None:
    mask = np.zeros((6, 6), dtype=bool)
    mask[0, 0] = mask[1, 1] = mask[4, 4] = True  # diagonal neighbours join at connectivity 8
    labels, count = lesion_labels(mask, "masks[0]", (6, 6), 0, connectivity=2)
    assert count == 2 and labels[0, 0] == labels[1, 1] != labels[4, 4]
    _, count4 = lesion_labels(mask, "masks[0]", (6, 6), 0, connectivity=1)
    assert count4 == 3
    from_labels, count = lesion_labels(
        labels.astype(np.int16), "masks[0]", (6, 6), 0, connectivity=2
    )
    assert count == 2 and from_labels.dtype == np.int16
    with pytest.raises(ValueError, match=r"`masks\[0\]` has shape"):
        lesion_labels(mask, "masks[0]", (5, 6), 0, connectivity=2)


@settings(max_examples=60, deadline=None)
@given(
    mask=arrays(np.bool_, st.tuples(st.integers(1, 40), st.integers(1, 40))),
    size=st.integers(1, 48),
)
def test_the_evaluation_and_the_preprocessing_resize_masks_alike(
    mask: np.ndarray, size: int
) -> None:
    """One "nearest" and one "any" rule (``captum_iterative._mask_resize``) for every resizer."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nearest = resize_masks_checked(mask, size, on_vanish="warn")
    np.testing.assert_array_equal(nearest, resize_mask(mask, size))
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3)))
    claimed, _ = resize_lesion_labels(labels.astype(np.int32), size)
    np.testing.assert_array_equal(claimed > 0, resize_mask(mask, size, rule="any"))

"""Resizing images and masks (``fundus.preprocess.resize``), against OpenCV."""

from __future__ import annotations

import cv2
import numpy as np
from _helpers.preprocess import FAST, FundusFactory
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from captum_iterative.fundus.preprocess import (
    resize_image,
    resize_mask,
)


def test_resize_image_equals_opencv_8bit_area(retina: np.ndarray) -> None:
    expected = cv2.resize(retina, (300, 300), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(resize_image(retina, 300), expected)


def test_resize_image_enlarges_bilinearly(make_fundus: FundusFactory) -> None:
    image = make_fundus(60, 60, radius=28)
    expected = cv2.resize(image, (97, 97), interpolation=cv2.INTER_LINEAR)
    out = resize_image(image, 97)
    assert out.shape == (97, 97, 3) and out.dtype == np.uint8
    diff = np.abs(out.astype(int) - expected)
    assert diff.max() <= 1 and (diff == 0).mean() > 0.8


def test_resize_mask_nearest_matches_opencv() -> None:
    rng = np.random.default_rng(1)
    mask = rng.random((150, 120)) > 0.5
    expected = cv2.resize(mask.astype(np.uint8), (64, 64), interpolation=cv2.INTER_NEAREST)
    np.testing.assert_array_equal(resize_mask(mask, 64), expected.astype(bool))


@FAST
@given(
    mask=arrays(np.bool_, st.tuples(st.integers(8, 40), st.integers(8, 40))),
    size=st.integers(1, 12),
)
def test_resize_mask_any_is_a_footprint_maximum(mask: np.ndarray, size: int) -> None:
    out = resize_mask(mask, size, rule="any")
    height, width = mask.shape
    for i in range(size):
        for j in range(size):
            block = mask[
                (i * height) // size : -(-(i + 1) * height // size),
                (j * width) // size : -(-(j + 1) * width // size),
            ]
            assert out[i, j] == block.any()


def test_resize_mask_any_keeps_a_single_pixel_lesion() -> None:
    mask = np.zeros((99, 99), bool)
    mask[50, 50] = True
    assert resize_mask(mask, 33, rule="any").sum() == 1
    assert resize_mask(mask, 33, rule="nearest").sum() == 0

"""Field of view, boxes and crops (``fundus.preprocess.fov``)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import scipy.ndimage as ndi
import skimage.color
import skimage.measure
import torch
from _helpers.preprocess import FundusFactory, disc
from hypothesis import given, settings
from hypothesis import strategies as st

from captum_iterative.fundus.preprocess import (
    crop,
    crop_tensor,
    fov_bbox,
    fov_mask,
    square_bbox,
)


def test_fov_mask_is_the_drawn_disc(make_fundus: FundusFactory) -> None:
    image = make_fundus(200, 260, centre=(90, 140), radius=80)
    expected = disc(200, 260, (90, 140), 80)
    for method in ("red", "lab"):
        np.testing.assert_array_equal(fov_mask(image, method=method), expected)


def test_fov_mask_keeps_largest_component_and_fills_holes(make_fundus: FundusFactory) -> None:
    image = make_fundus(200, 260, centre=(100, 120), radius=80)
    cv2.circle(image, (120, 100), 12, (0, 0, 0), -1)  # a black "lesion" inside the disc
    image[5:15, 240:250] = 255  # a bright speck outside the disc
    fov = fov_mask(image)
    np.testing.assert_array_equal(fov, disc(200, 260, (100, 120), 80))


def test_fov_mask_matches_scikit_image_reference(retina: np.ndarray) -> None:
    for method, candidate in (
        ("red", retina[..., 0] > 40),
        ("lab", skimage.color.rgb2lab(retina)[..., 0] >= 15),
    ):
        labels = skimage.measure.label(candidate, connectivity=2)
        largest = np.argmax(np.bincount(labels.ravel())[1:]) + 1
        reference = ndi.binary_fill_holes(labels == largest)
        agreement = (fov_mask(retina, method=method) == reference).mean()
        assert agreement >= 0.9999, (method, agreement)


def test_fov_mask_threshold_is_strict_for_red_and_inclusive_for_lab() -> None:
    image = np.zeros((20, 20, 3), np.uint8)
    image[5:15, 5:15, 0] = 40
    with pytest.raises(ValueError, match="field of view"):
        fov_mask(image)
    assert fov_mask(image, threshold=39).sum() == 100
    grey = np.zeros((20, 20, 3), np.uint8)
    grey[5:15, 5:15] = 255
    assert fov_mask(grey, method="lab", threshold=99).sum() == 100


@pytest.mark.parametrize(
    ("image", "error", "match"),
    [
        (np.zeros((10, 10), np.uint8), ValueError, "image"),
        (np.zeros((10, 10, 4), np.uint8), ValueError, "image"),
        (np.zeros((10, 10, 3), np.float32), TypeError, "image"),
        ([[0, 0, 0]], TypeError, "image"),
        (np.zeros((10, 10, 3), np.uint8), ValueError, "field of view"),
    ],
)
def test_fov_mask_rejects_bad_input(image: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        fov_mask(image)  # type: ignore[arg-type]


def test_fov_mask_rejects_unknown_method(retina: np.ndarray) -> None:
    with pytest.raises(ValueError, match="method"):
        fov_mask(retina, method="green")  # type: ignore[arg-type]


def test_fov_bbox_of_a_drawn_disc() -> None:
    assert fov_bbox(disc(200, 260, (90, 140), 60)) == (30, 151, 80, 201)


def test_fov_bbox_rejects_empty_mask() -> None:
    with pytest.raises(ValueError, match="`fov` is empty"):
        fov_bbox(np.zeros((5, 5), bool))


def test_square_bbox_known_answers() -> None:
    assert square_bbox((6, 1146, 38, 1448)) == (-129, 1281, 38, 1448)
    assert square_bbox((0, 10, 0, 3)) == (0, 10, -3, 7)
    assert square_bbox((2, 7, 4, 9)) == (2, 7, 4, 9)


def test_crop_pads_outside_the_array() -> None:
    array = np.arange(12, dtype=np.int32).reshape(3, 4)
    out = crop(array, (-1, 2, 2, 5), fill=-7)
    np.testing.assert_array_equal(out, [[-7, -7, -7], [2, 3, -7], [6, 7, -7]])
    out[1, 0] = 99
    assert array[0, 2] == 2


@settings(max_examples=40, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    box=st.tuples(st.integers(-5, 9), st.integers(1, 8), st.integers(-5, 9), st.integers(1, 8)),
)
def test_crop_tensor_equals_the_array_crop(
    shape: tuple[int, int], box: tuple[int, int, int, int]
) -> None:
    """The device crop of the batch path cuts the same pixels as the host crop."""
    array = np.arange(3 * shape[0] * shape[1], dtype=np.float32).reshape(*shape, 3) + 1
    y0, height, x0, width = box
    bbox = (y0, y0 + height, x0, x0 + width)
    host = crop(array, bbox)
    device = crop_tensor(torch.from_numpy(array).permute(2, 0, 1), bbox)
    np.testing.assert_array_equal(device.permute(1, 2, 0).numpy(), host)
    with pytest.raises(ValueError, match="bbox"):
        crop_tensor(torch.zeros(3, 4, 4), (2, 2, 0, 1))

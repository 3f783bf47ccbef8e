"""Graham's contrast enhancement (``fundus.preprocess.graham``), against OpenCV's 8-bit recipe."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
from _helpers.preprocess import FAST, FundusFactory, disc
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from captum_iterative.fundus.preprocess import (
    estimate_radius,
    graham_enhance,
)


def _graham_reference(image: np.ndarray, radius: float) -> np.ndarray:
    """Graham's Kaggle recipe called literally on uint8 arrays (8-bit OpenCV blur)."""
    blur = cv2.GaussianBlur(image, (0, 0), radius / 30)
    return cv2.addWeighted(image, 4, blur, -4, 128)


@pytest.mark.parametrize("radius", [70, 100, 131])
def test_estimate_radius_of_a_drawn_disc(make_fundus: FundusFactory, radius: int) -> None:
    image = make_fundus(300, 400, radius=radius)
    assert abs(estimate_radius(image) - radius) <= 1.0


def test_estimate_radius_rejects_black_middle_row() -> None:
    with pytest.raises(ValueError, match="radius"):
        estimate_radius(np.zeros((10, 10, 3), np.uint8))


@pytest.mark.parametrize("level", [0, 37, 255])
def test_graham_on_a_constant_image_is_128(level: int) -> None:
    flat = np.full((81, 81, 3), level, np.uint8)
    assert (graham_enhance(flat, radius=40) == 128).all()


@FAST
@given(seed=st.integers(0, 2**32 - 1), radius=st.floats(20, 60))
def test_graham_is_128_outside_09_radius(seed: int, radius: float) -> None:
    image = np.random.default_rng(seed).integers(0, 256, (61, 75, 3), dtype=np.uint8)
    out = graham_enhance(image, radius=radius)
    ys, xs = np.mgrid[:61, :75]
    outside = (ys - 30) ** 2 + (xs - 37) ** 2 > (0.9 * radius) ** 2
    assert (out[outside] == 128).all()
    assert (out[~outside] != 128).any()


def test_graham_keeps_pixels_01_radius_inside_fov(make_fundus: FundusFactory) -> None:
    image = make_fundus(119, 119, radius=58)
    fov = disc(119, 119, (59, 59), 58)
    fov[:30] = False  # a disc clipped by the frame
    out = graham_enhance(image, radius=58, fov=fov)
    ys, xs = np.mgrid[:119, :119]
    circle = (ys - 59) ** 2 + (xs - 59) ** 2 <= (0.9 * 58) ** 2
    keep = circle & (ndi.distance_transform_edt(fov) >= 0.1 * 58)
    assert (out[~keep] == 128).all()
    assert (out[keep] != 128).any(axis=-1).mean() > 0.5
    assert (out[:35] == 128).all()  # rows 30-34 lie less than 5.8 px inside
    unclipped = disc(119, 119, (59, 59), 58)
    np.testing.assert_array_equal(
        graham_enhance(image, radius=58, fov=unclipped), graham_enhance(image, radius=58)
    )


def test_graham_radius_from_fov_middle_row(make_fundus: FundusFactory) -> None:
    image = make_fundus(128, 128, radius=60)
    fov = disc(128, 128, (64, 64), 60)
    by_fov = graham_enhance(image, fov=fov)
    np.testing.assert_array_equal(by_fov, graham_enhance(image, radius=60.5, fov=fov))


def test_graham_saturates_like_opencv_8bit_recipe(retina: np.ndarray) -> None:
    radius = estimate_radius(retina)
    out = graham_enhance(retina, radius=radius)
    reference = _graham_reference(retina, radius)
    ys, xs = np.mgrid[:480, :480]
    inside = (ys - 239.5) ** 2 + (xs - 239.5) ** 2 <= (0.9 * radius) ** 2
    assert out[inside].min() == 0 and out[inside].max() == 255  # saturation happens
    assert reference[inside].min() == 0 and reference[inside].max() == 255
    diff = np.abs(out.astype(int) - reference)[inside]
    assert diff.max() <= 4  # at most one grey level of blur difference, times 4
    assert (diff == 0).mean() >= 0.95
    assert (out[~inside] == 128).all()


def test_graham_kernel_size_is_opencv_8bit_rule(retina: np.ndarray) -> None:
    from captum_iterative.fundus.preprocess.graham import gaussian_ksize as _gaussian_ksize

    for sigma in (0.4, 1.0, 2.5, 8.53):
        ksize = _gaussian_ksize(sigma)
        np.testing.assert_array_equal(
            cv2.GaussianBlur(retina, (0, 0), sigma),
            cv2.GaussianBlur(retina, (ksize, ksize), sigma),
        )


@FAST
@given(
    image=arrays(np.uint8, (7, 9)),
    blur=arrays(np.uint8, (7, 9)),
)
def test_torch_graham_combination_equals_cv2_addweighted(
    image: np.ndarray, blur: np.ndarray
) -> None:
    from captum_iterative.fundus.preprocess.graham import (
        graham_combine_tensor as _graham_combine_tensor,
    )

    out = _graham_combine_tensor(torch.from_numpy(image).float(), torch.from_numpy(blur).float())
    np.testing.assert_array_equal(out.numpy(), cv2.addWeighted(image, 4, blur, -4, 128))


def test_graham_rejects_bad_radius(retina: np.ndarray) -> None:
    with pytest.raises(ValueError, match="radius"):
        graham_enhance(retina, radius=0)

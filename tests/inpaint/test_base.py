"""The inpainter protocol (``inpaint.base``): structuring elements against exact and scikit-image
references, mask dilation against OpenCV and SciPy, and the contract every inpainter inherits
(argument checks, masks dilated then clipped to the field of view, write-back of masked pixels
only, dtype kept, volumes refused unless declared), checked on a toy subclass."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage
from skimage.morphology import ball as skimage_ball
from skimage.morphology import disk

from captum_iterative.inpaint import (
    Inpainter,
    NavierStokesInpainter,
    PyramidInpainter,
    TeleaInpainter,
    dilate_masks,
)
from captum_iterative.inpaint.base import ball
from captum_iterative.inpaint.base import disk as base_disk


class ConstantFill(Inpainter):
    """Fills with one value and records the masks its ``_fill`` was handed."""

    def __init__(self, value: float = 0.5, dilation: int = 0) -> None:
        super().__init__(dilation)
        self.value = value
        self._seen: list[torch.Tensor] = []

    def _fill(self, images, masks, valid):  # type: ignore[no-untyped-def]
        self._seen.append(masks.clone())
        return torch.full_like(images, self.value, dtype=torch.float32)


class VolumeFill(ConstantFill):
    spatial_dims = (2, 3)


def _case(n: int = 2, c: int = 3, h: int = 12, w: int = 14, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, c, h, w, generator=g, dtype=torch.float64)
    masks = torch.rand(n, 1, h, w, generator=g) > 0.8
    return images, masks


# -- structuring elements --------------------------------------------------------------------


def test_disk_known_answers() -> None:
    assert base_disk(0).tolist() == [[1.0]]
    assert base_disk(1).tolist() == [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
    assert base_disk(1.5).tolist() == [[1.0] * 3] * 3  # corners at squared distance 2 <= 2.25
    assert base_disk(0.99).tolist() == [[1.0]]
    assert base_disk(2).dtype == torch.float32


@pytest.mark.parametrize("radius", range(0, 7))
def test_integer_disks_and_balls_match_scikit_image(radius: int) -> None:
    assert np.array_equal(base_disk(radius).numpy(), disk(radius).astype(np.float32))
    assert np.array_equal(ball(radius).numpy(), skimage_ball(radius).astype(np.float32))


@given(st.floats(0.0, 12.0, allow_nan=False))
@settings(max_examples=60, deadline=None)
def test_disk_of_any_radius_is_the_float_comparison(radius: float) -> None:
    # The reference: offsets (y, x) with y^2 + x^2 <= radius^2 in float64 (numpy). Integer offsets
    # against floor(r^2) agree with it for every float radius.
    got = base_disk(radius).numpy()
    reach = int(radius)
    assert got.shape == (2 * reach + 1, 2 * reach + 1)
    yy, xx = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    assert np.array_equal(got, (yy**2 + xx**2 <= radius**2).astype(np.float32))


def test_disk_counts_the_lattice_points_of_the_circle() -> None:
    # Gauss's circle problem, OEIS A000328: integer points with y^2 + x^2 <= r^2, r = 0..10.
    assert [int(base_disk(r).sum()) for r in range(11)] == [
        1, 5, 13, 29, 49, 81, 113, 149, 197, 253, 317,
    ]  # fmt: skip
    # 41 = 5^2 + 4^2 (and 37, 40): between sqrt(40) and sqrt(41) eight points are still out.
    assert base_disk(6.35).sum() == 113 + 8 + 8 and base_disk(6.35)[6 + 5, 6 + 4] == 0
    assert base_disk(6.41).sum() == 113 + 8 + 8 + 8 and base_disk(6.41)[6 + 5, 6 + 4] == 1


def test_structuring_elements_are_built_on_the_asked_device() -> None:
    assert base_disk(2, device="cpu").device.type == "cpu"
    assert ball(1, device=torch.device("cpu")).sum() == 7  # centre and its six neighbours


# -- dilation --------------------------------------------------------------------------------


def test_dilation_by_zero_returns_the_masks_themselves() -> None:
    _, masks = _case()
    assert dilate_masks(masks, 0) is masks


@given(seed=st.integers(0, 2**16), radius=st.integers(1, 4))
@settings(max_examples=25, deadline=None)
def test_dilation_of_images_matches_scipy_with_a_disk(seed: int, radius: int) -> None:
    _, masks = _case(n=2, h=15, w=11, seed=seed)
    out = dilate_masks(masks, radius)
    assert out.dtype == torch.bool and out.shape == masks.shape
    for i in range(2):
        expected = ndimage.binary_dilation(masks[i, 0].numpy(), structure=disk(radius))
        assert np.array_equal(out[i, 0].numpy(), expected)


def test_dilation_matches_opencv_disk_dilation() -> None:
    masks = torch.zeros(1, 1, 21, 21, dtype=torch.bool)
    masks[0, 0, 10, 10] = True
    masks[0, 0, 3, 15] = True
    grown = dilate_masks(masks, 2)
    kernel = disk(2).astype(np.uint8)  # scikit-image's disk: y^2 + x^2 <= r^2
    expected = cv2.dilate(masks[0, 0].numpy().astype(np.uint8), kernel) > 0
    assert np.array_equal(grown[0, 0].numpy(), expected)
    images = torch.rand(1, 3, 21, 21)
    out = NavierStokesInpainter(dilation=2)(images, masks)
    assert not (out != images).any(1)[0][~torch.from_numpy(expected)].any()


@pytest.mark.parametrize("radius", [1, 2, 3])
def test_dilation_of_volumes_matches_scipy_with_a_ball(radius: int) -> None:
    masks = torch.rand(2, 1, 9, 10, 11) > 0.93
    assert torch.equal(ball(radius).bool(), torch.from_numpy(skimage_ball(radius).astype(bool)))
    out = dilate_masks(masks, radius)
    for i in range(2):
        expected = ndimage.binary_dilation(masks[i, 0].numpy(), structure=skimage_ball(radius))
        assert torch.equal(out[i, 0], torch.from_numpy(expected))


@pytest.mark.parametrize("inpainter", [NavierStokesInpainter(), TeleaInpainter()])
def test_opencv_inpainters_refuse_volumes(inpainter) -> None:
    images = torch.rand(1, 2, 9, 12, 10, dtype=torch.float64)
    masks = torch.rand(1, 1, 9, 12, 10) > 0.7
    with pytest.raises(ValueError, match=r"fills 2-D images.*use PyramidInpainter"):
        inpainter(images, masks)


# -- the contract of every inpainter ---------------------------------------------------------


@given(seed=st.integers(0, 2**16), dilation=st.integers(0, 2), with_valid=st.booleans())
@settings(max_examples=30, deadline=None)
def test_only_the_dilated_clipped_masks_change(seed: int, dilation: int, with_valid: bool) -> None:
    images, masks = _case(seed=seed)
    valid = torch.rand(2, 1, 12, 14, generator=torch.Generator().manual_seed(seed + 1)) > 0.3
    inpainter = ConstantFill(0.25, dilation=dilation)
    out = inpainter(images, masks, valid if with_valid else None)
    expected_masks = dilate_masks(masks, dilation) & (valid if with_valid else True)
    assert torch.equal(inpainter._seen[0], expected_masks)
    expected = torch.where(expected_masks, torch.tensor(0.25, dtype=torch.float64), images)
    assert torch.equal(out, expected)  # outside the masks bit-identical, inside the fill


def test_output_keeps_the_images_dtype_and_inputs_are_not_modified() -> None:
    images, masks = _case()
    before = images.clone()
    out = ConstantFill(1 / 3)(images, masks)
    assert out.dtype == torch.float64 and out.shape == images.shape
    assert torch.equal(images, before)
    assert torch.equal(
        out[masks.expand_as(out)],
        torch.full_like(out, 1 / 3, dtype=torch.float32).double()[masks.expand_as(out)],
    )


def test_a_mask_of_batch_size_one_is_broadcast() -> None:
    images, masks = _case(n=3)
    out = ConstantFill(0.0)(images, masks[:1])
    assert torch.equal(out, torch.where(masks[:1], torch.zeros((), dtype=torch.float64), images))


def test_images_must_be_a_floating_point_tensor() -> None:
    with pytest.raises(TypeError, match=r"`images` must be a torch\.Tensor"):
        ConstantFill()(np.zeros((1, 3, 8, 8)), torch.zeros(1, 1, 8, 8, dtype=torch.bool))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="floating point"):
        ConstantFill()(
            torch.zeros(1, 3, 8, 8, dtype=torch.int64), torch.zeros(1, 1, 8, 8, dtype=torch.bool)
        )
    with pytest.raises(ValueError, match=r"\(N, C, H, W\), got \(3, 8, 8\)"):
        ConstantFill()(torch.rand(3, 8, 8), torch.zeros(1, 8, 8, dtype=torch.bool))


def test_volumes_only_for_inpainters_that_declare_them() -> None:
    volume = torch.rand(1, 2, 4, 6, 6)
    masks = torch.zeros(1, 1, 4, 6, 6, dtype=torch.bool)
    masks[0, 0, 2, 3, 3] = True
    with pytest.raises(ValueError, match="ConstantFill fills 2-D images"):
        ConstantFill()(volume, masks)
    out = VolumeFill(0.5, dilation=1)(volume, masks)
    assert torch.equal(out, torch.where(dilate_masks(masks, 1), torch.tensor(0.5), volume))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\) or \(N, C, D, H, W\)"):
        VolumeFill()(torch.rand(1, 2, 3, 4, 5, 6), masks)


@pytest.mark.parametrize("dilation", [-1, 1.5, True, "2"])
def test_dilation_must_be_a_non_negative_int(dilation: object) -> None:
    with pytest.raises((ValueError, TypeError), match="dilation"):
        ConstantFill(dilation=dilation)  # type: ignore[arg-type]


def test_the_base_class_is_abstract_and_repr_shows_public_settings() -> None:
    with pytest.raises(TypeError, match="abstract"):
        Inpainter()  # type: ignore[abstract]
    assert repr(ConstantFill(0.5, dilation=2)) == "ConstantFill(dilation=2, value=0.5)"
    assert repr(PyramidInpainter()).startswith("PyramidInpainter(")


@pytest.mark.parametrize(
    ("call", "error", "name"),
    [
        (
            lambda f: f(torch.rand(3, 8, 8), torch.zeros(1, 1, 8, 8, dtype=torch.bool)),
            ValueError,
            "images",
        ),
        (
            lambda f: f(
                torch.zeros(1, 3, 8, 8, dtype=torch.uint8),
                torch.zeros(1, 1, 8, 8, dtype=torch.bool),
            ),
            TypeError,
            "images",
        ),
        (lambda f: f(torch.rand(1, 3, 8, 8), torch.zeros(1, 1, 8, 8)), TypeError, "masks"),
        (
            lambda f: f(torch.rand(2, 3, 8, 8), torch.zeros(2, 1, 8, 9, dtype=torch.bool)),
            ValueError,
            "masks",
        ),
        (
            lambda f: f(torch.rand(2, 3, 8, 8), torch.zeros(3, 1, 8, 8, dtype=torch.bool)),
            ValueError,
            "masks",
        ),
        (
            lambda f: f(torch.rand(2, 3, 8, 8), torch.zeros(2, 3, 8, 8, dtype=torch.bool)),
            ValueError,
            "masks",
        ),
        (
            lambda f: f(
                torch.rand(1, 3, 8, 8),
                torch.zeros(1, 1, 8, 8, dtype=torch.bool),
                torch.ones(1, 1, 4, 4, dtype=torch.bool),
            ),
            ValueError,
            "valid",
        ),
    ],
)
def test_bad_input_names_the_argument(call, error: type, name: str) -> None:
    with pytest.raises(error, match=name):
        call(NavierStokesInpainter())

"""Tests for captum_iterative.fundus.preprocess (FOV, crop, resize, Graham, batch path)."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest
import scipy.ndimage as ndi
import skimage.color
import skimage.measure
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from captum_iterative.fundus.preprocess import (
    FundusTransform,
    PreprocessedFundus,
    crop,
    estimate_radius,
    fov_bbox,
    fov_mask,
    graham_enhance,
    preprocess_batch,
    preprocess_fundus,
    resize_image,
    resize_mask,
    square_bbox,
    to_tensor,
)
from captum_iterative.fundus.types import FundusSample

FundusFactory = Callable[..., np.ndarray]

FAST = settings(max_examples=25, deadline=None)


def _disc(height: int, width: int, centre: tuple[int, int], radius: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    cv2.circle(mask, (centre[1], centre[0]), radius, 1, -1)
    return mask.astype(bool)


def _graham_reference(image: np.ndarray, radius: float) -> np.ndarray:
    """Graham's Kaggle recipe called literally on uint8 arrays (8-bit OpenCV blur)."""
    blur = cv2.GaussianBlur(image, (0, 0), radius / 30)
    return cv2.addWeighted(image, 4, blur, -4, 128)


def _to_batch(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None]


# ---------------------------------------------------------------- field of view


def test_fov_mask_is_the_drawn_disc(make_fundus: FundusFactory) -> None:
    image = make_fundus(200, 260, centre=(90, 140), radius=80)
    expected = _disc(200, 260, (90, 140), 80)
    for method in ("red", "lab"):
        np.testing.assert_array_equal(fov_mask(image, method=method), expected)


def test_fov_mask_keeps_largest_component_and_fills_holes(make_fundus: FundusFactory) -> None:
    image = make_fundus(200, 260, centre=(100, 120), radius=80)
    cv2.circle(image, (120, 100), 12, (0, 0, 0), -1)  # a black "lesion" inside the disc
    image[5:15, 240:250] = 255  # a bright speck outside the disc
    fov = fov_mask(image)
    np.testing.assert_array_equal(fov, _disc(200, 260, (100, 120), 80))


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


# ---------------------------------------------------------------- boxes and crops


def test_fov_bbox_of_a_drawn_disc() -> None:
    assert fov_bbox(_disc(200, 260, (90, 140), 60)) == (30, 151, 80, 201)


def test_fov_bbox_rejects_empty_mask() -> None:
    with pytest.raises(ValueError, match="fov is empty"):
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


# ---------------------------------------------------------------- resizing


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


# ---------------------------------------------------------------- Graham


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
    fov = _disc(119, 119, (59, 59), 58)
    fov[:30] = False  # a disc clipped by the frame
    out = graham_enhance(image, radius=58, fov=fov)
    ys, xs = np.mgrid[:119, :119]
    circle = (ys - 59) ** 2 + (xs - 59) ** 2 <= (0.9 * 58) ** 2
    keep = circle & (ndi.distance_transform_edt(fov) >= 0.1 * 58)
    assert (out[~keep] == 128).all()
    assert (out[keep] != 128).any(axis=-1).mean() > 0.5
    assert (out[:35] == 128).all()  # rows 30-34 lie less than 5.8 px inside
    unclipped = _disc(119, 119, (59, 59), 58)
    np.testing.assert_array_equal(
        graham_enhance(image, radius=58, fov=unclipped), graham_enhance(image, radius=58)
    )


def test_graham_radius_from_fov_middle_row(make_fundus: FundusFactory) -> None:
    image = make_fundus(128, 128, radius=60)
    fov = _disc(128, 128, (64, 64), 60)
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


# ---------------------------------------------------------------- one image


def test_preprocess_fundus_shapes_and_dtypes(make_fundus: FundusFactory) -> None:
    image = make_fundus(180, 260, radius=80)
    lesion = np.zeros((180, 260), bool)
    out = preprocess_fundus(image, 96, masks={"hemorrhages": lesion})
    assert isinstance(out, PreprocessedFundus)
    assert out.image.shape == (96, 96, 3) and out.image.dtype == np.uint8
    assert out.fov.shape == (96, 96) and out.fov.dtype == np.bool_
    assert out.masks["hemorrhages"].shape == (96, 96)
    assert out.masks["hemorrhages"].dtype == np.bool_
    assert out.original_shape == (180, 260)
    assert out.bbox == (10, 171, 50, 211)
    assert out.scale == (96 / 161, 96 / 161)
    assert out.radius == pytest.approx(48.0, abs=1)


def test_preprocess_fundus_squares_a_clipped_disc(make_fundus: FundusFactory) -> None:
    image = make_fundus(160, 300, radius=100)  # disc clipped at top and bottom
    out = preprocess_fundus(image, 101, enhance=False)
    assert out.bbox == (-20, 181, 50, 251)
    assert out.fov[50].sum() in (100, 101)  # round: the full width of the frame
    assert abs(int(out.fov[:, 50].sum()) - round(160 * 101 / 201)) <= 1
    assert not out.fov[:9].any() and not out.fov[-9:].any()
    stretched = preprocess_fundus(image, 101, enhance=False, square=False)
    assert stretched.bbox == (0, 160, 50, 251)
    assert stretched.fov.all(axis=0).any()


def test_masks_stay_aligned_with_image(make_fundus: FundusFactory) -> None:
    image = make_fundus(300, 360, radius=140)
    lesion = np.zeros((300, 360), bool)
    centre = (110, 230)
    cv2.circle(image, centre[::-1], 9, (10, 10, 10), -1)
    lesion[_disc(300, 360, centre, 9)] = True
    out = preprocess_fundus(image, 128, enhance=False, masks={"hemorrhages": lesion})
    mask = out.masks["hemorrhages"]
    dark = out.image.sum(axis=2) < 120
    y, x = np.rint(out.to_preprocessed(np.array(centre))).astype(int)
    window = np.s_[y - 12 : y + 13, x - 12 : x + 13]
    assert mask.sum() > 0
    assert (dark[window] == mask[window]).mean() > 0.98
    assert mask[window].sum() == mask.sum()  # the whole lesion lies in the window
    centroid = np.argwhere(mask).mean(axis=0)
    np.testing.assert_allclose(out.to_original(centroid), centre, atol=1.5)
    np.testing.assert_allclose(out.to_preprocessed(np.array(centre)), centroid, atol=0.6)


@FAST
@given(
    bbox=st.tuples(st.integers(-50, 50), st.integers(10, 300), st.integers(-50, 50)),
    size=st.integers(8, 600),
    yx=arrays(np.float64, (5, 2), elements=st.floats(-100, 700)),
)
def test_coordinate_mapping_round_trips(
    bbox: tuple[int, int, int], size: int, yx: np.ndarray
) -> None:
    y0, side, x0 = bbox
    frame = PreprocessedFundus(
        image=np.zeros((1, 1, 3), np.uint8),
        fov=np.zeros((1, 1), bool),
        masks={},
        bbox=(y0, y0 + side, x0, x0 + side),
        original_shape=(400, 400),
        scale=(size / side, size / side),
        radius=None,
    )
    np.testing.assert_allclose(frame.to_original(frame.to_preprocessed(yx)), yx, atol=1e-6)
    corners = frame.to_original(np.array([[-0.5, -0.5], [size - 0.5, size - 0.5]]))
    np.testing.assert_allclose(
        corners, [[y0 - 0.5, x0 - 0.5], [y0 + side - 0.5, x0 + side - 0.5]], atol=1e-9
    )


def test_preprocess_fundus_uses_given_fov(make_fundus: FundusFactory) -> None:
    image = make_fundus(200, 200, radius=90)
    fov = np.zeros((200, 200), bool)
    fov[50:150, 40:160] = True
    out = preprocess_fundus(image, 64, fov=fov, enhance=False)
    assert out.bbox == (40, 160, 40, 160)
    assert out.fov[0].sum() == 0 and out.fov[32].all()


def test_inputs_are_not_modified(make_fundus: FundusFactory) -> None:
    image = make_fundus(150, 170, radius=70)
    lesion = _disc(150, 170, (60, 80), 5)
    fov = fov_mask(image)
    copies = [image.copy(), lesion.copy(), fov.copy()]
    preprocess_fundus(image, 64, fov=fov, masks={"hard_exudates": lesion})
    graham_enhance(image, fov=fov)
    batch = _to_batch(image)
    batch_copy = batch.clone()
    preprocess_batch(batch, 64)
    for before, after in zip(copies, [image, lesion, fov], strict=True):
        np.testing.assert_array_equal(before, after)
    assert torch.equal(batch, batch_copy)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"size": 0}, ValueError, "size"),
        ({"size": 12.5}, TypeError, "size"),
        ({"fov": np.zeros((5, 5), bool)}, ValueError, "fov"),
        ({"fov": np.zeros((150, 170), np.uint8)}, TypeError, "fov"),
        ({"masks": {"hemorrhages": np.zeros((150, 171), bool)}}, ValueError, "hemorrhages"),
        ({"masks": {"drusen": np.zeros((150, 170), np.uint8)}}, TypeError, "drusen"),
        ({"fov": np.zeros((150, 170), bool)}, ValueError, "fov is empty"),
    ],
)
def test_preprocess_fundus_rejects_bad_arguments(
    make_fundus: FundusFactory, kwargs: dict, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        preprocess_fundus(make_fundus(150, 170, radius=70), **kwargs)


# ---------------------------------------------------------------- batch path


def _agreement(host: np.ndarray, device: torch.Tensor) -> tuple[float, float]:
    diff = np.abs(device.permute(1, 2, 0).cpu().numpy() - host.astype(np.float32))
    return float((diff <= 1).mean()), float(diff.max())


@pytest.mark.parametrize("enhance", [True, False])
@pytest.mark.parametrize("method", ["red", "lab"])
def test_batch_path_agrees_with_host_path(
    make_fundus: FundusFactory, retina: np.ndarray, enhance: bool, method: str
) -> None:
    images = [
        retina,  # shrink 480 -> 256
        make_fundus(300, 420, radius=160),  # clipped disc, padded to a square
        make_fundus(150, 150, centre=(70, 80), radius=60),  # enlarged 121 -> 256
    ]
    for image in images:
        host = preprocess_fundus(image, 256, enhance=enhance, fov_method=method)
        batch, fov = preprocess_batch(_to_batch(image), 256, enhance=enhance, fov_method=method)
        within_one, _ = _agreement(host.image, batch[0])
        assert within_one >= 0.999, within_one
        assert (fov[0, 0].numpy() == host.fov).mean() >= 0.999


def test_batch_of_several_images_equals_single_calls(make_fundus: FundusFactory) -> None:
    images = np.stack([make_fundus(200, 240, radius=r, seed=r) for r in (70, 95, 110)])
    batch = torch.from_numpy(images).permute(0, 3, 1, 2)
    together, fov = preprocess_batch(batch, 128)
    assert together.shape == (3, 3, 128, 128) and together.dtype == torch.float32
    assert fov.shape == (3, 1, 128, 128) and fov.dtype == torch.bool
    for index in range(3):
        alone, _ = preprocess_batch(batch[index : index + 1], 128)
        assert torch.equal(together[index], alone[0])


def test_batch_accepts_float_input_and_given_fov(make_fundus: FundusFactory) -> None:
    image = make_fundus(160, 160, radius=70)
    fov = torch.from_numpy(fov_mask(image))[None]
    as_uint8, fov_uint8 = preprocess_batch(_to_batch(image), 64, fov=fov)
    as_float, fov_float = preprocess_batch(_to_batch(image).double(), 64, fov=fov[:, None])
    assert torch.equal(as_uint8, as_float) and torch.equal(fov_uint8, fov_float)
    assert as_float.min() >= 0 and as_float.max() <= 255
    assert torch.equal(as_float, as_float.round())


@pytest.mark.parametrize(
    ("images", "kwargs", "error", "match"),
    [
        (np.zeros((1, 3, 8, 8), np.uint8), {}, TypeError, "images"),
        (torch.zeros(3, 8, 8, dtype=torch.uint8), {}, ValueError, "images"),
        (torch.zeros(1, 4, 8, 8, dtype=torch.uint8), {}, ValueError, "images"),
        (torch.zeros(1, 3, 8, 8, dtype=torch.int32), {}, TypeError, "images"),
        (torch.zeros(1, 3, 8, 8), {"fov": torch.ones(1, 8, 8)}, TypeError, "fov"),
        (
            torch.zeros(1, 3, 8, 8),
            {"fov": torch.ones(2, 8, 8, dtype=torch.bool)},
            ValueError,
            "fov",
        ),
        (torch.zeros(1, 3, 8, 8), {}, ValueError, "field of view"),
    ],
)
def test_batch_rejects_bad_input(images: object, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        preprocess_batch(images, 4, **kwargs)  # type: ignore[arg-type]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_batch_on_cuda_equals_cpu(retina: np.ndarray, make_fundus: FundusFactory) -> None:
    images = torch.from_numpy(np.stack([retina, make_fundus(480, 480, radius=230)]))
    images = images.permute(0, 3, 1, 2)
    on_cpu, fov_cpu = preprocess_batch(images, 512)
    on_gpu, fov_gpu = preprocess_batch(images.cuda(), 512)
    assert on_gpu.device.type == "cuda" and fov_gpu.device.type == "cuda"
    assert torch.equal(fov_cpu, fov_gpu.cpu())
    assert ((on_cpu - on_gpu.cpu()).abs() <= 1).float().mean() >= 0.999


# ---------------------------------------------------------------- model inputs


def test_to_tensor_scales_and_transposes(retina: np.ndarray) -> None:
    tensor = to_tensor(retina)
    assert tensor.shape == (3, 480, 480) and tensor.dtype == torch.float32
    np.testing.assert_allclose(tensor[1].numpy(), retina[..., 1] / 255.0, rtol=1e-6)
    with pytest.raises(TypeError, match="image"):
        to_tensor(retina.astype(np.float32))


def test_fundus_transform_maps_sample_into_preprocessed_frame(
    make_fundus: FundusFactory,
) -> None:
    image = make_fundus(200, 240, radius=90)
    fov = fov_mask(image)
    lesion = _disc(200, 240, (80, 150), 6)
    sample = FundusSample(image, 3, {"microaneurysms": lesion}, fov, "x1")
    out = FundusTransform(size=72)(sample)
    expected = preprocess_fundus(image, 72, fov=fov, masks={"microaneurysms": lesion})
    assert (out.grade, out.id) == (3, "x1")
    np.testing.assert_array_equal(out.image, expected.image)
    np.testing.assert_array_equal(out.fov, expected.fov)
    np.testing.assert_array_equal(out.masks["microaneurysms"], expected.masks["microaneurysms"])
    assert "size=72" in repr(FundusTransform(size=72))

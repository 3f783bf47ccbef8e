"""One image on the host (``fundus.preprocess.host``): preprocess_fundus and model inputs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from _helpers.preprocess import FAST, FundusFactory, disc, to_batch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from captum_iterative.fundus.preprocess import (
    PreprocessedFundus,
    fov_mask,
    graham_enhance,
    preprocess_batch,
    preprocess_fundus,
    to_tensor,
)


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
    lesion[disc(300, 360, centre, 9)] = True
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
    lesion = disc(150, 170, (60, 80), 5)
    fov = fov_mask(image)
    copies = [image.copy(), lesion.copy(), fov.copy()]
    preprocess_fundus(image, 64, fov=fov, masks={"hard_exudates": lesion})
    graham_enhance(image, fov=fov)
    batch = to_batch(image)
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
        ({"fov": np.zeros((150, 170), bool)}, ValueError, "`fov` is empty"),
    ],
)
def test_preprocess_fundus_rejects_bad_arguments(
    make_fundus: FundusFactory, kwargs: dict, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        preprocess_fundus(make_fundus(150, 170, radius=70), **kwargs)


def test_to_tensor_scales_and_transposes(retina: np.ndarray) -> None:
    tensor = to_tensor(retina)
    assert tensor.shape == (3, 480, 480) and tensor.dtype == torch.float32
    np.testing.assert_allclose(tensor[1].numpy(), retina[..., 1] / 255.0, rtol=1e-6)
    with pytest.raises(TypeError, match="image"):
        to_tensor(retina.astype(np.float32))

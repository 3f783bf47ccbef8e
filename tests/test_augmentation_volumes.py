"""Volumes (N, C, D, H, W) through the whole loop: reduction, Otsu, 3-D inpainting, known answers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from _helpers.core import VOLUME_CELLS, BlobScore3d, blob_volume
from captum.attr import LayerGradCam, Saliency
from skimage.filters import threshold_otsu

from captum_iterative import IterativeAugmentation, PyramidInpainter, binarize_otsu
from captum_iterative.binarize import otsu_threshold

TH = 0.3
# BlobScore3d's response to a 3x3x3 blob of intensity v on the 0.1 background is about
# 0.1 + 0.52 (v - 0.1): blobs of 0.6 and more are abnormal at TH = 0.3, and once a blob is
# inpainted the score drops to the next brightest one.
VOLUMES = [[0.9, 0.8, 0.7, 0.6], [0.85], [], [0.9, 0.65]]


def volumes() -> torch.Tensor:
    return torch.stack([blob_volume(v, seed=i) for i, v in enumerate(VOLUMES)])


@pytest.fixture
def model() -> BlobScore3d:
    return BlobScore3d().double().eval()


def test_loop_removes_one_blob_per_step_brightest_first(model: BlobScore3d) -> None:
    images = volumes()
    explainer = IterativeAugmentation(
        Saliency(model), threshold=TH, inpainter=PyramidInpainter(), keep_history=True
    )
    result = explainer.explain(images)
    assert result.augmented.shape == (4, 1, 24, 24, 24)
    assert result.iterations.tolist() == [4, 1, 0, 2]
    assert result.stop_reason == ["normal", "normal", "not_abnormal", "normal"]
    for i, intensities in enumerate(VOLUMES):
        for t in range(len(intensities)):
            mask = result.masks[i][t, 0]
            z, y, x = VOLUME_CELLS[t]  # blob t is the t-th brightest
            assert mask[z, y, x], (i, t)
            others = [c for k, c in enumerate(VOLUME_CELLS[: len(intensities)]) if k > t]
            assert not any(mask[c] for c in others), (i, t)
        # every blob was erased: the inpainted volume is background there
        for z, y, x in VOLUME_CELLS[: len(intensities)]:
            assert result.inpainted[i, :, z, y, x].max() < 0.2
    assert torch.equal(result.augmented[2], torch.zeros_like(result.augmented[2]))
    scores = result.scores[0]
    assert torch.all(scores[1:] < scores[:-1])  # each step lowers the score


def test_masks_are_otsu_on_the_whole_volume(model: BlobScore3d) -> None:
    images = volumes()[:1]
    result = IterativeAugmentation(
        Saliency(model), threshold=TH, inpainter=PyramidInpainter(), keep_history=True
    ).explain(images)
    first = result.maps[0][0, 0]
    expected = first.numpy() >= threshold_otsu(first.numpy())
    assert torch.equal(result.masks[0][0, 0], torch.from_numpy(expected))


def test_otsu_of_a_volume_matches_scikit_image() -> None:
    maps = torch.rand(3, 1, 6, 9, 7) ** 3
    thresholds = otsu_threshold(maps)
    for i in range(3):
        assert thresholds[i].item() == threshold_otsu(maps[i, 0].numpy())
    masks = binarize_otsu(maps)
    assert masks.shape == maps.shape
    assert torch.equal(masks, maps >= thresholds.view(-1, 1, 1, 1, 1))


def test_valid_volume_restricts_the_loop(model: BlobScore3d) -> None:
    images = volumes()[:1]
    valid = torch.ones(1, 1, 24, 24, 24, dtype=torch.bool)
    valid[..., :12] = False  # the half x < 12 is outside
    result = IterativeAugmentation(
        Saliency(model), threshold=TH, inpainter=PyramidInpainter(), keep_history=True
    ).explain(images, valid=valid)
    outside = (~valid).expand_as(images)
    assert torch.equal(result.inpainted[outside], images[outside])
    assert not result.masks[0][..., :12].any()


def test_layer_maps_of_volumes_are_upsampled_trilinearly(model: BlobScore3d) -> None:
    images = volumes()[:2]
    pooled = torch.nn.Sequential(torch.nn.AvgPool3d(2), model).eval()  # conv at half resolution
    layer = LayerGradCam(pooled, model.conv)
    result = IterativeAugmentation(
        layer, threshold=-1e9, inpainter=PyramidInpainter(), max_iter=1
    ).explain(images, relu_attributions=True)
    cam = layer.attribute(images, relu_attributions=True)
    assert cam.shape[2:] == (12, 12, 12)
    expected = F.interpolate(cam, (24, 24, 24), mode="trilinear", align_corners=False)
    torch.testing.assert_close(result.initial, expected)


def test_opencv_inpainter_refuses_volumes_and_names_the_alternative(model: BlobScore3d) -> None:
    explainer = IterativeAugmentation(Saliency(model), threshold=TH)  # NavierStokesInpainter
    with pytest.raises(ValueError, match=r"NavierStokesInpainter fills 2-D.*PyramidInpainter"):
        explainer.explain(volumes())


def test_six_dimensional_inputs_are_refused(model: BlobScore3d) -> None:
    explainer = IterativeAugmentation(Saliency(model), threshold=TH, inpainter=PyramidInpainter())
    with pytest.raises(ValueError, match=r"inputs.*\(N, C, D, H, W\)"):
        explainer.explain(torch.rand(1, 1, 4, 4, 4, 4, dtype=torch.float64))

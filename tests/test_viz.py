"""Figures: shapes and ranges of overlays, the step-by-step figure and the method grid."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from _helpers.core import BlobScore, blob_image
from captum.attr import Saliency

from captum_iterative import AugmentationResult, IterativeAugmentation
from captum_iterative.viz import (
    mask_overlay,
    normalize_map,
    overlay,
    plot_augmented_evidence,
    plot_iterations,
    to_display_image,
)


def test_display_image_accepts_tensors_and_arrays() -> None:
    chw = torch.rand(3, 8, 10)
    hwc = chw.permute(1, 2, 0).numpy()
    a, b = to_display_image(chw), to_display_image(hwc)
    assert a.shape == b.shape == (8, 10, 3)
    np.testing.assert_allclose(a, b)
    assert a.min() == 0.0 and a.max() == 1.0
    assert to_display_image(np.zeros((4, 4))).shape == (4, 4, 3)


def test_overlay_leaves_zero_map_pixels_unchanged() -> None:
    image = torch.rand(3, 16, 16)
    heat = torch.zeros(1, 16, 16)
    heat[0, 4, 4] = 5.0
    out = overlay(image, heat)
    base = to_display_image(image)
    assert out.shape == (16, 16, 3) and 0.0 <= out.min() and out.max() <= 1.0
    mask = np.ones((16, 16), bool)
    mask[4, 4] = False
    np.testing.assert_allclose(out[mask], base[mask])
    assert not np.allclose(out[4, 4], base[4, 4])
    with pytest.raises(ValueError, match="attr_map"):
        normalize_map(np.zeros((2, 3, 4)))


def test_step_figure_shows_first_and_last_steps() -> None:
    model = BlobScore().double().eval()
    images = torch.stack([blob_image([0.9, 0.88, 0.86, 0.84, 0.82, 0.8])])
    result = IterativeAugmentation(
        Saliency(model), threshold=0.3, max_iter=6, keep_history=True
    ).explain(images)
    fig = plot_iterations(result, images[0], max_columns=3)
    titles = [ax.get_title() for ax in fig.axes]
    assert any("M^{1}" in t for t in titles) and any("M^{6}" in t for t in titles)
    assert not any("M^{4}" in t for t in titles)
    with pytest.raises(ValueError, match="keep_history"):
        plot_iterations(
            IterativeAugmentation(Saliency(model), threshold=0.3).explain(images), images[0]
        )


@pytest.fixture(scope="module")
def two_images() -> tuple[torch.Tensor, AugmentationResult]:
    """Two images (six blobs: 6 maps; two blobs: 2 maps) explained with a steep decay."""
    images = torch.stack(
        [blob_image([0.9, 0.88, 0.86, 0.84, 0.82, 0.8], seed=0), blob_image([0.9, 0.7], seed=1)]
    )
    explainer = IterativeAugmentation(
        Saliency(BlobScore().double().eval()), threshold=0.3, alpha=2.0, keep_history=True
    )
    return images, explainer.explain(images)


def test_step_figure_of_a_batch_draws_the_image_index(
    two_images: tuple[torch.Tensor, AugmentationResult],
) -> None:
    images, result = two_images
    assert result.iterations.tolist() == [6, 2]
    # The batch used to reach imshow as it was: TypeError: Invalid shape (2, 3, 48, 48).
    fig = plot_iterations(result, images, 1, title="Saliency")
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), to_display_image(images[1]))
    assert fig.get_suptitle() == ("Saliency — image 1: 2 maps, stop reason normal, threshold 0.3")
    titles = [ax.get_title() for ax in fig.axes]
    assert any("M^{2}" in t for t in titles) and not any("M^{3}" in t for t in titles)
    # The one image, as before, draws the same figure.
    alone = plot_iterations(result, images[1], index=-1, title="Saliency")
    assert [ax.get_title() for ax in alone.axes] == titles
    # A result of one image has no index to name.
    single = plot_iterations(result[1], images[1], title="Saliency")
    assert single.get_suptitle() == "Saliency — 2 maps, stop reason normal, threshold 0.3"
    with pytest.raises(ValueError, match="`images` holds 1 images for a result of 2"):
        plot_iterations(result, images[:1], 1)
    with pytest.raises(IndexError, match="`index` 2 out of range"):
        plot_iterations(result, images, 2)


def test_step_figure_weights_keep_significant_digits_and_the_scales_have_colour_bars(
    two_images: tuple[torch.Tensor, AugmentationResult],
) -> None:
    images, result = two_images
    fig = plot_iterations(result, images, 0, max_columns=3)
    titles = [ax.get_title() for ax in fig.axes]
    # exp(-2 * 6) = 6.1e-6 was printed w=0.00
    assert "$M^{6}$  w=6.1e-06" in titles and "$M^{1}$  w=0.14" in titles
    assert not any("w=0.00" in t for t in titles)
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert "$|M^t|$ / 99.5th pct" in labels and "map / 99.5th pct (overlay)" in labels
    # Three blobs are left after two of the six maps' blobs were inpainted; the last mask
    # panel reports the score after its own step.
    assert f"-> score {float(result.scores[0][-1]):.4g}" in titles[-4]


def test_mask_overlay_paints_masked_pixels_apart_from_the_grey_image() -> None:
    image = torch.rand(3, 20, 24)
    mask = torch.zeros(1, 20, 24, dtype=torch.bool)
    mask[0, 5:8, 3:9] = True
    drawn = mask_overlay(image, mask)
    saturation = drawn.max(axis=-1) - drawn.min(axis=-1)
    inside = mask[0].numpy()
    # Grey outside the mask, a saturated colour inside (0.85 of magenta's full saturation),
    # whatever the image's own colours.
    np.testing.assert_allclose(saturation[~inside], 0.0, atol=1e-12)
    np.testing.assert_allclose(saturation[inside], 0.85, atol=1e-6)
    with pytest.raises(ValueError, match="`mask`"):
        mask_overlay(image, mask[:, :10])


def test_augmented_evidence_shows_the_later_maps_share() -> None:
    rng = np.random.default_rng(0)
    images = [torch.rand(3, 12, 12) for _ in range(2)]
    initial = [rng.random((1, 12, 12)) for _ in range(2)]
    later = [rng.random((1, 12, 12)) for _ in range(2)]
    augmented = [np.exp(-0.6) * m + w for m, w in zip(initial, later, strict=True)]
    outlines = [{"hemorrhages": np.eye(12, dtype=bool)}, {"microaneurysms": np.eye(12) > 0}]
    fig = plot_augmented_evidence(
        images,
        initial,
        augmented,
        alpha=0.6,
        method="GBP",
        titles=["x", "y"],
        outlines=outlines,
        iterations=[1, 3],
    )
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 2 * 4  # 4 panels per image, plus one colourbar per map panel
    assert len(fig.axes) == 2 * 4 + 2 * 3
    assert [ax.get_title() for ax in panels[::4]] == ["x (1 map)", "y (3 maps)"]
    shown = panels[3].get_images()[0].get_array()
    np.testing.assert_allclose(shown, later[0][0], atol=1e-12)
    # the later maps are drawn on the augmented map's colour scale
    assert panels[3].get_images()[0].get_clim() == panels[2].get_images()[0].get_clim()
    assert {t.get_text() for t in fig.legends[0].get_texts()} == {"hemorrhages", "microaneurysms"}
    with pytest.raises(ValueError, match="same number"):
        plot_augmented_evidence(images, initial[:1], augmented, alpha=0.6, method="GBP")


def test_overlay_accepts_a_batch(blob_model: BlobScore) -> None:
    images = torch.stack([blob_image([0.9], seed=0), blob_image([0.8, 0.7], seed=1)])
    maps = IterativeAugmentation(Saliency(blob_model), threshold=0.3).attribute(images)
    batch = overlay(images, maps)
    assert batch.shape == (2, 48, 48, 3)
    for i in range(2):
        np.testing.assert_array_equal(batch[i], overlay(images[i], maps[i]))
    hwc = images.permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(overlay(images.numpy(), maps[:, 0].numpy()), batch)
    assert overlay(hwc[0], maps[0]).shape == (48, 48, 3)
    with pytest.raises(ValueError, match="attr_map"):
        overlay(images, maps[:1])

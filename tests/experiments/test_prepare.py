"""Images in the classifier's frame (``experiments.prepare``): prepare_images against the
preprocessing it composes, lesions labelled at native resolution, and predict_scores against
the model called on each image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _helpers.experiments import sample
from torch import nn

from captum_iterative.experiments import PreparedImage, predict_scores, prepare_images
from captum_iterative.fundus.preprocess import preprocess_fundus, to_tensor
from captum_iterative.fundus.types import FundusSample

SIZE = 64


def test_lesions_are_labelled_at_native_resolution() -> None:
    base = sample(0, native=256)
    mask = np.zeros(base.fov.shape, dtype=bool)
    mask[100, 100] = mask[100, 102] = True  # two 1-px lesions 2 px apart: one pixel apart at 64
    mask[150, 90:93] = True
    data = [FundusSample(base.image, 2, {"microaneurysms": mask}, base.fov, "x")]
    prepared = prepare_images(data, SIZE, progress=False)[0]
    assert prepared.native_lesions == {"microaneurysms": 3}
    kept = np.unique(prepared.masks["microaneurysms"][prepared.masks["microaneurysms"] > 0])
    assert kept.size + prepared.lost_lesions["microaneurysms"] == 3
    assert prepared.image.shape == (3, SIZE, SIZE) and prepared.fov.shape == (SIZE, SIZE)


@pytest.mark.parametrize("enhance", [True, False])
def test_images_are_the_preprocessing_of_each_sample(enhance: bool) -> None:
    data = [sample(s) for s in range(2)]
    prepared = prepare_images(data, SIZE, enhance=enhance, progress=False)
    assert [p.id for p in prepared] == ["img0", "img1"] and [p.grade for p in prepared] == [2, 2]
    for p, s in zip(prepared, data, strict=True):
        reference = preprocess_fundus(s.image, SIZE, fov=s.fov, enhance=enhance)
        assert p.image.dtype == torch.float32 and torch.equal(p.image, to_tensor(reference.image))
        assert np.array_equal(p.fov, reference.fov)
        assert set(p.masks) == {"hemorrhages", "hard_exudates"}
        assert all(m.dtype == np.int32 and m.shape == (SIZE, SIZE) for m in p.masks.values())
        assert p.native_lesions["hard_exudates"] == 0 == int(p.masks["hard_exudates"].max())
        assert p.native_lesions["hemorrhages"] >= 1
    assert not torch.equal(prepared[0].image, prepared[1].image)


def test_max_images_keeps_the_first_images() -> None:
    data = [sample(s) for s in range(3)]
    assert [p.id for p in prepare_images(data, SIZE, max_images=2, progress=False)] == [
        "img0",
        "img1",
    ]
    assert len(prepare_images(data, SIZE, max_images=10, progress=False)) == 3
    assert prepare_images(data, SIZE, max_images=0, progress=False) == []


def test_a_dataset_item_that_is_not_a_sample_is_named() -> None:
    data = [sample(0), {"image": sample(1).image}]
    with pytest.raises(TypeError, match="dataset item 1 is dict, expected FundusSample"):
        prepare_images(data, SIZE, progress=False)  # type: ignore[arg-type]


def test_touching_lesions_stay_apart_and_an_ungraded_sample_keeps_none() -> None:
    base = sample(0, native=128)
    mask = np.zeros(base.fov.shape, dtype=bool)
    mask[60:64, 60:64] = True
    mask[64:68, 64:68] = True  # touches the first at a corner: one 8-connected lesion
    mask[60:64, 70:74] = True
    data = [FundusSample(base.image, None, {"hemorrhages": mask}, base.fov, "ungraded")]
    [prepared] = prepare_images(data, SIZE, progress=False)
    assert prepared.grade is None
    assert prepared.native_lesions == {"hemorrhages": 2} and prepared.lost_lesions == {
        "hemorrhages": 0
    }
    assert set(np.unique(prepared.masks["hemorrhages"])) == {0, 1, 2}


class FirstPixel(nn.Module):
    """Scores each image by its first pixel (column 0) and its mean (column 1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x[:, 0, 0, 0] * 2 - 1, x.mean((1, 2, 3))], dim=1)


def _prepared(values: list[float]) -> list[PreparedImage]:
    fov = np.ones((4, 4), bool)
    return [
        PreparedImage(f"p{i}", torch.full((3, 4, 4), v), fov, {}, {}, {}, None)
        for i, v in enumerate(values)
    ]


@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_scores_are_the_first_output_of_each_image(batch_size: int) -> None:
    values = [0.0, 0.25, 0.5, 0.75, 1.0]
    model = FirstPixel().train()
    scores = predict_scores(model, _prepared(values), batch_size, "cpu")
    assert scores.dtype == np.float64 and scores.shape == (5,)
    np.testing.assert_array_equal(scores, [2 * v - 1 for v in values])
    assert model.training  # the model's mode is left as it was


def test_scores_of_no_images_and_without_gradients() -> None:
    assert predict_scores(FirstPixel(), [], 4, "cpu").shape == (0,)
    calls = []

    class Recording(FirstPixel):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            calls.append(torch.is_grad_enabled())
            return super().forward(x)

    predict_scores(Recording(), _prepared([0.1, 0.2, 0.3]), 2, "cpu")
    assert calls == [False, False]

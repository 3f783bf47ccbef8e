"""The loop never returns nothing in silence: images without an augmented map and NaN scores are
warned about once per call (``AugmentationWarning``), and settings under which no image could be
augmented (a probability threshold outside [0, 1], an ``alpha`` that underflows) are refused."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from _helpers.core import INTENSITIES, BlobScore, MeanScore, blob_batch
from captum.attr import Saliency
from torch import nn

from captum_iterative import AugmentationWarning, IterativeAugmentation
from captum_iterative._checks import MAX_ALPHA

TH = 0.3


def _explain_recording(explainer: IterativeAugmentation, images: torch.Tensor, **kwargs):
    """``explainer.explain(images)`` and the AugmentationWarnings it issued (each one shown)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = explainer.explain(images, **kwargs)
    return result, [str(w.message) for w in caught if w.category is AugmentationWarning]


def test_images_predicted_normal_are_warned_about_once_per_call(blob_model: BlobScore) -> None:
    explainer = IterativeAugmentation(Saliency(blob_model), threshold=TH, max_iter=4)
    for _ in range(2):  # once per call, however many iterations the call runs
        result, messages = _explain_recording(explainer, blob_batch())
        assert result.stop_reason[4] == "not_abnormal"
        assert messages == [
            "1 of 6 image(s) got no augmented map: 1 not_abnormal: scored below `threshold` at "
            "the start (all-zero maps); pass explain_normal=True for a plain first map, or "
            "check `threshold` against the classifier's scores (result.initial_score)"
        ]
    with pytest.warns(AugmentationWarning, match="1 of 6 image"):
        explainer.attribute(blob_batch())  # Captum's entry point says it too


def test_a_threshold_no_image_reaches_is_warned_about(blob_model: BlobScore) -> None:
    # an untrained model, or a threshold above every score: all-zero maps, no longer in silence
    explainer = IterativeAugmentation(Saliency(blob_model), threshold=1e3, max_iter=2)
    result, messages = _explain_recording(explainer, blob_batch())
    assert torch.equal(result.augmented, torch.zeros_like(result.augmented))
    (message,) = messages
    assert message.startswith("6 of 6 image(s) got no augmented map: 6 not_abnormal")


def test_explain_normal_and_degenerate_maps_are_named(blob_model: BlobScore) -> None:
    explainer = IterativeAugmentation(Saliency(blob_model), threshold=TH, explain_normal=True)
    _, messages = _explain_recording(explainer, blob_batch([[0.9], []]))
    assert messages == [
        "1 of 2 image(s) got no augmented map: 1 not_abnormal: scored below `threshold` at the "
        "start (their plain first map); check `threshold` against the classifier's scores "
        "(result.initial_score)"
    ]
    constant = IterativeAugmentation(Saliency(MeanScore().eval()), threshold=0.0)
    _, messages = _explain_recording(constant, torch.rand(2, 3, 16, 16))
    (message,) = messages
    assert message.startswith(
        "2 of 2 image(s) got no augmented map: 2 degenerate_map: first map constant, not finite "
        "or with an empty Otsu mask (all-zero augmented maps)"
    )


def test_no_warning_when_every_image_is_augmented(blob_model: BlobScore) -> None:
    images = blob_batch([i for i in INTENSITIES if i])
    _, messages = _explain_recording(
        IterativeAugmentation(Saliency(blob_model), threshold=TH, max_iter=4), images
    )
    assert messages == []


@pytest.mark.parametrize("score", ["softmax", "sigmoid"])
@pytest.mark.parametrize("threshold", [1.5, -0.1])
def test_a_probability_threshold_outside_0_1_is_refused(score: str, threshold: float) -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))
    with pytest.raises(ValueError, match=rf"`threshold` {threshold} is outside \[0, 1\]"):
        IterativeAugmentation(Saliency(model), threshold, score=score)
    for edge in (0.0, 1.0):  # the range itself is fine
        IterativeAugmentation(Saliency(model), edge, score=score)
    IterativeAugmentation(Saliency(model), threshold)  # logits have no range


@pytest.mark.parametrize("alpha", [1e300, 88.0])
def test_an_alpha_whose_weights_underflow_is_refused(blob_model: BlobScore, alpha: float) -> None:
    with pytest.raises(ValueError, match=r"`alpha` .* must be at most 87\.3"):
        IterativeAugmentation(Saliency(blob_model), threshold=TH, alpha=alpha)


def test_the_largest_alpha_still_gives_maps(blob_model: BlobScore) -> None:
    images = blob_batch([[0.9]]).float()
    explainer = IterativeAugmentation(Saliency(blob_model), threshold=TH, alpha=MAX_ALPHA)
    result = explainer.explain(images)
    assert result.iterations.tolist() == [1]
    # the first weight is float32's smallest normal number: the map survives, scaled
    weight = result.augmented.sum() / result.initial.sum()
    assert math.isclose(float(weight), float(torch.finfo(torch.float32).tiny), rel_tol=1e-3)


# -- NaN scores -------------------------------------------------------------------------------

#: What the test inpainter writes: a value the images never hold, so the model can tell.
SENTINEL = 0.123


class NanAfterInpainting(nn.Module):
    """:class:`BlobScore`, but NaN for the images flagged in ``poison`` once inpainted."""

    def __init__(self) -> None:
        super().__init__()
        self.blob = BlobScore()

    def forward(self, x: torch.Tensor, poison: torch.Tensor) -> torch.Tensor:
        inpainted = (x == SENTINEL).flatten(1).any(dim=1)
        return torch.where((poison & inpainted)[:, None], torch.nan, self.blob(x))


def _fill_sentinel(images: torch.Tensor, masks: torch.Tensor, valid: object) -> torch.Tensor:
    return torch.where(masks, SENTINEL, images)


@pytest.mark.parametrize("reuse", [True, False])
def test_a_nan_score_stops_that_image_with_its_own_reason(reuse: bool) -> None:
    model = NanAfterInpainting().eval()
    images = blob_batch([[0.9, 0.85, 0.7], [0.9, 0.85, 0.7]])
    poison = torch.tensor([True, False])
    explainer = IterativeAugmentation(
        Saliency(model), TH, inpainter=_fill_sentinel, max_iter=5, reuse_forward=reuse
    )
    result, messages = _explain_recording(explainer, images, additional_forward_args=(poison,))
    assert result.stop_reason == ["nan_score", "normal"]
    assert result.iterations.tolist() == [1, 3]
    assert len(result.scores[0]) == 2 and math.isnan(result.scores[0][1])
    assert messages == [
        "the classifier scored 1 of 2 inpainted image(s) NaN (stop reason nan_score): their "
        "augmented maps hold the maps before that step; check the inpainter's output and the "
        "classifier's numerics (e.g. under `autocast`)"
    ]
    # the poisoned image keeps its first map; the other one is as if alone
    clean = explainer.explain(images, additional_forward_args=(torch.tensor([False, False]),))
    torch.testing.assert_close(result.augmented[1], clean.augmented[1])
    one_step = IterativeAugmentation(
        Saliency(model), TH, inpainter=_fill_sentinel, max_iter=1, reuse_forward=reuse
    ).explain(images, additional_forward_args=(poison,))
    torch.testing.assert_close(result.augmented[0], one_step.augmented[0])

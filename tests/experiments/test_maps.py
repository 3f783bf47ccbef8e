"""One batch through the loop (``experiments.maps``): what the runner and the CLI both write."""

from __future__ import annotations

import numpy as np
import torch
from _helpers.core import BlobScore, blob_image
from captum.attr import Saliency

from captum_iterative import IterativeAugmentation
from captum_iterative.experiments import explain_batch, input_key


def test_explain_batch_is_the_loop_with_the_field_of_view_and_the_keys() -> None:
    model = BlobScore().double().eval()
    images = [blob_image([0.9, 0.7], seed=0), blob_image([0.8], seed=1)]
    fovs = [np.ones((48, 48), dtype=bool) for _ in images]
    fovs[1][:, :8] = False
    explainer = IterativeAugmentation(Saliency(model), threshold=0.3, max_iter=3)
    meta = [{"cache_key": "k", "source": f"s{i}"} for i in range(2)]
    explained = explain_batch(
        explainer,
        inner_kwargs={"abs": True},
        method="saliency",
        ids=["a", "b"],
        images=images,
        fovs=fovs,
        device="cpu",
        meta=meta,
    )
    valid = torch.from_numpy(np.stack(fovs))[:, None]
    direct = explainer.explain(torch.stack(images), valid=valid, abs=True)
    for i, explanation in enumerate(explained):
        assert (explanation.image_id, explanation.method) == (("a", "b")[i], "saliency")
        np.testing.assert_array_equal(explanation.augmented, direct.augmented[i, 0].float().numpy())
        np.testing.assert_array_equal(explanation.scores, direct.scores[i].numpy())
        assert explanation.iterations == int(direct.iterations[i])
        assert explanation.meta == {
            "input_key": input_key(images[i], fovs[i]),
            "cache_key": "k",
            "source": f"s{i}",
        }


def test_without_a_field_of_view_the_input_key_says_so() -> None:
    model = BlobScore().double().eval()
    image = blob_image([0.9], seed=2)
    explainer = IterativeAugmentation(Saliency(model), threshold=0.3, max_iter=2)
    (plain,) = explain_batch(
        explainer,
        inner_kwargs={},
        method="saliency",
        ids=["a"],
        images=[image],
        fovs=None,
        device="cpu",
        meta=[{}],
    )
    whole = np.ones((48, 48), dtype=bool)
    assert plain.meta["input_key"] == input_key(image, None) != input_key(image, whole)

"""Explanation files round-trip and are written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from _helpers.core import BlobScore, blob_image
from captum.attr import Saliency

from captum_iterative import IterativeAugmentation
from captum_iterative.experiments import (
    ExperimentConfig,
    Explanation,
    explanation_path,
    is_fresh,
    load_explanation,
    map_keys,
    model_key,
    save_explanation,
)


def test_round_trip_from_a_real_result(tmp_path: Path) -> None:
    model = BlobScore().double().eval()
    images = torch.stack([blob_image([0.9, 0.8], seed=0), blob_image([], seed=1)])
    result = IterativeAugmentation(Saliency(model), threshold=0.3).explain(images)
    for i, image_id in enumerate(["a", "b"]):
        exp = Explanation.from_result(result, i, image_id, "saliency", bbox=(1, 2, 3, 4))
        path = save_explanation(explanation_path(tmp_path, "saliency", image_id), exp)
        back = load_explanation(path)
        np.testing.assert_array_equal(back.augmented, result.augmented[i, 0].float().numpy())
        np.testing.assert_array_equal(back.scores, result.scores[i].numpy())
        assert back.iterations == int(result.iterations[i])
        assert back.stop_reason == result.stop_reason[i]
        assert back.meta == {"bbox": [1, 2, 3, 4]}
    assert sorted(p.name for p in (tmp_path / "saliency").iterdir()) == ["a.npz", "b.npz"]


def test_interrupted_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exp = Explanation(
        "x", "m", np.zeros((4, 4)), np.zeros((4, 4)), 0, np.zeros(1), "normal", 0.5, 0.6
    )
    path = tmp_path / "m" / "x.npz"

    def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(KeyboardInterrupt):
        save_explanation(path, exp)
    assert list((tmp_path / "m").iterdir()) == []


def test_damaged_file_names_the_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match=r"bad\.npz"):
        load_explanation(bad)


def test_a_file_is_fresh_only_with_every_key_equal(tmp_path: Path) -> None:
    model = BlobScore().double().eval()
    config = ExperimentConfig(methods=("saliency",), max_iter=2)
    keys = map_keys(config, model, 0.3)
    assert keys["cache_key"] == config.cache_key()
    assert keys["model_key"] == model_key(config, model, 0.3) != model_key(config, model, 0.4)
    path = explanation_path(tmp_path, "saliency", "a")
    assert not is_fresh(path, keys)  # no file yet
    result = IterativeAugmentation(Saliency(model), threshold=0.3).explain(blob_image([0.9])[None])
    save_explanation(path, Explanation.from_result(result, 0, "a", "saliency", **keys))
    assert is_fresh(path, {"cache_key": keys["cache_key"], "model_key": keys["model_key"]})
    assert not is_fresh(path, {**keys, "model_key": "another"})
    assert not is_fresh(path, {"input_key": "missing"})
    path.write_bytes(b"damaged")
    assert not is_fresh(path, {"cache_key": keys["cache_key"]})

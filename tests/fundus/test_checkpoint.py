"""Classifier checkpoints (``fundus.checkpoint``): restoring, checking, the shipped ones."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
import torch
from _helpers.train import SIZE, VAL_GRADES, val_images

from captum_iterative.fundus.checkpoint import (
    load_classifier,
    load_default_classifier,
    state_dict_mismatch,
)
from captum_iterative.fundus.classifier_eval import predict, referable_metrics
from captum_iterative.fundus.models import FundusClassifier, create_classifier


def test_checkpoint_restores_the_model(trained: tuple[Path, object]) -> None:
    out, result = trained
    assert result.checkpoint == out and out.is_file()
    assert result.last_checkpoint.is_file()
    assert [int(h["epoch"]) for h in result.history] == [1, 2]
    model, info = load_classifier(out)
    assert not model.training
    assert info.arch == "vgg_tiny" and info.input_size == SIZE and info.epoch == result.best_epoch
    scores = predict(model, val_images())
    assert scores.shape == (len(VAL_GRADES),)
    restored = referable_metrics(scores, VAL_GRADES)
    for key in ("auc", "th_pred", "sensitivity", "specificity", "kappa"):
        assert restored[key] == info.metrics[key], key
    again, _ = load_classifier(out)
    x = val_images().float() / 255
    with torch.no_grad():
        assert torch.equal(model(x), again(x))
    assert sorted(p.name for p in out.parent.iterdir()) == ["model.last.pt", "model.pt"]


def test_load_other_architecture_raises(tmp_path: Path, trained: tuple[Path, object]) -> None:
    out, _ = trained
    with pytest.raises(ValueError, match=r"'vgg_tiny'.*'test_resnet'"):
        load_classifier(out, arch="test_resnet")
    ckpt = torch.load(out, weights_only=True)
    ckpt["arch"] = "test_resnet"
    forged = tmp_path / "forged.pt"
    torch.save(ckpt, forged)
    with pytest.raises(ValueError, match="do not fit"):
        load_classifier(forged)
    torch.save({"state_dict": {}}, tmp_path / "plain.pt")
    with pytest.raises(ValueError, match="not a captum_iterative"):
        load_classifier(tmp_path / "plain.pt")


def test_a_tensor_of_another_shape_is_named_with_both_shapes(
    tmp_path: Path, trained: tuple[Path, object]
) -> None:
    out, _ = trained
    ckpt = torch.load(out, weights_only=True)
    ckpt["state_dict"]["backbone.features.3.weight"] = torch.zeros(16, 16, 3, 3)
    bad = tmp_path / "bad.pt"
    torch.save(ckpt, bad)
    with pytest.raises(ValueError) as caught:
        load_classifier(bad)
    message = str(caught.value)
    assert "\n" not in message and "Error(s) in loading state_dict" not in message
    assert message.startswith(f"{bad}: weights do not fit architecture 'vgg_tiny': ")
    assert message.endswith(
        "tensor 'backbone.features.3.weight' has shape (16, 16, 3, 3) in the file, "
        f"(32, 16, 3, 3) in the model (1 of {len(ckpt['state_dict'])} tensors of another shape)"
    )


def test_state_dict_mismatch_names_keys_and_shapes() -> None:
    model = create_classifier("vgg_tiny")
    state = model.state_dict()
    assert state_dict_mismatch(model, state) is None
    bias = state.pop("backbone.features.0.bias")
    state["head.extra"] = bias
    assert state_dict_mismatch(model, state) == (
        "1 missing key(s) ['backbone.features.0.bias']; 1 unexpected key(s) ['head.extra']"
    )
    assert state_dict_mismatch(model, state, ignore_missing=("backbone.",)) == (
        "1 unexpected key(s) ['head.extra']"
    )
    assert state_dict_mismatch(model, [1, 2]) == "it holds a list, not a state dict"


def test_load_default_classifier() -> None:
    model, info = load_default_classifier()
    assert isinstance(model, FundusClassifier) and not model.training
    assert info.arch == "vgg_small" and info.input_size == 512 and info.referable_grade == 2
    assert info.metrics["auc"] >= 0.95
    assert info.preprocessing["transform"] == "FundusTransform"
    with torch.no_grad():
        assert model(torch.rand(1, 3, 512, 512)).shape == (1, 1)
    sidecar = json.loads(
        (
            resources.files("captum_iterative") / "checkpoints" / "synthetic_dr_vgg_small.json"
        ).read_text()
    )
    assert sidecar["metrics"]["auc"] == pytest.approx(info.metrics["auc"])
    assert sidecar["th_pred"] == pytest.approx(info.th_pred)


def test_shipped_checkpoints_by_name() -> None:
    from captum_iterative.fundus.checkpoint import SHIPPED_CHECKPOINTS, load_shipped_classifier

    _, synthetic = load_shipped_classifier()
    assert synthetic == load_default_classifier()[1]
    _, aptos = load_shipped_classifier("aptos2019")
    assert (aptos.arch, aptos.input_size) == ("vgg_small", 224)
    with pytest.raises(ValueError, match="unknown shipped checkpoint `name` 'nope'"):
        load_shipped_classifier("nope")
    assert set(SHIPPED_CHECKPOINTS) == {"synthetic", "aptos2019", "dr600"}

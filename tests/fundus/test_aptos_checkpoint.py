"""The shipped APTOS 2019 checkpoint: what it says about itself, and (with the data) that it
reproduces its validation metrics on the grouped split it was selected on."""

from __future__ import annotations

import argparse
import json
import os
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch

from captum_iterative.fundus._in_memory import load_in_memory as _load_in_memory
from captum_iterative.fundus._train_data import _aptos_split
from captum_iterative.fundus.checkpoint import load_classifier
from captum_iterative.fundus.classifier_eval import predict, referable_metrics
from captum_iterative.fundus.models import FundusClassifier
from captum_iterative.fundus.preprocess import FundusTransform

CHECKPOINTS = resources.files("captum_iterative") / "checkpoints"


@pytest.fixture(scope="module")
def checkpoint() -> Path:
    with resources.as_file(CHECKPOINTS / "aptos_vgg_small.pt") as path:
        return Path(path)


@pytest.fixture(scope="module")
def sidecar() -> dict:
    return json.loads((CHECKPOINTS / "aptos_vgg_small.json").read_text())


def test_checkpoint_loads_and_matches_its_summary(checkpoint: Path, sidecar: dict) -> None:
    assert checkpoint.stat().st_size < 20 * 2**20
    model, info = load_classifier(checkpoint)
    assert isinstance(model, FundusClassifier) and not model.training
    assert info.arch == "vgg_small" and info.input_size == 224 and info.referable_grade == 2
    assert info.preprocessing == {
        "transform": "FundusTransform",
        "size": 224,
        "enhance": True,
        "square": True,
    }
    assert info.metrics["auc"] >= 0.9
    assert sidecar["metrics"]["auc"] == pytest.approx(info.metrics["auc"])
    assert sidecar["th_pred"] == pytest.approx(info.th_pred)
    assert sidecar["best_epoch"] == info.epoch
    assert len(sidecar["history"]) == sidecar["epochs"]
    best = max(sidecar["history"], key=lambda h: h["auc"])
    assert best["epoch"] == info.epoch
    with torch.no_grad():
        assert model(torch.rand(2, 3, 224, 224)).shape == (2, 1)


@pytest.mark.realdata
@pytest.mark.slow
def test_checkpoint_reproduces_its_validation_metrics(checkpoint: Path, sidecar: dict) -> None:
    root = os.environ.get("APTOS_ROOT")
    if not root:
        pytest.skip("APTOS_ROOT is not set")
    model, info = load_classifier(checkpoint)
    args = argparse.Namespace(root=root, val_fraction=0.2, seed=0, n_train=None, n_val=None)
    val = _aptos_split(args).val
    assert len(val) == sidecar["n_val"]
    data = _load_in_memory(
        val, FundusTransform(224), size=224, workers=0, desc="val", progress=False
    )
    scores = predict(model, data, batch_size=32)
    metrics = referable_metrics(scores, data.tensors[1].numpy())
    for key in ("auc", "sensitivity", "specificity", "kappa", "th_pred"):
        assert metrics[key] == pytest.approx(info.metrics[key], abs=1e-4), key
    assert np.isfinite(scores).all()

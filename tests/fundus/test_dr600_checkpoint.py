"""The shipped 512 px DR600 checkpoint (the real-data default): what it says about itself, and
(with the data) that it reproduces its held-out metrics on the patients it was selected on."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch

from captum_iterative.fundus import DR600, FundusTransform, grouped_split
from captum_iterative.fundus.checkpoint import (
    SHIPPED_CHECKPOINTS,
    load_classifier,
    load_shipped_classifier,
)
from captum_iterative.fundus.classifier_eval import predict, referable_metrics
from captum_iterative.fundus.models import FundusClassifier

CHECKPOINTS = resources.files("captum_iterative") / "checkpoints"
NAME = SHIPPED_CHECKPOINTS["dr600"]


@pytest.fixture(scope="module")
def checkpoint() -> Path:
    with resources.as_file(CHECKPOINTS / NAME) as path:
        return Path(path)


@pytest.fixture(scope="module")
def summary() -> dict:
    return json.loads((CHECKPOINTS / NAME).with_suffix(".json").read_text())


def test_checkpoint_loads_and_matches_its_summary(checkpoint: Path, summary: dict) -> None:
    assert checkpoint.stat().st_size < 20 * 2**20
    model, info = load_classifier(checkpoint)
    assert isinstance(model, FundusClassifier) and not model.training
    assert info == load_shipped_classifier("dr600")[1]
    assert info.arch == summary["arch"] and info.input_size == 512 == summary["input_size"]
    assert info.preprocessing == {
        "transform": "FundusTransform",
        "size": 512,
        "enhance": True,
        "square": True,
    }
    assert summary["data"].startswith("dr600")
    assert summary["split"]["by"] == "patient" and summary["split"]["n_val"] == 118
    assert summary["best_epoch"] == info.epoch
    assert summary["th_pred"] == pytest.approx(info.th_pred)
    for key in ("auc", "sensitivity", "specificity", "kappa"):
        assert summary["metrics"][key] == pytest.approx(info.metrics[key]), key
    # guided backpropagation hooks nn.ReLU only: the network must have them
    assert any(isinstance(m, torch.nn.ReLU) for m in model.modules())
    assert not any(isinstance(m, torch.nn.ReLU6) for m in model.modules())
    with torch.no_grad():
        assert model(torch.rand(1, 3, 512, 512)).shape == (1, 1)


@pytest.mark.realdata
@pytest.mark.slow
def test_checkpoint_reproduces_its_held_out_metrics(checkpoint: Path, summary: dict) -> None:
    root = os.environ.get("DR600_ROOT")
    if not root:
        pytest.skip("DR600_ROOT is not set")
    model, info = load_classifier(checkpoint)
    data = DR600(root)
    split = summary["split"]
    _, val = grouped_split(data, val_fraction=split["val_fraction"], seed=split["seed"])
    assert len(val) == split["n_val"]
    transform = FundusTransform(512)
    images = torch.stack(
        [torch.from_numpy(transform(data[int(i)]).image).permute(2, 0, 1) for i in val]
    )
    scores = predict(model, images, batch_size=16)
    metrics = referable_metrics(scores, np.asarray(data.grades)[val])
    # Scores agree across CPUs to float32 rounding (about 1e-6 relative, docs/cli.md); AUC, SE
    # and SP only change if two scores swap order at that level, th_pred is one of the scores.
    for key in ("auc", "sensitivity", "specificity", "kappa", "th_pred"):
        assert metrics[key] == pytest.approx(info.metrics[key], abs=1e-4), key

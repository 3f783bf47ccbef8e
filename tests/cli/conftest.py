"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _helpers.cli import (
    SIZE,
    save_weights,
    write_fundus_images,
)

from captum_iterative.fundus.train import TrainConfig, train_classifier
from captum_iterative.fundus.types import FundusSample


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Four images, a vgg_tiny state dict and a fundus.train checkpoint (64 px)."""
    root = tmp_path_factory.mktemp("cli")
    write_fundus_images(root / "images", 4)
    save_weights(root / "weights.pt")
    save_weights(root / "resnet.pt", arch="test_resnet")
    rng = np.random.default_rng(0)

    def sample(i: int) -> FundusSample:
        image = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
        return FundusSample(image, i % 5, {}, np.ones((SIZE, SIZE), bool), f"s{i}")

    config = TrainConfig(
        arch="vgg_tiny",
        epochs=1,
        batch_size=4,
        input_size=SIZE,
        data_augmentation=False,
        out=root / "checkpoint.pt",
        progress=False,
    )
    train_classifier([sample(i) for i in range(6)], [sample(10 + i) for i in range(5)], config)
    return {
        "root": root,
        "images": root / "images",
        "weights": root / "weights.pt",
        "resnet": root / "resnet.pt",
        "checkpoint": root / "checkpoint.pt",
    }

"""A graded toy fundus set and a short training run, shared by the training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from captum_iterative.fundus.train import TrainConfig, train_classifier
from captum_iterative.fundus.types import FundusSample

SIZE = 64


class DotsDataset(Dataset[FundusSample]):
    """Grey discs with ``3 * grade`` dark dots: a graded toy fundus set."""

    def __init__(self, grades: list[int], seed: int, size: int = SIZE) -> None:
        self.grades = grades
        self.seed = seed
        self.size = size

    def __len__(self) -> int:
        return len(self.grades)

    def __getitem__(self, index: int) -> FundusSample:
        rng = np.random.default_rng([self.seed, index])
        yy, xx = np.mgrid[: self.size, : self.size]
        c = (self.size - 1) / 2
        fov = (yy - c) ** 2 + (xx - c) ** 2 <= (0.45 * self.size) ** 2
        image = np.full((self.size, self.size, 3), 128, np.uint8)
        image[fov] = (200, 120, 80)
        grade = self.grades[index]
        for y, x in rng.integers(self.size // 4, 3 * self.size // 4, size=(3 * grade, 2)):
            image[y - 1 : y + 2, x - 1 : x + 2] = (40, 10, 10)
        return FundusSample(image, grade, {}, fov, f"dots{index:03d}")


TRAIN_GRADES = [0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 3, 4]


VAL_GRADES = [0, 0, 0, 1, 1, 2, 3, 4]


def train_run(out: Path, epochs: int, **kwargs: object) -> object:
    options = {
        "arch": "vgg_tiny",
        "epochs": epochs,
        "batch_size": 4,
        "lr": 1e-3,
        "input_size": SIZE,
        "out": out,
        "progress": False,
        "seed": 3,
    }
    options.update(kwargs)
    return train_classifier(
        DotsDataset(TRAIN_GRADES, seed=0),
        DotsDataset(VAL_GRADES, seed=1),
        TrainConfig(**options),  # type: ignore[arg-type]
    )


def val_images() -> torch.Tensor:
    data = DotsDataset(VAL_GRADES, seed=1)
    return torch.stack(
        [torch.from_numpy(data[i].image.transpose(2, 0, 1).copy()) for i in range(len(data))]
    )

"""Drawn discs and references shared by the preprocessing tests."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import torch
from hypothesis import settings

FundusFactory = Callable[..., np.ndarray]


FAST = settings(max_examples=25, deadline=None)


def disc(height: int, width: int, centre: tuple[int, int], radius: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    cv2.circle(mask, (centre[1], centre[0]), radius, 1, -1)
    return mask.astype(bool)


def to_batch(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None]

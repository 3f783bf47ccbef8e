"""A small fundus-like sample with dark dots as lesions, shared by the experiment tests."""

from __future__ import annotations

import cv2
import numpy as np

from captum_iterative.fundus.types import FundusSample


def sample(seed: int, native: int = 128) -> FundusSample:
    """A disc-shaped 'fundus' at native resolution with dark dots (lesions) on it."""
    rng = np.random.default_rng(seed)
    image = np.zeros((native, native + 16, 3), np.uint8)
    fov = np.zeros(image.shape[:2], np.uint8)
    cv2.circle(fov, (native // 2 + 8, native // 2), native // 2 - 4, 1, -1)
    texture = (rng.random(image.shape) * 40 + np.array([150, 70, 30])).astype(np.uint8)
    image[fov > 0] = texture[fov > 0]
    dots = np.zeros(image.shape[:2], np.uint8)
    for _ in range(4):
        y, x = rng.integers(native // 3, 2 * native // 3, 2)
        cv2.circle(dots, (int(x) + 8, int(y)), int(rng.integers(1, 3)), 1, -1)
    image[dots > 0] = (60, 10, 10)
    masks = {"hemorrhages": dots > 0, "hard_exudates": np.zeros_like(dots, dtype=bool)}
    return FundusSample(image, 2, masks, fov > 0, f"img{seed}")

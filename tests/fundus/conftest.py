"""Shared fixtures for the fundus tests: drawn fundus images and a real retina photograph."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest
import skimage.data

FundusFactory = Callable[..., np.ndarray]


def draw_fundus(
    height: int = 240,
    width: int = 320,
    *,
    centre: tuple[int, int] | None = None,
    radius: int = 100,
    seed: int = 0,
) -> np.ndarray:
    """A fundus-like ``(height, width, 3)`` ``uint8`` RGB image: an orange disc on black.

    The disc (``cv2.circle`` of ``radius`` around ``centre`` = ``(y, x)``, default the image
    centre) has a darker rim, a few dark red vessels, a bright optic disc and mild noise, so
    the Graham enhancement has structure to work on. Everything outside the disc is 0.
    """
    rng = np.random.default_rng(seed)
    cy, cx = centre if centre is not None else (height // 2, width // 2)
    ys, xs = np.mgrid[:height, :width]
    distance = np.sqrt((ys - cy) ** 2 + (xs - cx) ** 2) / radius
    shade = np.clip(1.0 - 0.35 * distance**2, 0.0, 1.0)[..., None]
    image = (np.array([185.0, 95.0, 45.0]) * shade).astype(np.float32)
    for _ in range(4):
        angle = rng.uniform(0, 2 * np.pi)
        end = (int(cx + radius * np.cos(angle)), int(cy + radius * np.sin(angle)))
        cv2.line(image, (cx, cy), end, (120.0, 40.0, 25.0), thickness=max(1, radius // 40))
    disc_x = cx + radius // 3
    cv2.circle(image, (disc_x, cy), max(2, radius // 7), (240.0, 200.0, 140.0), -1)
    image += rng.normal(0.0, 3.0, image.shape).astype(np.float32)
    inside = np.zeros((height, width), np.uint8)
    cv2.circle(inside, (cx, cy), radius, 1, -1)
    image[inside == 0] = 0
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


@pytest.fixture
def make_fundus() -> FundusFactory:
    """Factory for :func:`draw_fundus` images (keyword arguments as :func:`draw_fundus`)."""
    return draw_fundus


@pytest.fixture(scope="session")
def retina() -> np.ndarray:
    """scikit-image's real fundus photograph, shrunk to 480 x 480 ``uint8`` RGB for speed."""
    return cv2.resize(skimage.data.retina(), (480, 480), interpolation=cv2.INTER_AREA)

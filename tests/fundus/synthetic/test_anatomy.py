"""The drawn anatomy (``fundus.synthetic.anatomy``): field of view and dark surround, clipped
fields, a bright disc and a dark fovea at the right distance, the vessel tree."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from captum_iterative.fundus.synthetic import (
    generate_fundus,
)


def test_field_of_view_and_surround() -> None:
    f = generate_fundus(2, 128, grade=2)
    cx, cy = f.image.shape[1] / 2, f.image.shape[0] / 2
    assert f.fov[int(cy), int(cx)] and not f.fov[0, 0] and not f.fov[-1, -1]
    assert f.fov.mean() > 0.5
    rim = cv2.dilate(f.fov.view(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert f.image[~rim].max() <= 7  # dark surround beyond the anti-aliased edge
    assert np.median(f.image[f.fov][:, 0]) > 2 * np.median(f.image[f.fov][:, 2])  # orange-red


def test_some_fields_of_view_are_clipped_top_and_bottom() -> None:
    clipped = 0
    for seed in range(12):
        fov = generate_fundus(seed, 64, grade=0).fov
        rows = np.flatnonzero(fov.any(axis=1))
        widest = fov.sum(axis=1).max()
        clipped += fov[rows[0]].sum() > 0.4 * widest  # a flat top, not a circle's tip
    assert 0 < clipped < 12


def _luminance(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)


@pytest.mark.parametrize("seed", range(4))
def test_disc_is_bright_and_fovea_dark(seed: int) -> None:
    f = generate_fundus(seed, 256, grade=0)
    lum = _luminance(f.image)
    yy, xx = np.mgrid[: lum.shape[0], : lum.shape[1]]
    d_disc = np.hypot(xx - f.disc_center[0], yy - f.disc_center[1])
    d_fovea = np.hypot(xx - f.fovea_center[0], yy - f.fovea_center[1])
    dd = 2 * f.disc_radius
    retina = f.fov & (d_disc > 1.5 * dd) & (d_fovea > 1.0 * dd)
    disc = (d_disc < 0.8 * f.disc_radius) & ~f.vessels
    assert lum[disc].mean() > 1.4 * np.median(lum[retina])
    assert lum[d_fovea < 0.15 * dd].mean() < 0.9 * np.median(lum[retina])
    assert 2.2 <= math.dist(f.disc_center, f.fovea_center) / dd <= 2.8
    # The vessel tree leaves the disc and reaches the periphery.
    assert f.vessels[d_disc < 1.5 * f.disc_radius].mean() > 0.1
    assert f.vessels[retina].mean() > 0.03
    assert lum[f.vessels & retina].mean() < np.median(lum[retina])

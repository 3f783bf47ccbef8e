"""Local patches (``fundus.synthetic._window``): patch_window against the patch written out
pixel by pixel, and clipping at the image border (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from captum_iterative.fundus.synthetic._window import patch_window


def test_known_window_inside_the_image() -> None:
    rows, cols, dx, dy = patch_window(32, (10.25, 20.5), 2.0)
    # half-side ceil(2) + 1 = 3 around the rounded centre (10, 20): columns 7-13, rows 17-23
    assert (rows, cols) == (slice(17, 24), slice(7, 14))
    assert dx.shape == (1, 7) and dy.shape == (7, 1)
    assert dx.dtype == dy.dtype == np.float32
    np.testing.assert_array_equal(dx[0], np.arange(7, 14) - np.float32(10.25))
    np.testing.assert_array_equal(dy[:, 0], np.arange(17, 24) - np.float32(20.5))


def test_a_window_at_the_corner_is_clipped() -> None:
    rows, cols, dx, dy = patch_window(16, (0.0, 15.0), 3.5)
    assert (rows, cols) == (slice(10, 16), slice(0, 6))
    assert dx[0, 0] == 0.0 and dy[-1, 0] == 0.0


@given(
    size=st.integers(1, 64),
    fx=st.floats(0, 1),
    fy=st.floats(0, 1),
    extent=st.floats(0, 20, allow_nan=False),
)
@settings(max_examples=80, deadline=None)
def test_the_window_is_every_pixel_near_the_centre_inside_the_image(
    size: int, fx: float, fy: float, extent: float
) -> None:
    # Centres on the image, as the painters use it (x, y in [0, size]).
    x, y = fx * size, fy * size
    rows, cols, dx, dy = patch_window(size, (x, y), extent)
    ext = math.ceil(extent) + 1
    expected_cols = [c for c in range(size) if abs(c - round(x)) <= ext]
    expected_rows = [r for r in range(size) if abs(r - round(y)) <= ext]
    assert list(range(size))[cols] == expected_cols
    assert list(range(size))[rows] == expected_rows
    assert dx.shape == (1, len(expected_cols)) and dy.shape == (len(expected_rows), 1)
    np.testing.assert_array_equal(dx[0], np.float32(expected_cols) - np.float32(x))
    np.testing.assert_array_equal(dy[:, 0], np.float32(expected_rows) - np.float32(y))


@pytest.mark.parametrize("center", [(-10.0, 5.0), (5.0, -10.0), (80.0, 5.0), (5.0, 80.0)])
def test_a_window_wholly_outside_the_image_is_empty(center: tuple[float, float]) -> None:
    # Before the fix a centre at x = -10 gave slice(0, -8): 56 columns against an empty dx.
    rows, cols, dx, dy = patch_window(64, center, 0.0)
    assert len(range(64)[rows]) == dy.shape[0]
    assert len(range(64)[cols]) == dx.shape[1]
    assert len(range(64)[rows]) * len(range(64)[cols]) == 0

"""Lesion colours (``fundus.synthetic.colours``): each colour function against its formula on a
known patch (factors, blood's dark core, pooled and solid fills, pale deposits)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from captum_iterative.fundus.synthetic import colours
from captum_iterative.fundus.synthetic._window import patch_window

_, _, DX, DY = patch_window(9, (4.0, 4.0), 3.0)  # 9 x 9 offsets, centre in the middle
PATCH = np.random.default_rng(0).uniform(20, 200, size=(3, 9, 9)).astype(np.float32)


def test_darken_multiplies_each_channel() -> None:
    out = colours.darken(np.array([0.5, 1.0, 2.0]))(PATCH, DX, DY)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, PATCH * np.float32([0.5, 1.0, 2.0])[:, None, None])


@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_brighten_draws_factors_between_low_and_high(seed: int) -> None:
    low, high = np.array([1.05, 1.2, 0.95]), np.array([1.25, 1.9, 1.3])
    out = colours.brighten(np.random.default_rng(seed), low, high)(PATCH, DX, DY)
    factors = (out / PATCH).reshape(3, -1)
    assert np.ptp(factors, axis=1).max() < 1e-5  # one factor per channel
    assert (factors[:, 0] >= low - 1e-6).all() and (factors[:, 0] <= high + 1e-6).all()
    again = colours.brighten(np.random.default_rng(seed), low, high)(PATCH, DX, DY)
    np.testing.assert_array_equal(out, again)


@given(seed=st.integers(0, 2**32 - 1), dark=st.floats(0.05, 1.0))
@settings(max_examples=30, deadline=None)
def test_blood_keeps_red_best(seed: int, dark: float) -> None:
    out = colours.blood(np.random.default_rng(seed), dark)(PATCH, DX, DY)
    keep = (out / PATCH)[:, 0, 0]
    assert keep[0] > keep[2] and keep[0] > keep[1] and (keep < 1).all()
    expected_red = 1 - dark * 0.26 * np.array([1.1, 0.9])
    assert expected_red[0] - 1e-6 <= keep[0] <= expected_red[1] + 1e-6


def test_blood_with_a_core_is_darkest_in_the_middle() -> None:
    flat = colours.blood(np.random.default_rng(1), 0.5)(PATCH, DX, DY)
    cored = colours.blood(np.random.default_rng(1), 0.5, core=2.0)(PATCH, DX, DY)
    keep_flat = (flat / PATCH)[:, 0, 0]
    ratio = cored / PATCH
    # power 0.7 + 0.6 = 1.3 at the centre, towards 0.7 far away: keep ** power
    np.testing.assert_allclose(ratio[:, 4, 4], keep_flat**1.3, rtol=1e-5)
    d2 = (DX * DX + DY * DY)[0, 0]
    np.testing.assert_allclose(
        ratio[:, 0, 0], keep_flat ** (0.7 + 0.6 * np.exp(-d2 / 4.0)), rtol=1e-5
    )
    assert (ratio[:, 4, 4] < ratio[:, 0, 0]).all()


def test_pooled_and_solid_hide_what_lies_under_them() -> None:
    pooled = colours.pooled(np.array([0.5, 0.25, 0.25]))(PATCH, DX, DY)
    assert pooled.shape == (3, 1, 1)
    np.testing.assert_allclose(
        pooled[:, 0, 0], PATCH.mean(axis=(1, 2)) * [0.5, 0.25, 0.25], rtol=1e-6
    )
    solid = colours.solid(np.array([10, 20, 30]))(PATCH, DX, DY)
    assert solid.dtype == np.float32 and solid[:, 0, 0].tolist() == [10, 20, 30]


@pytest.mark.parametrize(
    "palette", [np.array([180.0, 80.0, 30.0]), np.array([250.0, 200.0, 150.0])]
)
def test_deposit_is_the_palette_colour_with_a_little_texture(palette: np.ndarray) -> None:
    gain, offset = (1.1, 1.6, 1.2), (20.0, 30.0, 10.0)
    out = colours.deposit(np.random.default_rng(2), palette, gain, offset)(PATCH, DX, DY)
    target = np.minimum(palette * np.array(gain) + np.array(offset), 250.0)
    lum = PATCH[1] + 1
    texture = (lum / lum.mean()) ** 0.25
    brightness = out / (target[:, None, None] * texture)
    assert np.ptp(brightness) < 1e-4  # one brightness factor for the whole lesion
    assert 0.95 - 1e-6 <= brightness.mean() <= 1.05 + 1e-6

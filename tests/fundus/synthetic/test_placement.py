"""Where lesions go (``fundus.synthetic.placement``): random_point's promises checked over seeds
and geometries (hypothesis), determinism, and the give-up after rejected draws."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from captum_iterative.fundus.synthetic.anatomy import sample_geometry
from captum_iterative.fundus.synthetic.grading import quadrant
from captum_iterative.fundus.synthetic.placement import random_point


@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.sampled_from([64, 128, 512]),
    spread_share=st.floats(0.1, 1.0),
    clear=st.floats(0.0, 4.0),
    quad=st.none() | st.integers(0, 3),
)
@settings(max_examples=60, deadline=None)
def test_a_point_keeps_every_promise(
    seed: int, size: int, spread_share: float, clear: float, quad: int | None
) -> None:
    rng = np.random.default_rng(seed)
    geom = sample_geometry(rng, size)
    spread = spread_share * geom.radius
    point = random_point(rng, geom, geom.fovea_center, spread, clear, quad)
    if point is None:
        return
    x, y = point
    assert math.dist(point, geom.fovea_center) <= spread + 1e-9
    assert geom.inside_fov(x, y, margin=clear)
    assert math.dist(point, geom.disc_center) >= 1.25 * geom.disc_radius + clear
    if quad is not None:
        assert quadrant(point, geom.fovea_center) == quad


def test_points_are_found_and_repeat_with_the_seed() -> None:
    geom = sample_geometry(np.random.default_rng(0), 256)
    points = [
        random_point(np.random.default_rng(s), geom, geom.fovea_center, geom.radius / 2, 2.0)
        for s in range(20)
    ]
    assert all(p is not None for p in points) and len(set(points)) == 20
    again = random_point(np.random.default_rng(3), geom, geom.fovea_center, geom.radius / 2, 2.0)
    assert again == points[3]
    for quad in range(4):
        rng = np.random.default_rng(quad)
        found = random_point(rng, geom, geom.fovea_center, geom.radius / 2, 2.0, quad)
        assert found is not None and quadrant(found, geom.fovea_center) == quad


def test_no_point_where_none_is_allowed() -> None:
    geom = sample_geometry(np.random.default_rng(0), 256)
    rng = np.random.default_rng(0)
    assert random_point(rng, geom, geom.disc_center, geom.disc_radius, 0.0) is None  # on the disc
    outside = (geom.center[0] + 2 * geom.radius, geom.center[1])
    assert random_point(rng, geom, outside, 1.0, 0.0) is None  # beyond the field of view

"""Where lesions go: random points on the retina, off the optic disc, optionally per quadrant."""

from __future__ import annotations

import math

import numpy as np

from captum_iterative.fundus.synthetic.anatomy import FundusGeometry
from captum_iterative.fundus.synthetic.grading import quadrant

_TRIES = 40


def random_point(
    rng: np.random.Generator,
    geom: FundusGeometry,
    around: tuple[float, float],
    spread: float,
    clear: float,
    quad: int | None = None,
) -> tuple[float, float] | None:
    """A point uniform over the disc of radius ``spread`` around ``around``, by rejection.

    The point lies at least ``clear`` pixels inside the field of view and ``clear`` pixels
    beyond 1.25 optic-disc radii from the disc centre; with ``quad`` it also lies in that
    quadrant of the fovea (see :func:`~captum_iterative.fundus.synthetic.grading.quadrant`).

    Args:
        rng (numpy.random.Generator): source of randomness.
        geom (FundusGeometry): the image geometry.
        around (tuple[float, float]): ``(x, y)`` centre of the sampling disc.
        spread (float): radius of the sampling disc in pixels.
        clear (float): clearance in pixels from the field-of-view border and the optic disc.
        quad (int, optional): quadrant 0-3 of the fovea to sample in. Default: None

    Returns:
        tuple[float, float] or None: the point, or ``None`` after 40 rejected draws.
    """
    for _ in range(_TRIES):
        r = spread * math.sqrt(rng.random())
        if quad is None:
            a = rng.uniform(0.0, 2 * math.pi)
        else:
            a = -math.pi / 2 * (quad + rng.random())  # quadrant 0 spans angles (-90, 0]
        x, y = around[0] + r * math.cos(a), around[1] + r * math.sin(a)
        if not geom.inside_fov(x, y, margin=clear):
            continue
        if math.dist((x, y), geom.disc_center) < geom.disc_radius * 1.25 + clear:
            continue
        if quad is not None and quadrant((x, y), geom.fovea_center) != quad:
            continue
        return x, y
    return None

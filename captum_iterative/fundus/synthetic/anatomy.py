"""Anatomy of a synthetic fundus: camera geometry, background, field of view, optic disc, macula.

Coordinates are ``(x, y)`` pixel positions (``x`` the column, ``y`` the row, pixel centres at
integers). Images are built as planar ``(3, size, size)`` ``float32`` RGB arrays in the 0-255
range (per-channel operations on planes are several times faster than on interleaved pixels)
and turned into ``(size, size, 3)`` ``uint8`` only at the end of
:func:`~captum_iterative.fundus.synthetic.generator.generate_fundus`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from captum_iterative.fundus.synthetic._window import patch_window

#: Physical diameter of an optic disc in micrometres: the scale bar of every synthetic image.
DISC_DIAMETER_UM = 1800.0


@dataclass(frozen=True)
class FundusGeometry:
    """Where the camera put the eye: field of view, optic disc and fovea of one image.

    Attributes:
        size: image side in pixels.
        center: ``(x, y)`` centre of the circular field of view.
        radius: field-of-view radius in pixels.
        half_height: the field of view is also clipped to ``|y - center_y| <= half_height``
            (as cameras with a rectangular sensor do); equals ``radius`` when not clipped.
        disc_center: ``(x, y)`` centre of the optic disc.
        disc_radius: optic-disc radius in pixels (horizontal semi-axis).
        fovea_center: ``(x, y)`` centre of the fovea.
        eye: ``"right"`` (disc on the right of the image) or ``"left"``.
    """

    size: int
    center: tuple[float, float]
    radius: float
    half_height: float
    disc_center: tuple[float, float]
    disc_radius: float
    fovea_center: tuple[float, float]
    eye: str

    @property
    def scale(self) -> float:
        """Pixels of this image per pixel of a 512 x 512 image."""
        return self.size / 512.0

    @property
    def disc_diameter(self) -> float:
        """Optic-disc diameter (DD) in pixels: the unit of retinal distances."""
        return 2.0 * self.disc_radius

    @property
    def px_per_um(self) -> float:
        """Pixels per micrometre on the retina, from :data:`DISC_DIAMETER_UM`."""
        return self.disc_diameter / DISC_DIAMETER_UM

    @cached_property
    def temporal(self) -> np.ndarray:
        """``(2,)`` unit vector from the disc towards the fovea (the temporal direction)."""
        d = np.subtract(self.fovea_center, self.disc_center)
        return d / np.hypot(*d)

    @cached_property
    def superior(self) -> np.ndarray:
        """``(2,)`` unit vector perpendicular to :attr:`temporal`, pointing up the image."""
        tx, ty = self.temporal
        v = np.array([ty, -tx])
        return v if v[1] < 0 else -v

    def inside_fov(self, x: float, y: float, margin: float = 0.0) -> bool:
        """Whether ``(x, y)`` lies at least ``margin`` pixels inside the field of view."""
        cx, cy = self.center
        return (
            math.hypot(x - cx, y - cy) <= self.radius - margin
            and abs(y - cy) <= self.half_height - margin
        )


def sample_geometry(rng: np.random.Generator, size: int) -> FundusGeometry:
    """Draw a plausible camera geometry for a macula-centred 45-degree photograph.

    The disc diameter is 25-30 % of the field-of-view radius, the fovea lies 2.3-2.7 disc
    diameters temporal to the disc and slightly below it, and a third of the images have their
    field of view clipped at the top and bottom.

    Args:
        rng (numpy.random.Generator): source of randomness.
        size (int): image side in pixels.

    Returns:
        FundusGeometry: the sampled geometry.
    """
    cx = (size - 1) / 2 + rng.normal(0.0, 0.008 * size)
    cy = (size - 1) / 2 + rng.normal(0.0, 0.008 * size)
    radius = size * rng.uniform(0.445, 0.49)
    half_height = radius * rng.uniform(0.86, 0.95) if rng.random() < 0.35 else radius
    eye = "right" if rng.random() < 0.5 else "left"
    sign = 1.0 if eye == "right" else -1.0
    dd = radius * rng.uniform(0.25, 0.30)
    dist = dd * rng.uniform(2.3, 2.7)
    lo = max(0.0, dist - 0.7 * radius)
    offset = rng.uniform(lo, max(lo, 0.28 * radius))
    fovea = (cx - sign * offset, cy + rng.normal(0.0, 0.03) * radius)
    rise = rng.normal(0.12, 0.05)
    direction = np.array([sign, -rise]) / math.hypot(1.0, rise)
    disc = (fovea[0] + dist * direction[0], fovea[1] + dist * direction[1])
    return FundusGeometry(
        size=size,
        center=(cx, cy),
        radius=radius,
        half_height=half_height,
        disc_center=disc,
        disc_radius=dd / 2,
        fovea_center=fovea,
        eye=eye,
    )


def fov_alpha(geom: FundusGeometry) -> np.ndarray:
    """Anti-aliased field-of-view coverage.

    Returns:
        numpy.ndarray: ``(size, size)`` ``float32`` in [0, 1]; the boolean field of view is
        ``fov_alpha(geom) > 0.5``.
    """
    cx, cy = geom.center
    ys = np.arange(geom.size, dtype=np.float32) - np.float32(cy)
    xs = np.arange(geom.size, dtype=np.float32) - np.float32(cx)
    dist = np.sqrt(np.add.outer(ys**2, xs**2))
    inside_circle = np.clip(np.float32(geom.radius + 0.5) - dist, 0.0, 1.0)
    inside_band = np.clip(np.float32(geom.half_height + 0.5) - np.abs(ys), 0.0, 1.0)
    inside_circle *= inside_band[:, None]
    return inside_circle


def sample_palette(rng: np.random.Generator) -> np.ndarray:
    """Draw the fundus background colour of one camera and eye.

    Returns:
        numpy.ndarray: ``(3,)`` ``float32`` RGB, red 115-215, green 30-55 % and blue 4-25 % of red.
    """
    red = rng.uniform(115.0, 215.0)
    return np.array(
        [red, red * rng.uniform(0.30, 0.55), red * rng.uniform(0.04, 0.25)], dtype=np.float32
    )


def _gaussian(
    xs: np.ndarray, ys: np.ndarray, center: tuple[float, float], sigma: float
) -> np.ndarray:
    """``(len(ys), len(xs))`` isotropic Gaussian of peak 1 sampled at the grid ``ys x xs``."""
    gx = np.exp(-((xs - center[0]) ** 2) / (2.0 * sigma**2))
    gy = np.exp(-((ys - center[1]) ** 2) / (2.0 * sigma**2))
    return np.outer(gy, gx)


def render_background(
    rng: np.random.Generator, geom: FundusGeometry, palette: np.ndarray
) -> np.ndarray:
    """Render the retina without vessels or disc: illumination, macula, fovea and texture.

    Smooth fields (vignetting, uneven illumination, macular darkening, peripapillary glow) are
    computed on a 64 x 64 grid and upsampled bilinearly; the texture is coarse noise upsampled
    plus fine per-pixel noise.

    Args:
        rng (numpy.random.Generator): source of randomness.
        geom (FundusGeometry): the image geometry.
        palette (numpy.ndarray): ``(3,)`` background RGB colour.

    Returns:
        numpy.ndarray: ``(3, size, size)`` ``float32`` planar RGB in 0-255 (the surround is not
        yet blacked out).
    """
    size, grid = geom.size, min(64, geom.size)
    dd = geom.disc_diameter
    centres = (np.arange(grid) + 0.5) * size / grid - 0.5
    cx, cy = geom.center
    rel = np.hypot(centres[None, :] - cx, centres[:, None] - cy) / geom.radius
    light = 1.0 - rng.uniform(0.3, 0.55) * np.clip(rel, 0.0, 1.1) ** rng.uniform(2.0, 3.5)
    coarse = cv2.resize(rng.standard_normal((5, 5)), (grid, grid), interpolation=cv2.INTER_CUBIC)
    light = light * np.exp(rng.uniform(0.07, 0.18) * coarse)
    macula = _gaussian(centres, centres, geom.fovea_center, dd * rng.uniform(0.5, 0.8))
    glow = _gaussian(centres, centres, geom.disc_center, dd * rng.uniform(0.7, 1.1))
    depth = rng.uniform(0.12, 0.3) * np.array([1.0, 1.3, 1.15])
    bright = rng.uniform(0.02, 0.08) * np.array([1.0, 1.2, 1.5])

    mid_n = max(4, size // 6)
    mid = cv2.resize(
        rng.random((mid_n, mid_n), dtype=np.float32), (size, size), interpolation=cv2.INTER_LINEAR
    )
    texture = rng.random((size, size), dtype=np.float32)
    fine, coarse_amp = rng.uniform(0.03, 0.07), rng.uniform(0.05, 0.1)
    texture *= np.float32(fine)
    texture += np.float32(coarse_amp) * mid + np.float32(1.0 - 0.5 * (fine + coarse_amp))

    image = np.empty((3, size, size), dtype=np.float32)
    for c in range(3):
        field = light * (1.0 - depth[c] * macula) * (1.0 + bright[c] * glow) * palette[c]
        cv2.resize(
            field.astype(np.float32), (size, size), dst=image[c], interpolation=cv2.INTER_LINEAR
        )
    image *= texture
    _paint_fovea(rng, geom, image)
    return image


def _paint_fovea(rng: np.random.Generator, geom: FundusGeometry, image: np.ndarray) -> None:
    """Darken the foveola and add its small light reflex, in place on a local patch."""
    sigma = geom.disc_diameter * rng.uniform(0.1, 0.16)
    rows, cols, dx, dy = patch_window(geom.size, geom.fovea_center, 3 * sigma)
    r2 = dx**2 + dy**2
    shade = 1.0 - np.float32(rng.uniform(0.12, 0.25)) * np.exp(-r2 / np.float32(2 * sigma**2))
    if geom.size >= 256 and rng.random() < 0.5:
        reflex = max(0.6, 1.2 * geom.scale)
        shade *= 1.0 + np.float32(0.3) * np.exp(-r2 / np.float32(2 * reflex**2))
    image[:, rows, cols] *= shade


def render_disc(rng: np.random.Generator, geom: FundusGeometry, image: np.ndarray) -> np.ndarray:
    """Paint the optic disc (a bright, slightly tall ellipse) and its paler cup.

    The disc keeps the underlying texture, brightens towards the cup, and has a soft edge; the
    cup (cup-to-disc ratio 0.25-0.55) sits slightly temporal in the disc.

    Args:
        rng (numpy.random.Generator): source of randomness.
        geom (FundusGeometry): the image geometry.
        image (numpy.ndarray): ``(3, size, size)`` ``float32`` planar RGB; not modified.

    Returns:
        numpy.ndarray: a new ``(3, size, size)`` ``float32`` image with the disc.
    """
    out = image.copy()
    rx = geom.disc_radius
    ry = rx * rng.uniform(1.02, 1.12)
    rows, cols, dx, dy = patch_window(geom.size, geom.disc_center, 1.4 * ry)
    patch = out[:, rows, cols]
    lum = patch.mean(axis=0)
    shade = np.sqrt(lum / max(float(lum.mean()), 1e-3))

    ell = np.sqrt((dx / rx) ** 2 + (dy / ry) ** 2)
    rim = np.clip((1.0 - ell) / np.float32(rng.uniform(0.05, 0.12)) + 0.5, 0.0, 1.0)
    glow = 1.0 - np.float32(0.25) * np.clip(ell, 0.0, 1.0) ** 2
    rim_colour = np.array(
        [rng.uniform(230, 255), rng.uniform(135, 185), rng.uniform(60, 115)], dtype=np.float32
    ) * np.float32(rng.uniform(0.85, 1.0))
    tx, ty = geom.temporal
    shift = rx * rng.uniform(0.05, 0.25)
    cup_r = rx * rng.uniform(0.25, 0.5)
    cup_d = np.sqrt((dx - tx * shift) ** 2 + (dy - ty * shift) ** 2) / np.float32(cup_r)
    cup = np.clip((1.0 - cup_d) / 0.6 + 0.5, 0.0, 1.0) * np.float32(0.8)
    cup_colour = np.array(
        [255.0, rng.uniform(200, 235), rng.uniform(140, 190)], dtype=np.float32
    ) * np.float32(rng.uniform(0.9, 1.0))
    for c in range(3):
        disc = rim_colour[c] * shade * glow
        disc += cup * (cup_colour[c] * shade - disc)
        patch[c] += rim * (disc - patch[c])
    out[:, rows, cols] = np.minimum(patch, 255.0)
    return out

"""Lesion shapes: anti-aliased blend weights ("alpha") on a local patch.

Every function takes the ``float32`` offsets of the patch's pixel centres from the lesion centre
(``dx`` a ``(1, w)`` row, ``dy`` a ``(h, 1)`` column) and returns an ``(h, w)`` ``float32``
alpha in [0, 1]. Edges are a linear ramp of width ``edge`` pixels centred on the outline, so
``alpha > 0.5`` is exactly the inside of the outline. All outlines are star-shaped about the
centre, so ``alpha > 0.5`` is one connected region.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def _ramp(inside: np.ndarray, edge: float) -> np.ndarray:
    """Map a signed distance (positive inside, pixels) to an alpha ramp ``edge`` pixels wide."""
    return np.clip(inside * np.float32(1.0 / edge) + np.float32(0.5), 0.0, 1.0)


def disc(dx: np.ndarray, dy: np.ndarray, radius: float, edge: float = 1.0) -> np.ndarray:
    """A round dot of ``radius`` pixels."""
    return _ramp(np.float32(radius) - np.sqrt(dx * dx + dy * dy), edge)


def blob(
    dx: np.ndarray,
    dy: np.ndarray,
    radius: float,
    harmonics: np.ndarray,
    edge: float = 1.0,
    aspect: float = 1.0,
    angle: float = 0.0,
    peak: float = 1.0,
) -> np.ndarray:
    """An irregular blob: radius ``radius * (1 + sum_k a_k cos(k phi + p_k))``.

    Args:
        dx (numpy.ndarray): ``(1, w)`` ``float32`` column offsets.
        dy (numpy.ndarray): ``(h, 1)`` ``float32`` row offsets.
        radius (float): mean radius in pixels (along the minor axis when ``aspect > 1``).
        harmonics (numpy.ndarray): ``(K, 2)`` rows ``(a_k, p_k)`` for ``k = 2 .. K + 1``; keep
            ``sum |a_k| < 0.5`` so the outline stays star-shaped.
        edge (float, optional): width of the edge ramp in pixels. Default: 1.0
        aspect (float, optional): elongation along ``angle``. Default: 1.0
        angle (float, optional): direction of elongation in radians. Default: 0.0
        peak (float, optional): alpha inside (below 1 for translucent lesions). Default: 1.0

    Returns:
        numpy.ndarray: ``(h, w)`` ``float32`` alpha.
    """
    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    u = (dx * c + dy * s) * np.float32(1.0 / aspect)
    v = dy * c - dx * s
    dist = np.sqrt(u * u + v * v)
    phi = np.arctan2(v, u)
    outline = np.ones_like(dist)
    for k, (amp, phase) in enumerate(harmonics, start=2):
        outline += np.float32(amp) * np.cos(k * phi + np.float32(phase))
    alpha = _ramp(outline * np.float32(radius) - dist, edge)
    if peak != 1.0:
        alpha *= np.float32(peak)
    return alpha


def flame(
    dx: np.ndarray, dy: np.ndarray, length: float, width: float, angle: float, edge: float = 1.0
) -> np.ndarray:
    """A flame: a teardrop ``length`` long and ``width`` wide at most, pointed at both ends.

    The half-width along the axis ``t in [-1, 1]`` is ``width/2 * sqrt(1 - t^2) * (1 + 0.4 t)``,
    so the flame is broader towards ``+angle`` and tapers to a point behind.
    """
    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    t = (dx * c + dy * s) * np.float32(2.0 / length)
    across = np.abs(dy * c - dx * s)
    half = np.float32(width / 2) * np.sqrt(np.clip(1.0 - t * t, 0.0, None)) * (1.0 + 0.4 * t)
    return _ramp(half - across, edge)


def boat(
    dx: np.ndarray, dy: np.ndarray, radius: float, level: float, edge: float = 1.0
) -> np.ndarray:
    """A preretinal ("boat-shaped") hemorrhage: a disc cut flat above ``dy = level``."""
    inside = np.minimum(np.float32(radius) - np.sqrt(dx * dx + dy * dy), dy - np.float32(level))
    return _ramp(inside, edge)


def random_harmonics(rng: np.random.Generator, count: int, roughness: float) -> np.ndarray:
    """``(count, 2)`` harmonics for :func:`blob`, amplitudes summing to at most ``roughness``."""
    u = rng.random(2 * count + 1)
    amps = u[:count] * (roughness * (0.4 + 0.6 * u[-1]) / max(float(u[:count].sum()), 1e-9))
    return np.stack([amps, 2 * np.pi * u[count:-1]], axis=1)


def raster(dx: np.ndarray, dy: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Look up a pre-drawn ``(2 h + 1, 2 h + 1)`` alpha ``image`` centred on the lesion.

    Offsets are rounded to the nearest pixel and clamped to the image, so the lesion centre
    should be a whole pixel.
    """
    half = image.shape[0] // 2
    ix = np.clip(np.rint(dx).astype(np.int64) + half, 0, 2 * half)
    iy = np.clip(np.rint(dy).astype(np.int64) + half, 0, 2 * half)
    return image[iy, ix]


def textured(
    dx: np.ndarray,
    dy: np.ndarray,
    shape: Callable[[np.ndarray, np.ndarray], np.ndarray],
    texture: np.ndarray,
    depth: float,
) -> np.ndarray:
    """``shape`` modulated by a centred texture: ``alpha * (1 - depth + depth * texture)``.

    Args:
        dx (numpy.ndarray): ``(1, w)`` ``float32`` column offsets.
        dy (numpy.ndarray): ``(h, 1)`` ``float32`` row offsets.
        shape (Callable): the underlying shape, called with ``(dx, dy)``.
        texture (numpy.ndarray): ``(2 h + 1, 2 h + 1)`` ``float32`` values in [0, 1], looked up
            as in :func:`raster`.
        depth (float): modulation depth in [0, 1].

    Returns:
        numpy.ndarray: ``(h, w)`` ``float32`` alpha.
    """
    return shape(dx, dy) * (np.float32(1.0 - depth) + np.float32(depth) * raster(dx, dy, texture))


def fan(
    rng: np.random.Generator, reach: float, count: int, origin: tuple[float, float]
) -> list[np.ndarray]:
    """``count`` tortuous closed loops leaving ``origin`` in a fan, as OpenCV 4-bit polylines."""
    t = np.linspace(0.0, 1.0, 40)
    loops = []
    heading = rng.uniform(0, 2 * math.pi)
    for _ in range(count):
        phi = heading + rng.normal(0.0, 0.9)
        length = reach * rng.uniform(0.5, 1.0)
        width = length * rng.uniform(0.2, 0.45)
        along = length * np.sin(math.pi * t)
        across = width * np.sin(2 * math.pi * t) + 0.08 * length * np.sin(
            2 * math.pi * rng.uniform(2, 4) * t + rng.uniform(0, 2 * math.pi)
        ) * np.sin(math.pi * t)
        x = origin[0] + along * math.cos(phi) - across * math.sin(phi)
        y = origin[1] + along * math.sin(phi) + across * math.cos(phi)
        loops.append(np.rint(np.stack([x, y], axis=1) * 16).astype(np.int32))
    return loops


def cluster(
    dx: np.ndarray, dy: np.ndarray, blobs: list[tuple[float, float, float, np.ndarray]]
) -> np.ndarray:
    """The blend weight of an exudate cluster: the largest of its blobs' ``(x, y, r, harmonics)``
    (offsets from the cluster centre), so that overlapping dots do not brighten twice."""
    alpha = np.zeros((dy.shape[0], dx.shape[1]), np.float32)
    for x, y, r, harm in blobs:
        one = blob(dx - np.float32(x), dy - np.float32(y), radius=r, harmonics=harm, edge=0.8)
        np.maximum(alpha, one, out=alpha)
    return alpha

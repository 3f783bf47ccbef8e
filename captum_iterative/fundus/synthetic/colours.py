"""Lesion colours: functions from the covered pixels to the colour a lesion blends towards.

A colour function takes the covered patch (``(3, h, w)`` ``float32`` planar RGB) and the
patch's pixel offsets from the lesion centre (``dx`` ``(1, w)``, ``dy`` ``(h, 1)``) and returns
a target colour broadcastable to ``(3, h, w)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: ``colour(patch, dx, dy) -> target``, see the module docstring.
ColourFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def darken(keep: np.ndarray) -> ColourFn:
    """Multiply the covered pixels by ``keep`` (``(3,)`` per-channel factors; below 1 darkens).

    Red lesions (blood) and pigment keep the texture and the vessels under them.
    """
    factors = np.asarray(keep, dtype=np.float32)[:, None, None]
    return lambda patch, dx, dy: patch * factors


def brighten(rng: np.random.Generator, low: np.ndarray, high: np.ndarray) -> ColourFn:
    """Multiply the covered pixels by per-channel factors drawn uniformly in ``[low, high]``
    (``(3,)`` each, >= 1): a pale deposit relative to the retina around it, keeping its texture.

    Exudates are seen against the local retina: a factor on the covered pixels gives them the
    same relative contrast on dark and bright, evenly and unevenly lit fundi.
    """
    factors = rng.uniform(np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64))
    return darken(factors)


def blood(rng: np.random.Generator, dark: float, core: float | None = None) -> ColourFn:
    """Blood: red kept best, green darkened most; ``dark`` in [0, 1] (1 darkest).

    With ``core`` (a radius in pixels) the lesion is darker in its middle: the factors are
    raised to ``0.7 + 0.6 exp(-d^2 / core^2)`` at distance ``d`` from the centre.
    """
    keep = 1.0 - dark * np.array([0.26, 0.56, 0.46]) * rng.uniform(0.9, 1.1, size=3)
    if core is None:
        return darken(keep)
    log_keep = np.log(keep).astype(np.float32)[:, None, None]
    inv = np.float32(-1.0 / core**2)

    def colour(patch: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        power = np.float32(0.7) + np.float32(0.6) * np.exp((dx * dx + dy * dy) * inv)
        return patch * np.exp(log_keep * power)

    return colour


def pooled(keep: np.ndarray) -> ColourFn:
    """Pooled blood in front of the retina: the patch's mean colour times ``keep`` (``(3,)``),
    flat, so it hides the vessels under it."""
    factors = np.asarray(keep, dtype=np.float32)[:, None, None]
    return lambda patch, dx, dy: patch.mean(axis=(1, 2), keepdims=True) * factors


def solid(rgb: np.ndarray) -> ColourFn:
    """One flat colour (``(3,)`` RGB), hiding what lies under the lesion."""
    target = np.asarray(rgb, dtype=np.float32)[:, None, None]
    return lambda patch, dx, dy: target


def deposit(
    rng: np.random.Generator,
    palette: np.ndarray,
    gain: tuple[float, float, float],
    offset: tuple[float, float, float],
) -> ColourFn:
    """A pale deposit (exudate, druse, atrophy) of colour ``palette * gain + offset``.

    Tying the colour to the background palette keeps deposits plausible on dark and bright
    fundi alike; a fourth root of the local relative luminance keeps a little texture.

    Args:
        rng (numpy.random.Generator): source of randomness (+-5 % brightness per lesion).
        palette (numpy.ndarray): ``(3,)`` background RGB of the image.
        gain (tuple[float, float, float]): per-channel factor on the palette.
        offset (tuple[float, float, float]): per-channel offset, in 0-255 units.

    Returns:
        ColourFn: the colour function.
    """
    target = np.minimum(np.asarray(palette) * np.array(gain) + np.array(offset), 250.0)
    target = (target * rng.uniform(0.95, 1.05)).astype(np.float32)[:, None, None]

    def colour(patch: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        lum = patch[1] + np.float32(1.0)
        return target * (lum / np.float32(lum.mean())) ** np.float32(0.25)

    return colour

"""Small canvases and curve readers shared by the FROC tests."""

from __future__ import annotations

import numpy as np


def canvas(shape: tuple[int, int] = (20, 20)) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(shape), np.zeros(shape, dtype=bool)

"""Local patches: the rows, columns and pixel offsets around a point, clipped to the image."""

from __future__ import annotations

import math

import numpy as np


def patch_window(
    size: int, center: tuple[float, float], extent: float
) -> tuple[slice, slice, np.ndarray, np.ndarray]:
    """The square patch of half-side ``extent`` pixels around ``center``, clipped to the image.

    Args:
        size (int): image side in pixels.
        center (tuple[float, float]): ``(x, y)`` centre of the patch.
        extent (float): half-side in pixels (one pixel of margin is added).

    Returns:
        tuple: ``(rows, cols, dx, dy)``: the row and column slices, and the ``float32`` offsets
        from ``center`` of the patch's pixel centres as a ``(1, w)`` row and a ``(h, 1)`` column.
    """
    ext = math.ceil(extent) + 1
    x, y = round(center[0]), round(center[1])
    # A centre beyond the window's reach outside the image gives an empty window (x1 = x0),
    # not a negative slice stop, which would select pixels from the far side.
    x0 = max(0, x - ext)
    x1 = max(x0, min(size, x + ext + 1))
    y0 = max(0, y - ext)
    y1 = max(y0, min(size, y + ext + 1))
    dx = np.arange(x0, x1, dtype=np.float32) - np.float32(center[0])
    dy = np.arange(y0, y1, dtype=np.float32) - np.float32(center[1])
    return slice(y0, y1), slice(x0, x1), dx[None, :], dy[:, None]

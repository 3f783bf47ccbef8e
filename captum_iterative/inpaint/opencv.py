r"""OpenCV inpainters: Navier-Stokes (the paper's choice) and Telea, on 8-bit images.

``cv2.inpaint`` is meant for 8-bit images: its float32 path uses absolute thresholds tuned for
0-255 data, so Navier-Stokes on float32 differs from 8-bit Navier-Stokes and Telea on 0..1 floats
is broken. Each image is therefore mapped to 8 bits (``value_range`` if given, else the image's own
minimum and maximum over all channels and all pixels inside ``valid``), inpainted as one 3-channel
image (one channel at a time when ``C != 3``), and only the masked pixels are mapped back to the
input's scale. Images are processed in a thread pool (``cv2.inpaint`` releases the GIL).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import torch
from torch import Tensor

from captum_iterative._checks import check_finite_number, check_positive_int
from captum_iterative.inpaint.base import Inpainter

__all__ = ["NavierStokesInpainter", "OpenCVInpainter", "TeleaInpainter", "to_uint8"]


def to_uint8(image: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map ``image`` to ``uint8`` with ``round((x - lo) / (hi - lo) * 255)``, clipped to 0..255.

    Rounding is to the nearest integer (ties to even, :func:`numpy.rint`); ``hi == lo`` maps
    everything to 0.
    """
    span = hi - lo
    if span <= 0:
        return np.zeros(image.shape, dtype=np.uint8)
    scaled = np.rint((image.astype(np.float64, copy=False) - lo) / span * 255.0)
    return np.clip(scaled, 0, 255).astype(np.uint8)


class OpenCVInpainter(Inpainter):
    r"""Inpaint with :func:`cv2.inpaint` on each image's 8-bit version.

    Args:
        radius (float, optional): ``inpaintRadius`` of :func:`cv2.inpaint`. Default: 3.
        value_range (tuple[float, float], optional): ``(lo, hi)`` of the images' scale, mapped to
            0 and 255 (e.g. ``(0, 1)`` or ``(0, 255)``). Default: None, each image's own minimum
            and maximum over all channels (inside ``valid`` when given).
        dilation (int, optional): see :class:`~captum_iterative.inpaint.Inpainter`. Default: 0.
        num_threads (int, optional): worker threads across the batch. Default: None, one per CPU
            core up to the batch size.
        method (int, optional): ``cv2.INPAINT_NS`` or ``cv2.INPAINT_TELEA``. Default: None, the
            class's own (:class:`NavierStokesInpainter`: NS, :class:`TeleaInpainter`: Telea).

    Notes:
        With ``valid`` given, the pixels outside it must not feed the fill: each image is cropped
        to the mask's bounding box grown by ``2 * radius + 2`` pixels and every out-of-``valid``
        pixel of the crop is inpainted together with the mask (its fill is discarded), so only
        field-of-view pixels act as data. Without ``valid`` the whole image is passed to OpenCV,
        exactly as in the paper.
    """

    #: The OpenCV flag used when ``method`` is not given.
    default_method: int = cv2.INPAINT_NS

    def __init__(
        self,
        radius: float = 3,
        value_range: tuple[float, float] | None = None,
        dilation: int = 0,
        num_threads: int | None = None,
        *,
        method: int | None = None,
    ) -> None:
        super().__init__(dilation=dilation)
        method = self.default_method if method is None else method
        if check_finite_number(radius, "radius") <= 0:
            raise ValueError(f"`radius` must be a positive number, got {radius!r}")
        if method not in (cv2.INPAINT_NS, cv2.INPAINT_TELEA):
            raise ValueError(
                f"`method` must be cv2.INPAINT_NS or cv2.INPAINT_TELEA, got {method!r}"
            )
        if value_range is not None:
            lo, hi = (float(v) for v in value_range)
            if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
                raise ValueError(
                    f"`value_range` must be finite (lo, hi) with hi > lo, got {value_range!r}"
                )
            value_range = (lo, hi)
        if num_threads is not None:
            check_positive_int(num_threads, "num_threads")
        self.radius = radius
        self.method = method
        self.value_range = value_range
        self.num_threads = num_threads

    def _fill(self, images: Tensor, masks: Tensor, valid: Tensor | None) -> Tensor:
        n, c, h, w = images.shape
        # One copy converts device, dtype and layout (N, H, W, C) at once; it is a new buffer
        # (never the caller's images), filled in place below, image by image.
        host = torch.empty((n, h, w, c), dtype=torch.float64)
        out = host.copy_(images.detach().permute(0, 2, 3, 1)).numpy()
        if not np.isfinite(out).all():
            raise ValueError("`images` contains NaN or infinite values; OpenCV cannot inpaint them")
        host_masks = masks.detach().to("cpu").numpy()[:, 0]
        host_valid = None if valid is None else valid.detach().to("cpu").numpy()[:, 0]

        def work(i: int) -> None:
            v = None if host_valid is None else host_valid[i]
            self._inpaint_into(out[i], host_masks[i], v)

        workers = self.num_threads or min(n, os.cpu_count() or 1)
        if workers <= 1 or n == 1:
            for i in range(n):
                work(i)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(work, range(n)))
        filled = torch.from_numpy(out).permute(0, 3, 1, 2)
        return filled.to(device=images.device, dtype=images.dtype)

    def _inpaint_into(self, image: np.ndarray, mask: np.ndarray, valid: np.ndarray | None) -> None:
        """Fill the ``mask`` pixels of one ``(H, W, C)`` float64 image in place.

        Only the box that ``cv2.inpaint`` needs (with ``valid``: the mask's bounding box plus a
        margin of twice the radius) is converted to 8 bits and written back.
        """
        if not mask.any():
            return
        if self.value_range is not None:
            lo, hi = self.value_range
        else:
            data = image if valid is None else image[valid]
            lo, hi = float(data.min()), float(data.max())
        if hi <= lo:
            image[mask] = lo
            return
        unknown = mask
        y0, y1, x0, x1 = 0, image.shape[0], 0, image.shape[1]
        if valid is not None:
            rows = np.flatnonzero(mask.any(axis=1))
            cols = np.flatnonzero(mask.any(axis=0))
            margin = int(np.ceil(2 * self.radius)) + 2
            y0, y1 = max(rows[0] - margin, 0), min(rows[-1] + margin + 1, image.shape[0])
            x0, x1 = max(cols[0] - margin, 0), min(cols[-1] + margin + 1, image.shape[1])
            unknown = mask | ~valid
        crop = to_uint8(image[y0:y1, x0:x1], lo, hi)
        crop_mask = np.ascontiguousarray(unknown[y0:y1, x0:x1]).astype(np.uint8)
        channels = crop.shape[2]
        if channels == 3:
            filled8 = cv2.inpaint(crop, crop_mask, self.radius, self.method).reshape(crop.shape)
        else:
            filled8 = np.stack(
                [
                    cv2.inpaint(crop[..., c], crop_mask, self.radius, self.method)
                    for c in range(channels)
                ],
                axis=-1,
            )
        image[y0:y1, x0:x1] = filled8.astype(np.float64) / 255.0 * (hi - lo) + lo


class NavierStokesInpainter(OpenCVInpainter):
    r"""Navier-Stokes inpainting (Bertalmio et al. 2001, OpenCV ``INPAINT_NS``), the paper's choice.

    Args:
        radius (float, optional): inpainting radius in pixels. Default: 3 (the paper's ``r_inp``).
        value_range (tuple[float, float], optional): see :class:`OpenCVInpainter`. Default: None.
        dilation (int, optional): mask dilation in pixels. Default: 0.
        num_threads (int, optional): worker threads across the batch. Default: None.

    Examples::

        >>> inpainter = NavierStokesInpainter(radius=3)
        >>> images = torch.rand(2, 3, 64, 64)
        >>> masks = torch.zeros(2, 1, 64, 64, dtype=torch.bool)
        >>> masks[:, :, 20:30, 20:30] = True
        >>> out = inpainter(images, masks)      # (2, 3, 64, 64); only the squares changed
    """

    default_method = cv2.INPAINT_NS


class TeleaInpainter(OpenCVInpainter):
    r"""Telea's fast-marching inpainting (OpenCV ``INPAINT_TELEA``).

    Args: as :class:`NavierStokesInpainter`.
    """

    default_method = cv2.INPAINT_TELEA

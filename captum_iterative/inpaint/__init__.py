"""Inpainters: ``inpainter(images (N,C,H,W), masks (N,1,H,W) bool, valid=None) -> (N,C,H,W)``.

OpenCV's Navier-Stokes (the paper's) and Telea on the host, and a batched torch push-pull fill
(:class:`PyramidInpainter`) that stays on the images' device.
"""

from captum_iterative.inpaint.base import Inpainter, dilate_masks, disk
from captum_iterative.inpaint.opencv import (
    NavierStokesInpainter,
    OpenCVInpainter,
    TeleaInpainter,
    to_uint8,
)
from captum_iterative.inpaint.pyramid import PyramidInpainter, push_pull_fill

__all__ = [
    "Inpainter",
    "NavierStokesInpainter",
    "OpenCVInpainter",
    "PyramidInpainter",
    "TeleaInpainter",
    "dilate_masks",
    "disk",
    "push_pull_fill",
    "to_uint8",
]

"""Inpainters: ``inpainter(images (N,C,H,W), masks (N,1,H,W) bool, valid=None) -> (N,C,H,W)``."""

from captum_iterative.inpaint.base import Inpainter, dilate_masks, disk
from captum_iterative.inpaint.opencv import (
    NavierStokesInpainter,
    OpenCVInpainter,
    TeleaInpainter,
    to_uint8,
)

__all__ = [
    "Inpainter",
    "NavierStokesInpainter",
    "OpenCVInpainter",
    "TeleaInpainter",
    "dilate_masks",
    "disk",
    "to_uint8",
]

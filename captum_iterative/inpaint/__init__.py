"""Inpainters: ``inpainter(images (N,C,H,W), masks (N,1,H,W) bool, valid=None) -> (N,C,H,W)``.

OpenCV's Navier-Stokes (the paper's) and Telea on the host, a batched torch push-pull fill
(:class:`PyramidInpainter`) that stays on the images' device, and a registry of them by name
(:func:`get_inpainter`).
"""

from captum_iterative.inpaint.base import Inpainter, ball, dilate_masks, disk
from captum_iterative.inpaint.opencv import (
    NavierStokesInpainter,
    OpenCVInpainter,
    TeleaInpainter,
    to_uint8,
)
from captum_iterative.inpaint.pyramid import PyramidInpainter, push_pull_fill
from captum_iterative.inpaint.registry import (
    InpainterFactory,
    get_inpainter,
    list_inpainters,
    register_inpainter,
)

__all__ = [
    "Inpainter",
    "InpainterFactory",
    "NavierStokesInpainter",
    "OpenCVInpainter",
    "PyramidInpainter",
    "TeleaInpainter",
    "ball",
    "dilate_masks",
    "disk",
    "get_inpainter",
    "list_inpainters",
    "push_pull_fill",
    "register_inpainter",
    "to_uint8",
]

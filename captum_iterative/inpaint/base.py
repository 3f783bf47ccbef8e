r"""The inpainter protocol shared by every inpainter of the package.

Step 4 of the method replaces the binarized evidence :math:`B^t` by plausible background.
Every inpainter takes ``images`` (N, C, H, W), ``masks`` (N, 1, H, W) bool and an optional field
of view ``valid`` (N, 1, H, W) bool, and returns new images of the same shape, dtype and device in
which only masked pixels differ. :class:`Inpainter` enforces that contract (shape checks, optional
mask dilation, clipping to ``valid`` and the final write-back) so subclasses only implement
:meth:`Inpainter._fill`. Inpainters that also fill volumes (N, C, D, H, W) say so with
``Inpainter.spatial_dims = (2, 3)``; the others refuse volumes with an error naming one that fills
them.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from kornia.morphology import dilation as _kornia_dilation
from torch import Tensor

from captum_iterative._checks import check_mask_like, check_non_negative_int

__all__ = ["Inpainter", "ball", "dilate_masks", "disk"]


def disk(radius: float, device: torch.device | str | None = None) -> Tensor:
    """Disk structuring element, ``(2 R + 1, 2 R + 1)`` float: 1 where ``y^2 + x^2 <= r^2``.

    ``R = floor(r)``; ``r`` may be a non-integer (the hit radius of
    :func:`~captum_iterative.evaluation.froc`, whose footprint this is). The integer offsets are
    compared with ``floor(r^2)``, which is exact.
    """
    reach = math.floor(radius)
    r = torch.arange(-reach, reach + 1, device=device)
    return ((r[:, None] ** 2 + r[None, :] ** 2) <= math.floor(radius**2)).float()


def ball(radius: int, device: torch.device | str | None = None) -> Tensor:
    """Ball structuring element, ``(2 r + 1,) * 3`` float: 1 where ``z^2 + y^2 + x^2 <= r^2``."""
    r = torch.arange(-radius, radius + 1, device=device)
    squared = r[:, None, None] ** 2 + r[None, :, None] ** 2 + r[None, None, :] ** 2
    return (squared <= radius**2).float()


def dilate_masks(masks: Tensor, radius: int) -> Tensor:
    r"""Dilate bool masks by a disk (a ball for volumes) of ``radius`` pixels.

    Images use :func:`kornia.morphology.dilation`; volumes, which kornia's morphology does not
    cover, a 3-D convolution with :func:`ball` (a voxel is set when the ball around it holds a
    masked voxel, which is the binary dilation).

    Args:
        masks (Tensor): ``(N, 1, H, W)`` or ``(N, 1, D, H, W)`` bool masks.
        radius (int): dilation radius in pixels; 0 returns ``masks`` unchanged.

    Returns:
        Tensor: bool masks of ``masks``' shape, on ``masks``' device.
    """
    if radius == 0:
        return masks
    if masks.dim() == 5:
        kernel = ball(radius, device=masks.device)[None, None]
        return F.conv3d(masks.float(), kernel, padding=radius) > 0.5
    kernel = disk(radius, device=masks.device)
    grown = _kornia_dilation(masks.float(), kernel, border_type="constant", border_value=0.0)
    return grown > 0.5


class Inpainter(ABC):
    r"""Base class of inpainters: ``inpainter(images, masks, valid=None) -> images``.

    Subclasses implement :meth:`_fill`; calling the instance checks the arguments, dilates the
    masks by ``dilation`` pixels, clips them to ``valid`` and writes the fill back into the masked
    pixels only, so unmasked pixels (and every pixel outside ``valid``) are returned bit-identical.

    Args:
        dilation (int, optional): grow each mask by a disk of this many pixels before filling.
            0 is the paper's setting; 2-3 px helps to remove the blurred halo around lesions.
            Default: 0.

    Attributes:
        spatial_dims (tuple[int, ...]): the spatial dimensions the inpainter fills: ``(2,)`` for
            images (N, C, H, W), ``(2, 3)`` for images and volumes (N, C, D, H, W).
    """

    spatial_dims: tuple[int, ...] = (2,)

    def __init__(self, dilation: int = 0) -> None:
        self.dilation = check_non_negative_int(dilation, "dilation")

    def __call__(self, images: Tensor, masks: Tensor, valid: Tensor | None = None) -> Tensor:
        r"""Inpaint the masked pixels of each image.

        Args:
            images (Tensor): ``(N, C, H, W)`` floating-point images (any range), or volumes
                ``(N, C, D, H, W)`` for inpainters with ``3 in spatial_dims``.
            masks (Tensor): ``(N, 1, H, W)`` bool (``(N, 1, D, H, W)``); ``True`` marks pixels
                to replace.
            valid (Tensor, optional): bool field of view of ``masks``' shape. Pixels outside it
                are neither used as data nor changed, and the masks are clipped to it.
                Default: None.

        Returns:
            Tensor: images of ``images``' shape, dtype and device; pixels outside the (dilated,
            clipped) masks are bit-identical to ``images``.
        """
        if isinstance(images, Tensor) and images.dim() == 5 and 3 not in self.spatial_dims:
            raise ValueError(
                f"{type(self).__name__} fills 2-D images (N, C, H, W) only, got a batch of "
                f"volumes {tuple(images.shape)}; use PyramidInpainter(), which fills volumes "
                "(N, C, D, H, W) too"
            )
        if not isinstance(images, Tensor):
            raise TypeError(f"`images` must be a torch.Tensor, got {type(images)}")
        if images.dim() not in tuple(d + 2 for d in self.spatial_dims):
            shapes = " or ".join(("(N, C, H, W)", "(N, C, D, H, W)")[: len(self.spatial_dims)])
            raise ValueError(f"`images` must have shape {shapes}, got {tuple(images.shape)}")
        if not images.is_floating_point():
            raise TypeError(f"`images` must be floating point, got dtype {images.dtype}")
        masks = check_mask_like(masks, images, "masks")
        if valid is not None:
            valid = check_mask_like(valid, images, "valid")
        masks = dilate_masks(masks, self.dilation)
        if valid is not None:
            masks = masks & valid
        filled = self._fill(images, masks, valid)
        return torch.where(masks, filled.to(images.dtype), images)

    @abstractmethod
    def _fill(self, images: Tensor, masks: Tensor, valid: Tensor | None) -> Tensor:
        """Return ``(N, C, H, W)`` images whose masked pixels hold the fill.

        ``masks`` are already dilated and clipped to ``valid``; pixels outside the masks may hold
        anything (the caller keeps the originals there).
        """

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({params})"

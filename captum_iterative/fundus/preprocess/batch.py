"""A batch of fundus photographs on their own device: :func:`preprocess_batch`."""

from __future__ import annotations

import numpy as np
import torch

from captum_iterative._checks import check_positive_int
from captum_iterative.fundus.preprocess._checks import FovMethod, check_fov_method
from captum_iterative.fundus.preprocess.fov import (
    crop,
    crop_tensor,
    fov_bbox,
    fov_candidates,
    largest_filled_component,
    square_bbox,
)
from captum_iterative.fundus.preprocess.graham import graham_enhance_batch
from captum_iterative.fundus.preprocess.resize import resize_mask, resize_tensor

__all__ = ["preprocess_batch"]


def preprocess_batch(
    images: torch.Tensor,
    size: int = 512,
    *,
    fov: torch.Tensor | None = None,
    enhance: bool = True,
    fov_method: FovMethod = "red",
    fov_threshold: float | None = None,
    square: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Batched :func:`preprocess_fundus` on the images' device.

    Thresholding, cropping, resizing (area averaging when shrinking, kornia's bilinear
    ``resize`` when enlarging) and Graham's enhancement (kornia's ``gaussian_blur2d``) run on
    the device of ``images``. Only the field of view's connected-component step and the crop
    boxes go through the host (``(H, W)`` ``bool`` masks). Intermediate images are rounded as
    in the ``uint8`` host path, so both paths agree on all but a handful of pixels.

    kornia's ``"area"`` resize is adaptive average pooling, which differs from
    ``cv2.INTER_AREA`` for non-integer scale factors (and Graham's ``x4`` magnifies the
    difference), hence the exact area weights here.

    Args:
        images (torch.Tensor): ``(N, 3, H, W)`` RGB, ``uint8`` or floating point in
            ``[0, 255]``, on any device. Not modified.
        size (int, optional): output side in pixels. Default: ``512``.
        fov (torch.Tensor, optional): ``(N, 1, H, W)`` or ``(N, H, W)`` ``bool`` field of view
            on any device. Default: ``None`` (detected as in :func:`fov_mask`).
        enhance (bool, optional): apply Graham's enhancement. Default: ``True``.
        fov_method (str, optional): ``method`` of :func:`fov_mask`. Default: ``"red"``.
        fov_threshold (float, optional): ``threshold`` of :func:`fov_mask`. Default: ``None``.
        square (bool, optional): square the crop boxes. Default: ``True``.

    Returns:
        tuple[torch.Tensor, torch.Tensor]: ``(images, fov)``: ``(N, 3, size, size)``
        ``float32`` with integer values in ``[0, 255]`` (divide by 255 for the model), and
        ``(N, 1, size, size)`` ``bool``, both on the device of ``images``.

    Examples::

        >>> import torch
        >>> batch = torch.zeros(2, 3, 90, 120, dtype=torch.uint8)
        >>> batch[:, 0, 10:80, 20:100] = 200
        >>> out, fov = preprocess_batch(batch, 64)
        >>> out.shape, fov.shape, out.dtype
        (torch.Size([2, 3, 64, 64]), torch.Size([2, 1, 64, 64]), torch.float32)
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"`images` must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"`images` must have shape (N, 3, H, W), got {tuple(images.shape)}")
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise TypeError(f"`images` must be uint8 or floating point, got {images.dtype}")
    size = check_positive_int(size, "size")
    check_fov_method(fov_method)
    pixels = images.to(torch.float32)
    count, _, height, width = images.shape
    if fov is None:
        candidates = fov_candidates(pixels, fov_method, fov_threshold).cpu().numpy()
        host_fov = np.stack([largest_filled_component(mask) for mask in candidates])
    else:
        if not isinstance(fov, torch.Tensor) or fov.dtype != torch.bool:
            raise TypeError(f"`fov` must be a bool torch.Tensor, got {getattr(fov, 'dtype', fov)}")
        if fov.ndim == 4 and fov.shape[1] == 1:
            fov = fov[:, 0]
        if tuple(fov.shape) != (count, height, width):
            raise ValueError(
                f"`fov` must have shape {(count, 1, height, width)} or {(count, height, width)}, "
                f"got {tuple(fov.shape)}"
            )
        host_fov = fov.cpu().numpy()
    out_images, out_fov = [], []
    for pixel, mask in zip(pixels, host_fov, strict=True):
        bbox = fov_bbox(mask)
        if square:
            bbox = square_bbox(bbox)
        out_images.append(resize_tensor(crop_tensor(pixel, bbox), size))
        out_fov.append(resize_mask(crop(mask, bbox), size))
    resized = torch.stack(out_images)
    host_out = np.stack(out_fov)
    if enhance:
        resized = graham_enhance_batch(resized, host_out)
    return resized, torch.from_numpy(host_out)[:, None].to(images.device)

"""Graham's contrast enhancement (Kaggle Diabetic Retinopathy 2015), on the host and in batches.

``out = saturate(4 * image - 4 * blur + 128)`` with a Gaussian blur of ``sigma = R / 30`` (``R``
the fundus radius), and every pixel farther than ``0.9 R`` from the centre (or closer than
``0.1 R`` to the field of view's border) set to 128.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from kornia.filters import gaussian_blur2d

from captum_iterative.fundus.preprocess._checks import check_mask, check_rgb

__all__ = ["estimate_radius", "graham_enhance", "graham_enhance_batch"]

#: Graham's constants: blur sigma = R / 30, output = 4 img - 4 blur + 128, kept inside 0.9 R.
_GRAHAM_GAIN = 4.0
_GRAHAM_OFFSET = 128.0
_GRAHAM_SIGMA_DIVISOR = 30.0
_GRAHAM_KEEP = 0.9


def estimate_radius(image: np.ndarray) -> float:
    """Fundus radius after Graham: half the number of bright pixels on the middle row.

    A pixel of row ``H // 2`` is bright when its channel sum exceeds a tenth of the row's
    mean channel sum.

    Args:
        image (np.ndarray): ``(H, W, 3)`` ``uint8`` RGB image, fundus roughly centred.

    Returns:
        float: the radius in pixels (a multiple of 0.5).

    Raises:
        ValueError: when the middle row is black.
    """
    check_rgb(image)
    row = image[image.shape[0] // 2].astype(np.int64).sum(axis=1)
    radius = float(np.count_nonzero(row > row.mean() / 10)) / 2
    if radius == 0:
        raise ValueError("cannot estimate the fundus radius: the middle row of `image` is black")
    return radius


def fov_radius(fov: np.ndarray) -> float:
    radius = float(np.count_nonzero(fov[fov.shape[0] // 2])) / 2
    if radius == 0:
        raise ValueError("cannot estimate the fundus radius: the middle row of `fov` is empty")
    return radius


def gaussian_ksize(sigma: float) -> int:
    """OpenCV's kernel size for ``ksize=(0, 0)`` on 8-bit images: ``round(6 sigma + 1) | 1``."""
    return round(sigma * 6 + 1) | 1


def graham_keep(shape: tuple[int, int], radius: float, fov: np.ndarray | None) -> np.ndarray:
    """Pixels Graham's enhancement keeps; the others are set to 128.

    Within ``0.9 radius`` of the image centre ``((H - 1) / 2, (W - 1) / 2)`` and, when ``fov``
    is given, at least ``0.1 radius`` inside it (Euclidean distance to the nearest pixel
    outside ``fov``). For a full round field of view the two rules coincide; for a disc
    clipped by the camera's frame the second also drops the bright band that the blur
    leaves along the straight clip lines.
    """
    height, width = shape
    ys = np.arange(height) - (height - 1) / 2
    xs = np.arange(width) - (width - 1) / 2
    limit = _GRAHAM_KEEP * radius
    keep = ys[:, None] ** 2 + xs[None, :] ** 2 <= limit * limit
    if fov is not None:
        inside = cv2.distanceTransform(fov.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        keep &= inside >= (1 - _GRAHAM_KEEP) * radius
    return keep


def graham_enhance(
    image: np.ndarray, *, radius: float | None = None, fov: np.ndarray | None = None
) -> np.ndarray:
    r"""Graham's contrast enhancement (Kaggle Diabetic Retinopathy 2015).

    ``out = saturate(4 * image - 4 * blur + 128)`` with ``blur`` a Gaussian blur of
    ``sigma = radius / 30`` (OpenCV ``ksize=(0, 0)`` semantics for 8-bit images: kernel
    ``round(6 sigma + 1) | 1``, border ``REFLECT_101``, rounded to integers) and the
    combination done by ``cv2.addWeighted`` on ``uint8`` (round, then saturate to 0-255).
    Pixels farther than ``0.9 radius`` from the image centre are set to 128, as are, when
    ``fov`` is given, pixels less than ``0.1 radius`` inside it (Euclidean distance to the
    nearest pixel outside ``fov``). For a round field of view both rules coincide; for a disc
    clipped by the camera's frame (DiaretDB1) the second removes the bright band the blur
    leaves along the clip lines, which Graham's circle alone does not reach.

    Args:
        image (np.ndarray): ``(H, W, 3)`` ``uint8`` RGB image with the fundus centred (as
            :func:`preprocess_fundus` crops it). Not modified.
        radius (float, optional): fundus radius ``R`` in pixels. Default: ``None``: half the
            width of ``fov``'s middle row when ``fov`` is given, else
            :func:`estimate_radius`.
        fov (np.ndarray, optional): ``(H, W)`` ``bool`` field of view. Default: ``None``.

    Returns:
        np.ndarray: ``(H, W, 3)`` ``uint8`` enhanced image.

    Examples::

        >>> import numpy as np
        >>> flat = np.full((64, 64, 3), 90, np.uint8)
        >>> bool((graham_enhance(flat, radius=30) == 128).all())
        True
    """
    check_rgb(image)
    height, width = image.shape[:2]
    if fov is not None:
        check_mask(fov, "fov", (height, width))
    if radius is None:
        radius = fov_radius(fov) if fov is not None else estimate_radius(image)
    elif not radius > 0:
        raise ValueError(f"`radius` must be positive, got {radius}")
    sigma = radius / _GRAHAM_SIGMA_DIVISOR
    ksize = gaussian_ksize(sigma)
    blur = cv2.GaussianBlur(
        image.astype(np.float32), (ksize, ksize), sigma, borderType=cv2.BORDER_REFLECT_101
    )
    blur_8u = np.clip(np.rint(blur), 0, 255).astype(np.uint8)
    out = cv2.addWeighted(image, _GRAHAM_GAIN, blur_8u, -_GRAHAM_GAIN, _GRAHAM_OFFSET)
    out[~graham_keep((height, width), radius, fov)] = int(_GRAHAM_OFFSET)
    return out


def graham_combine_tensor(image: torch.Tensor, blur: torch.Tensor) -> torch.Tensor:
    """``cv2.addWeighted(image, 4, blur, -4, 128)`` on integer-valued float tensors."""
    return (_GRAHAM_GAIN * image - _GRAHAM_GAIN * blur + _GRAHAM_OFFSET).round().clamp(0, 255)


def graham_enhance_batch(images: torch.Tensor, fov: np.ndarray) -> torch.Tensor:
    """:func:`graham_enhance` on ``(N, 3, S, S)`` integer-valued float tensors.

    ``fov`` is the ``(N, S, S)`` ``bool`` field of view on the host (radius and kept pixels are
    computed there, exactly as in the host path).
    """
    radii = np.array([fov_radius(mask) for mask in fov])
    sigmas = radii / _GRAHAM_SIGMA_DIVISOR
    ksizes = np.array([gaussian_ksize(float(sigma)) for sigma in sigmas])
    blur = torch.empty_like(images)
    for ksize in np.unique(ksizes):
        members = np.flatnonzero(ksizes == ksize)
        sigma = torch.as_tensor(sigmas[members], dtype=images.dtype, device=images.device)
        blur[members] = gaussian_blur2d(
            images[members],
            (int(ksize), int(ksize)),
            sigma[:, None].expand(-1, 2),
            border_type="reflect",
        )
    out = graham_combine_tensor(images, blur.round().clamp(0, 255))
    keep = np.stack(
        [graham_keep(mask.shape, float(r), mask) for mask, r in zip(fov, radii, strict=True)]
    )
    keep_device = torch.from_numpy(keep)[:, None].to(images.device)
    return torch.where(keep_device, out, torch.full_like(out, _GRAHAM_OFFSET))

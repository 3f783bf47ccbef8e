"""Input contracts shared by the public functions (kornia's ``KORNIA_CHECK_*`` in spirit).

Every check raises ``TypeError`` for a wrong type or dtype and ``ValueError`` for a wrong shape or
value, and names the offending argument so the caller knows what to fix.
"""

from __future__ import annotations

import math
from numbers import Real

import torch
from torch import Tensor


def check_images(images: object, name: str = "inputs", volumes: bool = False) -> Tensor:
    """Check a batch of images: a finite floating-point tensor of shape (N, C, H, W).

    With ``volumes=True``, batches of volumes (N, C, D, H, W) are accepted too.
    """
    shape = "(N, C, H, W) or (N, C, D, H, W)" if volumes else "(N, C, H, W)"
    if not isinstance(images, Tensor):
        raise TypeError(f"`{name}` must be a torch.Tensor of shape {shape}, got {type(images)}")
    if images.dim() not in ((4, 5) if volumes else (4,)):
        raise ValueError(
            f"`{name}` must have shape {shape}, got {tuple(images.shape)} ({images.dim()}-D)"
        )
    if not images.is_floating_point():
        raise TypeError(
            f"`{name}` must be a floating-point tensor, got dtype {images.dtype}; "
            "convert images with `.float()` (and scale them as the model expects)"
        )
    if images.shape[0] == 0:
        raise ValueError(f"`{name}` is an empty batch (N = 0)")
    if min(images.shape[2:]) < 2:
        raise ValueError(
            f"`{name}` must be at least 2 pixels along each axis, got {tuple(images.shape[2:])}"
        )
    if not bool(torch.isfinite(images).all()):
        raise ValueError(f"`{name}` contains NaN or infinite values")
    return images


def check_maps(maps: object, name: str = "maps") -> Tensor:
    """Check a batch of one-channel maps of shape (N, 1, H, W) (or volumes (N, 1, D, H, W))."""
    if not isinstance(maps, Tensor):
        raise TypeError(f"`{name}` must be a torch.Tensor of shape (N, 1, H, W), got {type(maps)}")
    if maps.dim() not in (4, 5) or maps.shape[1] != 1:
        raise ValueError(
            f"`{name}` must have shape (N, 1, H, W) or (N, 1, D, H, W), got {tuple(maps.shape)}"
        )
    return maps


def check_mask_like(mask: object, images: Tensor, name: str) -> Tensor:
    """Check a bool mask of shape (N, 1, H, W) matching ``images`` (N, C, H, W) on N, H, W.

    Volumes work the same way: (N, 1, D, H, W) masks for (N, C, D, H, W) images. A mask with
    batch size 1 is broadcast to the batch. Returns the mask on ``images``' device.
    """
    spatial = tuple(images.shape[2:])
    letters = "(N, 1, H, W)" if len(spatial) == 2 else "(N, 1, D, H, W)"
    if not isinstance(mask, Tensor):
        raise TypeError(
            f"`{name}` must be a bool torch.Tensor of shape {letters}, got {type(mask)}"
        )
    if mask.dtype != torch.bool:
        raise TypeError(f"`{name}` must have dtype torch.bool, got {mask.dtype}")
    n = images.shape[0]
    expected = (n, 1, *spatial)
    if mask.dim() != images.dim() or mask.shape[1] != 1 or tuple(mask.shape[2:]) != spatial:
        raise ValueError(
            f"`{name}` must have shape {expected} to match the images, got {tuple(mask.shape)}"
        )
    if mask.shape[0] not in (1, n):
        raise ValueError(
            f"`{name}` has batch size {mask.shape[0]}, expected {n} (or 1 to broadcast)"
        )
    return mask.to(images.device).expand(*expected)


def tensor_to_numpy(value: object) -> object:
    """A tensor as a host numpy array (bfloat16, which numpy lacks, as float32); others as is."""
    if isinstance(value, Tensor):
        tensor = value.detach().cpu()
        return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()
    return value


def check_finite_number(value: object, name: str) -> float:
    """Check a finite real number (not a bool) and return it as ``float``."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(
                f"`{name}` must be a single number, got a tensor of shape {tuple(value.shape)}"
            )
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"`{name}` must be a real number, got {type(value).__name__}")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"`{name}` must be finite, got {value!r}")
    return out


def check_positive_int(value: object, name: str, minimum: int = 1) -> int:
    """Check an integer >= ``minimum`` (bools are rejected)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"`{name}` must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value}")
    return value

"""Input contracts shared by the public functions (kornia's ``KORNIA_CHECK_*`` in spirit).

Every check raises ``TypeError`` for a wrong type or dtype and ``ValueError`` for a wrong shape or
value, and names the offending argument so the caller knows what to fix.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "MAX_ALPHA",
    "check_alpha",
    "check_autocast",
    "check_finite_number",
    "check_images",
    "check_maps",
    "check_mask_like",
    "check_non_negative_int",
    "check_positive_int",
    "check_real",
    "check_size_2d",
    "check_valid",
    "is_int",
    "to_numpy",
]


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


def check_valid(valid: object, images: Tensor) -> Tensor | None:
    """Check an optional field of view for ``images``: None, or a bool mask (see
    :func:`check_mask_like`) with at least one pixel per image."""
    if valid is None:
        return None
    mask = check_mask_like(valid, images, "valid")
    empty = ~mask.flatten(1).any(dim=1)
    if bool(empty.any()):
        raise ValueError(f"`valid` has no pixel for image(s) {empty.nonzero()[:, 0].tolist()}")
    return mask


def to_numpy(value: object, dtype: Any = None) -> Any:
    """A tensor as a host numpy array; other values as they are.

    The one tensor-to-numpy conversion of the package: detached, copied to the host, bfloat16
    (which numpy lacks) as float32.

    Args:
        value (object): a tensor, an array or anything else.
        dtype (numpy dtype, optional): convert the result with ``np.asarray(result, dtype)``
            (then lists and numbers become arrays too). Default: None (no conversion).

    Returns:
        np.ndarray for a tensor or with ``dtype``; otherwise ``value`` itself.
    """
    if isinstance(value, Tensor):
        tensor = value.detach().cpu()
        value = (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()
    return value if dtype is None else np.asarray(value, dtype=dtype)


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


#: The largest decay ``alpha`` whose first map weight ``exp(-alpha)`` is a normal float32 number
#: (about 87.3); beyond it every weight of the float32 maps underflows to zero or a denormal.
MAX_ALPHA = -math.log(float(np.finfo(np.float32).tiny))


def check_alpha(alpha: object) -> float:
    """Check the decay ``alpha`` of the map weights ``exp(-alpha t)``: ``0 < alpha <= MAX_ALPHA``.

    A larger ``alpha`` is refused rather than warned about: the augmented maps are summed and
    stored in float32 (the explanation files too), where ``exp(-alpha)`` below float32's smallest
    normal number (1.2e-38) is zero or a denormal, so every augmented map would come out all zero
    or lose its precision, whatever the images, after computing up to ``max_iter`` maps each.
    """
    value = check_finite_number(alpha, "alpha")
    if value <= 0:
        raise ValueError(f"`alpha` must be > 0, got {alpha!r}")
    if value > MAX_ALPHA:
        raise ValueError(
            f"`alpha` {alpha!r} weights even the first map by exp(-alpha) = "
            f"{math.exp(-value):.3g}, below float32's smallest normal number, so every augmented "
            f"map would be all zero (or denormal); `alpha` must be at most {MAX_ALPHA:.1f}"
        )
    return value


def check_autocast(autocast: object) -> torch.dtype | None:
    """Check the loop's ``autocast`` dtype: ``torch.bfloat16``, ``torch.float16`` or None."""
    if autocast is not None and autocast not in (torch.bfloat16, torch.float16):
        raise ValueError(
            f"`autocast` must be torch.bfloat16, torch.float16 or None, got {autocast}"
        )
    return autocast


def check_real(value: object, name: str, minimum: float) -> float:
    """Check a finite real number ``>= minimum`` (not a bool, not a tensor); return a float."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"`{name}` must be a real number, got {type(value).__name__}")
    out = float(value)
    if not math.isfinite(out) or out < minimum:
        raise ValueError(f"`{name}` must be finite and >= {minimum:g}, got {value!r}")
    return out


def is_int(value: object) -> bool:
    """Python and numpy integers, not bools."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _check_int(value: object, name: str, minimum: int) -> int:
    if not is_int(value):
        raise TypeError(f"`{name}` must be an int, got {type(value).__name__}")
    out = int(value)  # type: ignore[call-overload]
    if out < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {out}")
    return out


def check_positive_int(value: object, name: str) -> int:
    """Check an integer >= 1 (Python or numpy; bools are rejected); return an int."""
    return _check_int(value, name, 1)


def check_non_negative_int(value: object, name: str) -> int:
    """Check an integer >= 0 (Python or numpy; bools are rejected); return an int."""
    return _check_int(value, name, 0)


def check_size_2d(size: object, name: str = "size") -> tuple[int, int]:
    """Check an output size: one positive int (a square) or a ``(height, width)`` pair of them.

    Returns:
        tuple[int, int]: ``(height, width)``.
    """
    if is_int(size):
        pair: tuple[object, ...] = (size, size)
    elif isinstance(size, tuple) and len(size) == 2 and all(is_int(s) for s in size):
        pair = size
    else:
        raise TypeError(f"`{name}` must be an int or a (height, width) tuple of ints, got {size!r}")
    height, width = (int(s) for s in pair)  # type: ignore[call-overload]
    if height < 1 or width < 1:
        raise ValueError(f"`{name}` must be positive, got {size!r}")
    return height, width

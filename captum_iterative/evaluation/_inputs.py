"""Input checks shared by the FROC scan and the lesion-label helpers.

Maps and masks come as numpy arrays or torch tensors, one per image or batched as the loop
returns them; every check names the argument (and the image index) it refuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from captum_iterative._checks import to_numpy

__all__ = [
    "ArrayOrTensor",
    "as_array",
    "check_map",
    "check_mask",
    "check_sequence",
    "per_image",
    "skimage_connectivity",
]

#: One image's map or mask.
ArrayOrTensor = np.ndarray | torch.Tensor


def skimage_connectivity(connectivity: object) -> int:
    if connectivity not in (4, 8) or isinstance(connectivity, bool):
        raise ValueError(f"`connectivity` must be 4 or 8, got {connectivity!r}")
    return 1 if connectivity == 4 else 2


def per_image(value: Any, name: str) -> Any:
    """A batch ``(N, 1, H, W)`` (the loop's output shape) as ``(N, H, W)``; others as they are."""
    if isinstance(value, np.ndarray | torch.Tensor) and value.ndim == 4:
        if value.shape[1] != 1:
            raise ValueError(
                f"`{name}` as one array must be (N, 1, H, W) or (N, H, W), got shape "
                f"{tuple(value.shape)}"
            )
        return value[:, 0]
    return value


def check_sequence(value: object, name: str, length: int | None) -> int:
    if isinstance(value, np.ndarray | torch.Tensor) and value.ndim == 2:
        raise ValueError(
            f"`{name}` must be a sequence of (H, W) arrays; wrap one image as [{name}]"
        )
    if not isinstance(value, Sequence | np.ndarray | torch.Tensor):
        raise TypeError(f"`{name}` must be a sequence of (H, W) arrays, got {type(value).__name__}")
    n = len(value)
    if length is None and n == 0:
        raise ValueError(f"`{name}` is empty")
    if length is not None and n != length:
        raise ValueError(f"`{name}` has {n} entries, but `maps` has {length}")
    return n


def as_array(value: object, name: str) -> np.ndarray:
    """One image's map or mask as an array; a ``(1, H, W)`` entry (a loop map) as ``(H, W)``."""
    value = to_numpy(value)
    if isinstance(value, np.ndarray):
        return value[0] if value.ndim == 3 and value.shape[0] == 1 else value
    raise TypeError(f"`{name}` must be a numpy array or a torch tensor, got {type(value).__name__}")


def check_map(value: object, name: str) -> np.ndarray:
    """Return a float64 copy of a finite (H, W) map."""
    array = as_array(value, name)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"`{name}` must be a non-empty (H, W) map, got shape {array.shape}")
    if array.dtype == np.bool_ or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise TypeError(f"`{name}` must hold real numbers, got dtype {array.dtype}")
    work = array.astype(np.float64, copy=True)
    if not np.isfinite(work).all():
        raise ValueError(f"`{name}` contains NaN or infinite values")
    return work


def check_mask(value: object, name: str, shape: tuple[int, ...], index: int) -> np.ndarray:
    array = as_array(value, name)
    if array.dtype != np.bool_:
        raise TypeError(
            f"`{name}` must be a bool mask (or, for lesion masks, an integer label image), got "
            f"dtype {array.dtype}; threshold it first (e.g. `mask > 0`)"
        )
    if array.shape != shape:
        raise ValueError(f"`{name}` has shape {array.shape}, but `maps[{index}]` has shape {shape}")
    return array

"""The per-call arguments of the loop, checked once and sliced to the images still iterating.

Captum's ``attribute(inputs, target, additional_forward_args, **kwargs)`` carries per-image
entries (one target per image, per-image tensors among the extra arguments and the inner
keywords). :class:`BatchArguments` checks them once per call and hands each iteration the
entries of the images it explains, without host transfers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from captum_iterative._checks import is_int

__all__ = [
    "BatchArguments",
    "check_additional_forward_args",
    "check_target",
    "single_input",
]


class BatchArguments:
    """Per-call arguments of ``attribute`` that are sliced along the batch with the images.

    Args:
        n (int): images in the batch.
        target (Any): Captum target (checked by :func:`check_target`).
        additional_forward_args (Any): extra classifier arguments; tensors in it are per-image.
        kwargs (dict): inner ``attribute`` keywords; image-shaped tensors are per-image.
        images (Tensor): ``(N, C, H, W)`` or ``(N, C, D, H, W)`` images.
    """

    def __init__(
        self,
        n: int,
        target: Any,
        additional_forward_args: Any,
        kwargs: dict[str, Any],
        images: Tensor,
    ) -> None:
        self.n = n
        self.image_dim = images.dim()
        self.target = check_target(target, n, images.device)
        self.additional_forward_args = check_additional_forward_args(additional_forward_args, n)
        self.kwargs = kwargs

    def _slice(self, obj: Any, index: Tensor, per_image: Callable[[Tensor], bool]) -> Any:
        if isinstance(obj, Tensor) and per_image(obj):
            return obj[index.to(obj.device)]
        if isinstance(obj, tuple):
            return tuple(self._slice(o, index, per_image) for o in obj)
        return obj

    def select(self, index: Tensor) -> tuple[Any, Any, dict[str, Any]]:
        """``target``, ``additional_forward_args`` and inner kwargs for the images ``index``."""
        target = self.target
        if isinstance(target, list):
            target = [target[i] for i in index.tolist()]
        elif isinstance(target, Tensor):  # one index per image, on the images' device
            target = target[index]

        def any_batched(t: Tensor) -> bool:
            return t.dim() >= 1 and t.shape[0] == self.n

        def image_shaped(t: Tensor) -> bool:
            return t.dim() == self.image_dim and t.shape[0] == self.n

        extra_args = self._slice(self.additional_forward_args, index, any_batched)
        kwargs = {k: self._slice(v, index, image_shaped) for k, v in self.kwargs.items()}
        return target, extra_args, kwargs


def check_target(target: Any, n: int, device: torch.device) -> Any:
    """The checked ``target``, in the form the loop slices without further host transfers.

    A one-element tensor becomes an int (read once here, not at every iteration), and per-image
    indices (a tensor or a list of ints) become a ``(n,)`` long tensor on the images' ``device``,
    where Captum gathers the model output with them. Indices follow the package's one rule for
    integers (:func:`~captum_iterative._checks.is_int`: Python or numpy, not bools) and are
    handed on as Python ints.
    """
    if target is None:
        return None
    if is_int(target):
        return int(target)
    if isinstance(target, Tensor):
        if target.dim() == 0 or target.numel() == 1 or (target.dim() == 1 and target.numel() == n):
            if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
                raise TypeError(f"`target` must hold integer indices, got a {target.dtype} tensor")
            if target.numel() == 1:
                return int(target)
            return target.to(device=device, dtype=torch.long)
        raise ValueError(
            f"`target` must be an int, a scalar tensor or one index per image ({n}), "
            f"got a tensor of shape {tuple(target.shape)}"
        )
    if isinstance(target, tuple):
        if not all(is_int(i) for i in target):
            raise TypeError(f"`target` tuple entries must be ints, got {target!r}")
        return tuple(int(i) for i in target)
    if isinstance(target, list):
        if len(target) != n:
            raise ValueError(f"`target` has {len(target)} entries for {n} images")
        if all(is_int(t) for t in target):
            return torch.tensor([int(t) for t in target], dtype=torch.long, device=device)
        if not all(isinstance(t, tuple) and all(is_int(i) for i in t) for t in target):
            raise TypeError(
                "`target` list entries must be ints, or tuples of ints for outputs with more "
                f"than two dimensions, got {[type(t).__name__ for t in target]}"
            )
        return [tuple(int(i) for i in t) for t in target]
    raise TypeError(f"`target` must be an int, tuple, tensor or list, got {type(target).__name__}")


def check_additional_forward_args(args: Any, n: int) -> Any:
    if args is None:
        return None
    args = args if isinstance(args, tuple) else (args,)
    for i, arg in enumerate(args):
        if isinstance(arg, Tensor) and arg.dim() >= 1 and arg.shape[0] not in (n,):
            raise ValueError(
                f"`additional_forward_args[{i}]` has batch size {arg.shape[0]} for {n} images; "
                "tensors in additional_forward_args are treated as per-image (as in Captum)"
            )
    return args


def single_input(inputs: object) -> object:
    """The image tensor of ``inputs``: a tensor, or a one-element tuple holding one (Captum's)."""
    if isinstance(inputs, tuple):
        if len(inputs) != 1:
            raise ValueError(
                f"`inputs` is a tuple of {len(inputs)} tensors; the loop explains one image "
                "tensor: pass the other model inputs as `additional_forward_args`"
            )
        return inputs[0]
    return inputs

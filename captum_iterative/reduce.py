r"""From an attribution to one map per image at input resolution.

Step 2 of the method needs :math:`M^t` as an ``m x n`` map, but Captum returns input-shaped
attributions with ``C`` channels (Saliency, GuidedBackprop, IntegratedGradients, ...) or
layer-shaped ones at a coarser resolution (LayerGradCam, ...). :func:`reduce_attribution`
reduces the channels and upsamples layer maps bilinearly (trilinearly for volumes) with Captum's
own :meth:`captum.attr.LayerAttribution.interpolate`. Token-shaped layer attributions (a ViT
block's ``(N, T, D)``) are first brought to ``(N, D, h, w)`` by a ``reshape_transform``, as in
pytorch-grad-cam.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
from captum.attr import LayerAttribution
from torch import Tensor

from captum_iterative._checks import is_int
from captum_iterative._registry import Registry
from captum_iterative._spatial import LINEAR_MODES

__all__ = [
    "ChannelReduction",
    "ReshapeTransform",
    "get_channel_reduction",
    "list_channel_reductions",
    "reduce_attribution",
    "register_channel_reduction",
]

#: A channel reduction maps an attribution (N, C, H, W) to a map (N, 1, H, W).
ChannelReduction = Callable[[Tensor], Tensor]
#: A reshape transform maps a token-shaped attribution, e.g. (N, 1 + h * w, D), to (N, D, h, w).
ReshapeTransform = Callable[[Tensor], Tensor]
_R = TypeVar("_R", bound=Callable[..., Tensor])

#: Named channel reductions (``channel_reduction=`` of ``IterativeAugmentation``):
#: ``"abs_max"`` (max of ``|a|`` over channels, the usual saliency map), ``"abs_sum"``,
#: ``"sum"`` (common for integrated gradients), ``"max"`` and ``"mean"``. The first two give
#: unsigned maps; the others keep the sign, and Otsu's mask ``M >= threshold`` then holds the
#: strongest positive evidence only (docs/integrations.md, "Signs").
_CHANNEL_REDUCTIONS: Registry[ChannelReduction] = Registry("channel reduction", "channel_reduction")


def register_channel_reduction(name: str) -> Callable[[_R], _R]:
    """Decorator adding a channel reduction ``(N, C, H, W) -> (N, 1, H, W)`` under ``name``:
    ``@register_channel_reduction("median")``.

    Raises:
        ValueError: ``name`` already holds another reduction.
    """
    return _CHANNEL_REDUCTIONS.register(name)


def list_channel_reductions() -> list[str]:
    """Names accepted by :func:`get_channel_reduction`, sorted:
    ``["abs_max", "abs_sum", "max", "mean", "sum"]``."""
    return _CHANNEL_REDUCTIONS.names()


@register_channel_reduction("abs_max")
def _abs_max(attr: Tensor) -> Tensor:
    return attr.abs().amax(dim=1, keepdim=True)


@register_channel_reduction("abs_sum")
def _abs_sum(attr: Tensor) -> Tensor:
    return attr.abs().sum(dim=1, keepdim=True)


@register_channel_reduction("sum")
def _sum(attr: Tensor) -> Tensor:
    return attr.sum(dim=1, keepdim=True)


@register_channel_reduction("max")
def _max(attr: Tensor) -> Tensor:
    return attr.amax(dim=1, keepdim=True)


@register_channel_reduction("mean")
def _mean(attr: Tensor) -> Tensor:
    return attr.mean(dim=1, keepdim=True)


def get_channel_reduction(name: str | ChannelReduction) -> ChannelReduction:
    """A channel reduction by name (:func:`list_channel_reductions`), or a callable passed
    through.

    Args:
        name (str or callable): a registered name, or a callable ``(N, C, H, W) -> (N, 1, H, W)``.

    Returns:
        callable: the reduction.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
        TypeError: neither a string nor a callable.
    """
    return _CHANNEL_REDUCTIONS.resolve(name)


def _check_input_size(input_size: object) -> tuple[int, ...]:
    """``input_size`` as ``(H, W)`` or ``(D, H, W)`` positive ints (TypeError/ValueError)."""
    if not isinstance(input_size, tuple | list) or len(input_size) not in (2, 3):
        raise TypeError(
            f"`input_size` must be an (H, W) or (D, H, W) tuple of ints, got {input_size!r}"
        )
    if not all(is_int(s) for s in input_size):
        raise TypeError(
            f"`input_size` must be an (H, W) or (D, H, W) tuple of ints, got {input_size!r}"
        )
    size = tuple(int(s) for s in input_size)
    if min(size) < 1:
        raise ValueError(f"`input_size` must be positive, got {input_size!r}")
    return size


def reduce_attribution(
    attribution: Tensor | tuple[Tensor, ...],
    input_size: tuple[int, ...],
    reduction: str | ChannelReduction = "abs_max",
    interpolate_mode: str | None = None,
    reshape_transform: ReshapeTransform | None = None,
) -> Tensor:
    r"""Reduce an attribution to one channel at the input's spatial size.

    The ``reshape_transform`` is applied first (if given), then the channel reduction (also to
    one-channel attributions, so ``"abs_max"`` takes ``|a|`` of a signed one-channel map), then
    maps whose spatial size differs from ``input_size`` (layer attributions) are upsampled with
    :meth:`captum.attr.LayerAttribution.interpolate` (``align_corners=False``).

    Args:
        attribution (Tensor or tuple[Tensor]): ``(N, C, h, w)`` attribution (``(N, C, d, h, w)``
            for volumes), or a 1-tuple holding one (as Captum returns for tuple inputs).
        input_size (tuple[int, ...]): ``(H, W)`` of the explained images (``(D, H, W)`` for
            volumes).
        reduction (str or callable, optional): a name of :func:`list_channel_reductions` or a
            callable ``(N, C, h, w) -> (N, 1, h, w)``. Default: ``"abs_max"``.
        interpolate_mode (str, optional): mode of the upsampling. Default: None, ``"bilinear"``
            for images and ``"trilinear"`` for volumes.
        reshape_transform (callable, optional): ``attribution -> (N, C, h, w)``, for token-shaped
            layer attributions such as a ViT block's ``(N, 1 + h * w, D)``. Default: None.

    Returns:
        Tensor: ``(N, 1, H, W)`` map (``(N, 1, D, H, W)`` for volumes) in the attribution's
        floating dtype.

    Examples::

        >>> attr = torch.randn(2, 3, 224, 224)        # e.g. GuidedBackprop output
        >>> reduce_attribution(attr, (224, 224)).shape
        torch.Size([2, 1, 224, 224])
        >>> cam = torch.rand(2, 1, 28, 28)            # e.g. LayerGradCam output
        >>> reduce_attribution(cam, (224, 224)).shape
        torch.Size([2, 1, 224, 224])
        >>> tokens = torch.rand(2, 1 + 14 * 14, 64)   # a ViT block, class token first
        >>> to_grid = lambda t: t[:, 1:].transpose(1, 2).reshape(2, 64, 14, 14)
        >>> reduce_attribution(tokens, (224, 224), reshape_transform=to_grid).shape
        torch.Size([2, 1, 224, 224])
    """
    if isinstance(attribution, tuple):
        if len(attribution) != 1:
            raise ValueError(
                f"the attribution returned a tuple of {len(attribution)} tensors; "
                "IterativeAugmentation explains a single image tensor"
            )
        attribution = attribution[0]
    if not isinstance(attribution, Tensor):
        raise TypeError(f"the attribution returned {type(attribution)}, expected a Tensor")
    size = _check_input_size(input_size)
    if reshape_transform is not None:
        shape = tuple(attribution.shape)
        attribution = reshape_transform(attribution)
        if not isinstance(attribution, Tensor) or attribution.dim() != 2 + len(size):
            raise ValueError(
                f"`reshape_transform` must return a ({'N, C, ' + ', '.join('dhw'[-len(size) :])}) "
                f"tensor, got {getattr(attribution, 'shape', type(attribution))} from {shape}"
            )
    if attribution.dim() != 2 + len(size):
        kind = "(N, C, H, W)" if len(size) == 2 else "(N, C, D, H, W)"
        raise ValueError(
            f"the attribution has shape {tuple(attribution.shape)}; expected an input-shaped "
            f"{kind} attribution or a spatial layer map of as many dimensions. Token-shaped "
            "layer outputs (e.g. (N, 1 + h * w, D) of a ViT block) need a `reshape_transform=` "
            "to (N, D, h, w)."
        )
    if not attribution.is_floating_point():
        attribution = attribution.float()
    fn = get_channel_reduction(reduction)
    reduced = fn(attribution)
    if (
        reduced.dim() != attribution.dim()
        or reduced.shape[1] != 1
        or reduced.shape[0] != attribution.shape[0]
    ):
        raise ValueError(
            f"`channel_reduction` must return (N, 1, h, w), got {tuple(reduced.shape)} "
            f"from an attribution of shape {tuple(attribution.shape)}"
        )
    if tuple(reduced.shape[2:]) != size:
        mode = interpolate_mode or LINEAR_MODES[len(size)]
        reduced = LayerAttribution.interpolate(reduced, size, mode)
    return reduced.to(torch.promote_types(reduced.dtype, torch.float32))


def unit_maximum(maps: Tensor, fov: Tensor | None) -> Tensor:
    """``(k, 1, *spatial)`` maps divided by their largest magnitude (in ``fov`` when given); an
    all-zero map stays zero. On the device, no host read."""
    magnitude = maps.abs() if fov is None else torch.where(fov, maps.abs(), 0.0)
    top = magnitude.flatten(1).amax(dim=1).view(-1, *[1] * (maps.dim() - 1))
    return maps / torch.where(top > 0, top, 1.0)

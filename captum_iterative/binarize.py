r"""Binarization of attribution maps: a batched torch Otsu threshold.

Step 3 of the method: :math:`B^t = M^t \ge \mathrm{Otsu}(M^t)`, per image. The threshold is
computed on the maps' device with one histogram per image and no host synchronisation. It
reproduces :func:`skimage.filters.threshold_otsu` (``nbins=256``, bins spanning each image's
own range, exactly as :func:`numpy.histogram` assigns values to bins), so a torch loop and a
scikit-image loop binarize the same pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

from captum_iterative._checks import check_maps, check_mask_like
from captum_iterative._registry import Registry

__all__ = [
    "Binarizer",
    "binarize_otsu",
    "get_binarizer",
    "list_binarizers",
    "map_range",
    "otsu_threshold",
    "register_binarizer",
]

#: A binarizer maps ``maps`` (N, 1, H, W) and an optional ``valid`` (N, 1, H, W) bool mask to a
#: bool mask (N, 1, H, W).
Binarizer = Callable[[Tensor, Tensor | None], Tensor]
_B = TypeVar("_B", bound=Callable[..., Tensor])


def map_range(maps: Tensor, valid: Tensor | None = None) -> tuple[Tensor, Tensor]:
    r"""Per-image minimum and maximum of ``maps`` over the pixels inside ``valid``.

    Args:
        maps (Tensor): maps of shape ``(N, 1, H, W)`` (any float dtype).
        valid (Tensor, optional): ``(N, 1, H, W)`` bool; pixels outside are ignored.
            Default: None (all pixels).

    Returns:
        tuple[Tensor, Tensor]: ``(lo, hi)``, each of shape ``(N,)`` and the maps' dtype. An image
        with no valid pixel gets ``lo = +inf`` and ``hi = -inf``.
    """
    flat = maps.flatten(1)
    if valid is None:
        return flat.amin(dim=1), flat.amax(dim=1)
    keep = valid.flatten(1)
    # A device-side fill: torch.tensor(...) would copy from the host and synchronise a GPU.
    inf = maps.new_full((), float("inf"))
    lo = torch.where(keep, flat, inf).amin(dim=1)
    hi = torch.where(keep, flat, -inf).amax(dim=1)
    return lo, hi


#: Named binarizers accepted by ``IterativeAugmentation(binarizer=...)``.
_BINARIZERS: Registry[Binarizer] = Registry("binarizer", "binarizer")


def register_binarizer(name: str) -> Callable[[_B], _B]:
    """Decorator adding a binarizer under ``name``: ``@register_binarizer("mine")``.

    The binarizer maps ``maps`` (N, 1, H, W) and ``valid`` (N, 1, H, W) bool or None to a bool
    mask (N, 1, H, W).

    Raises:
        ValueError: ``name`` already holds another binarizer.
    """
    return _BINARIZERS.register(name)


def list_binarizers() -> list[str]:
    """Names accepted by :func:`get_binarizer`, sorted (``["otsu"]``)."""
    return _BINARIZERS.names()


def _histogram(
    flat: Tensor, keep: Tensor | None, lo: Tensor, hi: Tensor, bins: int
) -> tuple[Tensor, Tensor]:
    """Per-row histogram with :func:`numpy.histogram`'s bin assignment.

    ``flat`` is (N, P); ``lo``/``hi`` are (N,) with ``hi > lo`` for the rows that matter.
    Returns counts (N, bins) in float64 and the bin edges (N, bins + 1) in ``flat.dtype``.
    """
    n = flat.shape[0]
    dtype = flat.dtype
    # Constant rows get a unit span (their threshold is set apart); a subnormal span is kept as
    # it is, as numpy keeps it (clamping it to the smallest normal number moved every edge).
    span = hi - lo
    span = torch.where(span > 0, span, torch.ones_like(span))
    # Edges as numpy.linspace builds them: arange * step + start, last edge = stop.
    steps = torch.arange(bins + 1, dtype=dtype, device=flat.device)
    edges = steps[None, :] * (span / bins)[:, None] + lo[:, None]
    edges[:, -1] = hi
    # Bin index as numpy.histogram computes it, then its two edge corrections.
    idx = ((flat - lo[:, None]) / span[:, None] * bins).floor().long().clamp_(0, bins - 1)
    idx = idx - (flat < torch.gather(edges, 1, idx)).long()
    idx = idx.clamp_(0, bins - 1)
    upper = torch.gather(edges, 1, idx + 1)
    idx = idx + ((flat >= upper) & (idx != bins - 1)).long()
    weight = torch.ones_like(flat, dtype=torch.float64) if keep is None else keep.double()
    counts = torch.zeros(n, bins, dtype=torch.float64, device=flat.device)
    counts.scatter_add_(1, idx, weight)
    return counts, edges


def _cumsum(values: Tensor) -> Tensor:
    """Cumulative sums along dim 1 as numpy takes them, where that is possible.

    numpy (hence scikit-image) adds float32 values one after the other in float32, while torch's
    CPU ``cumsum`` accumulates float32 in float64; the two differ in the last bits, enough to flip
    Otsu's arg-max between near-equal bins. On the CPU the sums are therefore taken by numpy (no
    copy: the tensor is viewed); on other devices torch's own scan is used, which agrees to float
    rounding.
    """
    if values.device.type == "cpu" and not values.requires_grad:
        return torch.from_numpy(np.cumsum(values.numpy(), axis=1))
    return values.cumsum(1)


def otsu_threshold(maps: Tensor, valid: Tensor | None = None, bins: int = 256) -> Tensor:
    r"""Otsu's threshold of each map, computed on the maps' device.

    Reproduces :func:`skimage.filters.threshold_otsu` with ``nbins=bins`` on every map (or on the
    map's values inside ``valid``): the histogram spans the image's own ``[min, max]``, the
    returned threshold is the centre of the bin that maximises the between-class variance, and a
    constant map returns its value. Pixels with ``map >= threshold`` are foreground. Like
    scikit-image, float32 maps are scored in float32 and float64 maps in float64. On the CPU the
    result is bit-identical to scikit-image; on a GPU the cumulative sums are a parallel scan,
    equal up to float rounding (which can pick a neighbouring bin only at a near-tie).

    Args:
        maps (Tensor): attribution maps of shape ``(N, 1, H, W)`` or ``(N, H, W)``, or volumes
            ``(N, 1, D, H, W)`` (one threshold per volume), float.
        valid (Tensor, optional): bool mask broadcastable to ``maps`` (e.g. a field of view of shape
            ``(N, 1, H, W)``); only pixels inside it enter the histogram. Default: None.
        bins (int, optional): number of histogram bins. Default: 256.

    Returns:
        Tensor: thresholds of shape ``(N,)``, in the maps' dtype (float64 for float64 maps). Maps
        with non-finite values or without valid pixels give ``nan``.

    Examples::

        >>> maps = torch.rand(4, 1, 64, 64)
        >>> thr = otsu_threshold(maps)               # (4,)
        >>> masks = maps >= thr.view(-1, 1, 1, 1)    # (4, 1, 64, 64) bool
    """
    if isinstance(maps, Tensor) and maps.dim() == 3:
        maps = maps.unsqueeze(1)
    check_maps(maps, "maps")
    if not isinstance(bins, int) or bins < 2:
        raise ValueError(f"`bins` must be an integer >= 2, got {bins!r}")
    if valid is not None:
        valid = check_mask_like(valid, maps, "valid")
    if not maps.is_floating_point():
        maps = maps.double()
    flat = maps.flatten(1)
    keep = None if valid is None else valid.flatten(1)
    lo, hi = map_range(maps, valid)
    finite = torch.isfinite(flat)
    finite_rows = (finite if keep is None else finite | ~keep).all(dim=1)
    # Out-of-range (invalid) pixels are put at ``lo`` with zero weight so the binning stays sane.
    safe_lo = torch.where(torch.isfinite(lo), lo, torch.zeros_like(lo))
    safe_hi = torch.where(torch.isfinite(hi), hi, safe_lo)
    flat = torch.where(finite if keep is None else finite & keep, flat, safe_lo[:, None])
    counts, edges = _histogram(flat, keep, safe_lo, safe_hi, bins)
    centers = (edges[:, :-1] + edges[:, 1:]) / 2
    # scikit-image casts the counts to float32, so float32 maps are scored in float32 (products
    # of tiny centres underflow there exactly as they do in scikit-image) and float64 maps in
    # float64.
    counts = counts.float()
    work = centers.to(torch.promote_types(torch.float32, centers.dtype))
    weight1 = _cumsum(counts)
    weight2 = _cumsum(counts.flip(1)).flip(1)
    mass = counts * work
    mean1 = _cumsum(mass) / weight1
    mean2 = (_cumsum(mass.flip(1)) / weight2.flip(1)).flip(1)
    variance12 = weight1[:, :-1] * weight2[:, 1:] * (mean1[:, :-1] - mean2[:, 1:]) ** 2
    # numpy's argmax ignores nothing: empty leading bins give nan (0/0) there, and nan compares
    # as the maximum in numpy; scikit-image relies on the first finite maximum because leading
    # bins are never empty (bin 0 holds the minimum). Replace nan by -inf to be safe.
    variance12 = torch.nan_to_num(variance12, nan=-torch.inf)
    idx = variance12.argmax(dim=1, keepdim=True)
    thr = torch.gather(centers, 1, idx).squeeze(1)
    constant = safe_hi <= safe_lo
    thr = torch.where(constant, safe_lo, thr)
    bad = ~finite_rows | ~torch.isfinite(lo)
    return torch.where(bad, torch.full_like(thr, float("nan")), thr)


@register_binarizer("otsu")
def binarize_otsu(maps: Tensor, valid: Tensor | None = None) -> Tensor:
    r"""Binarize each map at its Otsu threshold: ``maps >= otsu_threshold(maps, valid)``.

    Args:
        maps (Tensor): ``(N, 1, H, W)`` float maps, or ``(N, 1, D, H, W)`` volumes.
        valid (Tensor, optional): bool, of ``maps``' shape; the threshold is computed on the
            values inside it and the mask is clipped to it. Default: None.

    Returns:
        Tensor: bool masks of ``maps``' shape. A map whose threshold is ``nan`` (non-finite values)
        gives an empty mask.
    """
    thr = otsu_threshold(maps, valid)
    mask = maps >= thr.view(-1, *[1] * (maps.dim() - 1)).to(maps.dtype)
    if valid is not None:
        mask = mask & valid
    return mask


def get_binarizer(name: str | Binarizer) -> Binarizer:
    """A binarizer by name (:func:`list_binarizers`), or a callable passed through.

    Args:
        name (str or callable): a registered name, or a callable ``(maps, valid) -> mask``
            taking ``maps`` (N, 1, H, W) and ``valid`` (N, 1, H, W) bool or None and returning a
            bool mask (N, 1, H, W).

    Returns:
        callable: the binarizer.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
        TypeError: neither a string nor a callable.
    """
    return _BINARIZERS.resolve(name)


def apply_binarizer(binarizer: Binarizer, maps: Tensor, valid: Tensor | None) -> Tensor:
    """``binarizer(maps, valid)``, its result checked and clipped to ``valid``.

    Args:
        binarizer (callable): e.g. from :func:`get_binarizer`.
        maps (Tensor): ``(N, 1, H, W)`` maps.
        valid (Tensor, optional): ``(N, 1, H, W)`` bool field of view.

    Returns:
        Tensor: ``(N, 1, H, W)`` bool masks, False outside ``valid``.

    Raises:
        ValueError: the binarizer returned something else than a bool tensor of ``maps``' shape.
    """
    masks = binarizer(maps, valid)
    if not isinstance(masks, Tensor) or masks.dtype != torch.bool or masks.shape != maps.shape:
        raise ValueError(
            f"`binarizer` must return a bool tensor of shape {tuple(maps.shape)}, got "
            f"{getattr(masks, 'dtype', type(masks))} {tuple(getattr(masks, 'shape', ()))}"
        )
    return masks if valid is None else masks & valid


def degenerate_maps(maps: Tensor, masks: Tensor, valid: Tensor | None) -> Tensor:
    """``(N,)`` bool: maps that are non-finite or constant (inside ``valid``), or empty masks.

    Such a map carries no evidence to erase: the loop stops there (``"degenerate_map"``).
    """
    finite = torch.isfinite(maps).flatten(1).all(dim=1)
    lo, hi = map_range(maps, valid)
    return ~finite | (hi <= lo) | ~masks.flatten(1).any(dim=1)

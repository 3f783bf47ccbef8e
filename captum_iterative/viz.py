r"""Figures: map overlays, the loop step by step, and method grids (matplotlib).

All functions take torch tensors or numpy arrays, never modify them, and return the matplotlib
``Figure`` so callers decide where it goes (``fig.savefig(path)``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from captum_iterative._checks import to_numpy
from captum_iterative.result import AugmentationResult

__all__ = [
    "MASK_COLOUR",
    "mask_overlay",
    "normalize_map",
    "overlay",
    "plot_iterations",
    "plot_method_grid",
    "to_display_image",
]


def _np(x: Any) -> np.ndarray:
    return to_numpy(x, dtype=np.float64)


def to_display_image(image: Any, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """An image for display: ``(H, W, 3)`` float in [0, 1], min-max scaled.

    Tensors are read as ``(C, H, W)``; arrays as ``(H, W, C)`` when their last axis has 1, 3 or 4
    entries, else as ``(C, H, W)``; ``(H, W)`` is grey. One channel is repeated to three.

    Args:
        image (Tensor or array): the image.
        value_range (tuple[float, float], optional): the values shown as 0 and 1 (values outside
            are clipped), e.g. another image's range, to draw both on one scale. Default: None,
            the image's own minimum and maximum.
    """
    chw = isinstance(image, torch.Tensor)
    arr = _np(image)
    if arr.ndim == 3 and (chw or arr.shape[-1] not in (1, 3, 4)):
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim == 2:
        arr = arr[..., None]
    arr = arr[..., :3]
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    lo, hi = (arr.min(), arr.max()) if value_range is None else value_range
    return np.clip((arr - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.zeros_like(arr)


def normalize_map(attr_map: Any, percentile: float = 99.5) -> np.ndarray:
    """``(H, W)`` or ``(1, H, W)`` map -> ``(H, W)`` in [0, 1]: ``|map|`` over a percentile.

    The scale is the ``percentile`` of ``|map|`` (so a few extreme pixels do not wash the rest
    out), or its maximum when that percentile is 0 (maps with very few non-zero pixels).
    """
    arr = np.abs(_np(attr_map)).squeeze()
    if arr.ndim != 2:
        raise ValueError(f"`attr_map` must be (H, W) or (1, H, W), got {arr.shape}")
    top = np.percentile(arr, percentile)
    if top <= 0:
        top = arr.max()
    return np.clip(arr / top, 0, 1) if top > 0 else np.zeros_like(arr)


def overlay(image: Any, attr_map: Any, alpha: float = 0.8, cmap: str = "inferno") -> np.ndarray:
    """Blend a normalised map over an image: ``(H, W, 3)`` float in [0, 1].

    The map's opacity grows with the square root of its normalised value, so sparse maps (a few
    strong pixels) stay visible while zero pixels leave the image as it is.

    Args:
        image (Tensor or array): ``(C, H, W)`` tensor or ``(H, W, C)`` / ``(H, W)`` array (see
            :func:`to_display_image`), or a batch: an ``(N, C, H, W)`` tensor or array.
        attr_map (Tensor or array): ``(H, W)`` or ``(1, H, W)``; for a batch of images, a batch
            of maps ``(N, 1, H, W)`` or ``(N, H, W)`` (``result.augmented`` as it is).
        alpha (float, optional): the largest opacity of the map. Default: 0.8.
        cmap (str, optional): matplotlib colormap of the map. Default: ``"inferno"``.

    Returns:
        np.ndarray: ``(H, W, 3)`` float in [0, 1], or ``(N, H, W, 3)`` for a batch.
    """
    if np.ndim(image) == 4:
        if len(attr_map) != len(image):
            raise ValueError(
                f"`attr_map` has {len(attr_map)} maps for a batch of {len(image)} images"
            )
        return np.stack([overlay(i, m, alpha, cmap) for i, m in zip(image, attr_map, strict=True)])
    base = to_display_image(image)
    norm = normalize_map(attr_map)
    heat = plt.get_cmap(cmap)(norm)[..., :3]
    weight = alpha * np.sqrt(norm)[..., None]
    return (1 - weight) * base + weight * heat


#: Colour of the inpainted masks in :func:`plot_iterations`: saturated magenta, far from the
#: greys the image is drawn in there (and from the reds and greens of fundus photographs).
MASK_COLOUR = (1.0, 0.0, 0.85)


def mask_overlay(image: Any, mask: Any, opacity: float = 0.85) -> np.ndarray:
    """A bool mask over an image, easy to see at any size: ``(H, W, 3)`` float in [0, 1].

    The image is drawn in dimmed grey and the masked pixels in :data:`MASK_COLOUR`, so that the
    mask stands out on colour images whatever their hues.

    Args:
        image (Tensor or array): one image (see :func:`to_display_image`).
        mask (Tensor or array): ``(H, W)`` or ``(1, H, W)``, non-zero where masked.
        opacity (float, optional): of the mask colour over the grey image. Default: 0.85.

    Returns:
        np.ndarray: ``(H, W, 3)`` float in [0, 1].
    """
    grey = 0.15 + 0.6 * to_display_image(image).mean(axis=-1, keepdims=True).repeat(3, axis=-1)
    inside = _np(mask).squeeze() > 0
    if inside.shape != grey.shape[:2]:
        raise ValueError(f"`mask` has shape {inside.shape} for an image of {grey.shape[:2]}")
    grey[inside] = (1 - opacity) * grey[inside] + opacity * np.asarray(MASK_COLOUR)
    return grey


def _one_image(images: Any, index: int, n: int) -> Any:
    """Image ``index`` of the batch ``images`` (of ``n``), or ``images`` when it is one image."""
    if np.ndim(images) != 4:
        return images
    if len(images) != n:
        raise ValueError(
            f"`images` holds {len(images)} images for a result of {n}: pass the batch the result "
            "was computed from, or the one image `index`"
        )
    return images[index]


def plot_iterations(
    result: AugmentationResult,
    images: Any,
    index: int = 0,
    *,
    title: str | None = None,
    max_columns: int = 6,
    cmap: str = "inferno",
) -> Figure:
    r"""The loop on one image, step by step (needs ``keep_history=True``).

    Top row: the input with its score, each map :math:`M^t` with its weight
    :math:`e^{-\alpha t}` (two significant digits), and the augmented map over the image. Bottom
    row: the image after the last step, each inpainted mask :math:`B^t` (magenta over the grey
    image, with the share of pixels it covers and the score after inpainting it), and the initial
    map :math:`M^1` over the image. Colour bars give the scale of the maps (each normalised by its
    99.5th percentile of ``|M^t|``, see :func:`normalize_map`) and of the overlays.

    Args:
        result (AugmentationResult): the output of ``explain(...)`` with ``keep_history=True``.
        images (Tensor or array): the batch the result was computed from, ``(N, C, H, W)``
            (image ``index`` is drawn), or the one image to draw, ``(C, H, W)`` tensor or
            ``(H, W, C)`` / ``(H, W)`` array.
        index (int, optional): which image of the result. Default: 0.
        title (str, optional): what the figure shows, e.g. the method's name; the figure's title
            adds the image index, its number of maps, stop reason and the threshold.
            Default: None.
        max_columns (int, optional): at most this many steps are drawn (the first ones and the
            last). Default: 6.
        cmap (str, optional): matplotlib colormap of the maps. Default: ``"inferno"``.

    Returns:
        matplotlib.figure.Figure

    Raises:
        ValueError: ``result`` has no history, or ``images`` is a batch of another size.
        IndexError: ``index`` outside the result.
    """
    if result.maps is None or result.masks is None:
        raise ValueError("`result` has no history: run explain(...) with keep_history=True")
    n = len(result)
    if not -n <= index < n:
        raise IndexError(f"`index` {index} out of range for a result of {n} images")
    index %= n
    image = _one_image(images, index, n)
    maps, masks = result.maps[index], result.masks[index]
    scores = result.scores[index]
    total = int(maps.shape[0])
    # The first steps, and the last one when they do not all fit.
    shown_steps = (
        list(range(total)) if total <= max_columns else [*range(max_columns - 1), total - 1]
    )
    cols = len(shown_steps) + 2
    fig, axes = plt.subplots(
        2, cols, figsize=(2.3 * cols + 1.2, 5.2), squeeze=False, layout="constrained"
    )
    shown = to_display_image(image)
    axes[0, 0].imshow(shown)
    axes[0, 0].set_title(f"input\nscore {float(scores[0]):.4g}", fontsize=9)
    # On the input's scale, so that what inpainting removed is not stretched into view.
    raw, inpainted = _np(image), result.inpainted[index]
    same_image = raw.size == inpainted.numel()
    scale = (float(raw.min()), float(raw.max())) if same_image else None
    axes[1, 0].imshow(to_display_image(inpainted, scale))
    axes[1, 0].set_title(f"after {total} step{'' if total == 1 else 's'}", fontsize=9)
    heat = None
    for column, t in enumerate(shown_steps, start=1):
        weight = math.exp(-result.alpha * (t + 1))
        heat = axes[0, column].imshow(normalize_map(maps[t]), cmap=cmap, vmin=0.0, vmax=1.0)
        axes[0, column].set_title(f"$M^{{{t + 1}}}$  w={weight:.2g}", fontsize=9)
        mask = _np(masks[t]).squeeze() > 0
        axes[1, column].imshow(mask_overlay(shown, mask))
        score = float(scores[t + 1]) if len(scores) > t + 1 else math.nan
        axes[1, column].set_title(
            f"$B^{{{t + 1}}}$ ({100 * mask.mean():.2g}% px)\n-> score {score:.4g}", fontsize=9
        )
    axes[0, -1].imshow(overlay(image, result.augmented[index], cmap=cmap))
    axes[0, -1].set_title("augmented", fontsize=9)
    axes[1, -1].imshow(overlay(image, result.initial[index], cmap=cmap))
    axes[1, -1].set_title("initial ($M^1$)", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if heat is not None:
        fig.colorbar(heat, ax=axes[0, 1:-1], shrink=0.8, label="$|M^t|$ / 99.5th pct")
    overlay_scale = ScalarMappable(norm=Normalize(0.0, 1.0), cmap=cmap)
    fig.colorbar(overlay_scale, ax=axes[:, -1], shrink=0.6, label="map / 99.5th pct (overlay)")
    about = (
        f"image {index}: {total} map{'' if total == 1 else 's'}, stop reason "
        f"{result.stop_reason[index]}, threshold {result.threshold:.4g}"
    )
    fig.suptitle(about if title is None else f"{title} — {about}", fontsize=10)
    return fig


def plot_method_grid(
    images: Sequence[Any],
    maps: Mapping[str, tuple[Sequence[Any], Sequence[Any]]],
    titles: Sequence[str] | None = None,
    outlines: Sequence[Any] | None = None,
) -> Figure:
    """Overlay grid like the paper's Fig. 2: per row an image, then initial | augmented per method.

    Args:
        images: ``R`` images ``(C, H, W)`` or ``(H, W, 3)``.
        maps: method name -> (initial maps, augmented maps), each ``R`` maps ``(1, H, W)``.
        titles: optional row labels.
        outlines: optional ``R`` bool ``(H, W)`` reference masks drawn as contours on the image.

    Returns:
        matplotlib.figure.Figure
    """
    rows = len(images)
    cols = 1 + 2 * len(maps)
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols, 1.95 * rows + 0.4), squeeze=False)
    for r, image in enumerate(images):
        axes[r, 0].imshow(to_display_image(image))
        if outlines is not None:
            axes[r, 0].contour(
                _np(outlines[r]).squeeze() > 0, levels=[0.5], colors="cyan", linewidths=0.6
            )
        if titles is not None:
            axes[r, 0].set_ylabel(titles[r], fontsize=8)
        for m, (name, (initial, augmented)) in enumerate(maps.items()):
            axes[r, 1 + 2 * m].imshow(overlay(image, initial[r]))
            axes[r, 2 + 2 * m].imshow(overlay(image, augmented[r]))
            if r == 0:
                axes[r, 1 + 2 * m].set_title(f"{name}\ninitial", fontsize=8)
                axes[r, 2 + 2 * m].set_title(f"{name}\naugmented", fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_title("image", fontsize=8)
    fig.tight_layout()
    return fig

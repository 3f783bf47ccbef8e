r"""Figures: map overlays, the loop step by step, and method grids (matplotlib).

All functions take torch tensors or numpy arrays, never modify them, and return the matplotlib
``Figure`` so callers decide where it goes (``fig.savefig(path)``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from captum_iterative._checks import to_numpy
from captum_iterative.result import AugmentationResult

__all__ = ["normalize_map", "overlay", "plot_iterations", "plot_method_grid", "to_display_image"]


def _np(x: Any) -> np.ndarray:
    return to_numpy(x, dtype=np.float64)


def to_display_image(image: Any) -> np.ndarray:
    """An image for display: ``(H, W, 3)`` float in [0, 1], min-max scaled.

    Tensors are read as ``(C, H, W)``; arrays as ``(H, W, C)`` when their last axis has 1, 3 or 4
    entries, else as ``(C, H, W)``; ``(H, W)`` is grey. One channel is repeated to three.
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
    lo, hi = arr.min(), arr.max()
    return (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)


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


def plot_iterations(
    result: AugmentationResult, image: Any, index: int = 0, max_columns: int = 6
) -> Figure:
    r"""The loop for one image, step by step (needs ``keep_history=True``).

    Rows: the map :math:`M^t`, its Otsu mask :math:`B^t` over the image, and the score; the last
    column shows the augmented map.

    Args:
        result (AugmentationResult): output of ``explain(..., )`` with ``keep_history=True``.
        image (Tensor or array): the original ``(C, H, W)`` image ``index`` of the batch.
        index (int, optional): which image of the batch. Default: 0.
        max_columns (int, optional): at most this many steps are drawn (the first ones and the
            last). Default: 6.

    Returns:
        matplotlib.figure.Figure
    """
    if result.maps is None or result.masks is None:
        raise ValueError("`result` has no history: run explain(...) with keep_history=True")
    maps, masks = result.maps[index], result.masks[index]
    total = int(maps.shape[0])
    # The first steps, and the last one when they do not all fit.
    shown_steps = (
        list(range(total))
        if total <= max_columns
        else [
            *range(max_columns - 1),
            total - 1,
        ]
    )
    cols = len(shown_steps) + 2
    fig, axes = plt.subplots(2, cols, figsize=(2.2 * cols, 4.6), squeeze=False)
    shown = to_display_image(image)
    axes[0, 0].imshow(shown)
    axes[0, 0].set_title(f"input\nscore {float(result.scores[index][0]):.3f}", fontsize=9)
    axes[1, 0].imshow(to_display_image(result.inpainted[index]))
    axes[1, 0].set_title(f"after {int(result.iterations[index])} steps", fontsize=9)
    for column, t in enumerate(shown_steps, start=1):
        weight = np.exp(-result.alpha * (t + 1))
        axes[0, column].imshow(normalize_map(maps[t]), cmap="inferno")
        axes[0, column].set_title(f"$M^{{{t + 1}}}$ (w={weight:.2f})", fontsize=9)
        outline = shown.copy()
        outline[_np(masks[t]).squeeze() > 0] = (0.0, 1.0, 0.3)
        axes[1, column].imshow(outline)
        score = (
            float(result.scores[index][t + 1])
            if len(result.scores[index]) > t + 1
            else float("nan")
        )
        axes[1, column].set_title(f"$B^{{{t + 1}}}$ -> score {score:.3f}", fontsize=9)
    axes[0, -1].imshow(overlay(image, result.augmented[index]))
    axes[0, -1].set_title("augmented", fontsize=9)
    axes[1, -1].imshow(overlay(image, result.initial[index]))
    axes[1, -1].set_title("initial ($M^1$)", fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(f"stop reason: {result.stop_reason[index]}", fontsize=10)
    fig.tight_layout()
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

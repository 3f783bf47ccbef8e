r"""Figures: map overlays, the loop step by step, and what the loop added (matplotlib).

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
    "LESION_COLOURS",
    "MASK_COLOUR",
    "mask_overlay",
    "normalize_map",
    "overlay",
    "plot_augmented_evidence",
    "plot_iterations",
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
            adds the image's number of maps, stop reason and the threshold (and its index, for a
            result of several images).
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
        f"{total} map{'' if total == 1 else 's'}, stop reason {result.stop_reason[index]}, "
        f"threshold {result.threshold:.4g}"
    )
    if n > 1:  # which image of the batch
        about = f"image {index}: {about}"
    fig.suptitle(about if title is None else f"{title} — {about}", fontsize=10)
    return fig


#: Outline colour per lesion type, chosen to stand out on an orange-red retina and on the
#: ``inferno`` maps alike (figures of the package and of ``docs/scripts``).
LESION_COLOURS: dict[str, str] = {
    "microaneurysms": "#39ff14",
    "hemorrhages": "#00e5ff",
    "hard_exudates": "#1f4bff",
    "soft_exudates": "#ff2bd6",
    "neovascularization": "#ffd400",
    "drusen": "#00e5ff",
    "pigment": "#39ff14",
    "atrophy": "#1f4bff",
    "neovascular": "#ff2bd6",
}


def _display_range(*maps: np.ndarray) -> tuple[float, float, str]:
    """``(vmin, vmax, cmap)`` for showing ``maps`` on one colour scale: 0 to the 99.5th
    percentile of the first map's magnitude (``inferno``), symmetric about 0 (``RdBu_r``) when a
    map holds negative values beyond float rounding (a thousandth of that scale: the later maps'
    share of an unsigned map, augmented minus its first term, is never negative otherwise)."""
    top = float(np.percentile(np.abs(maps[0]), 99.5)) or float(np.abs(maps[0]).max()) or 1.0
    if any(float(m.min()) < -1e-3 * top for m in maps):
        return -top, top, "RdBu_r"
    return 0.0, top, "inferno"


def _outline(ax: Any, masks: Mapping[str, Any] | None) -> None:
    for name, mask in (masks or {}).items():
        shown = _np(mask).squeeze() > 0
        if shown.any():
            ax.contour(shown, levels=[0.5], colors=LESION_COLOURS.get(name, "cyan"), linewidths=0.7)


def plot_augmented_evidence(
    images: Sequence[Any],
    initial: Sequence[Any],
    augmented: Sequence[Any],
    *,
    alpha: float,
    method: str,
    titles: Sequence[str] | None = None,
    outlines: Sequence[Mapping[str, Any]] | None = None,
    iterations: Sequence[int] | None = None,
) -> Figure:
    r"""What the loop added, one row per image (like the paper's Fig. 2, one method per figure).

    Columns: the image with the reference lesions outlined (one colour per type); the initial
    map :math:`M^1`; the augmented map :math:`\sum_t e^{-\alpha t} M^t`; and the new evidence,
    the later maps' share :math:`\sum_{t \ge 2} e^{-\alpha t} M^t` (augmented minus
    :math:`e^{-\alpha} M^1`), on the augmented map's colour scale so that its weight in the sum
    shows. Every map panel has a colourbar (0 to the 99.5th percentile of the map's magnitude;
    symmetric blue-red for signed maps) and the same outlines.

    Args:
        images (Sequence): ``R`` images ``(C, H, W)`` or ``(H, W, 3)``.
        initial (Sequence): ``R`` first maps ``(1, H, W)`` or ``(H, W)``.
        augmented (Sequence): ``R`` augmented maps, same shapes.
        alpha (float): the decay the augmented maps were summed with.
        method (str): the attribution method's name, in the figure's title.
        titles (Sequence[str], optional): ``R`` image names. Default: ``"image k"``.
        outlines (Sequence[Mapping], optional): per image, lesion type -> ``(H, W)`` mask or
            label image. Default: None.
        iterations (Sequence[int], optional): per image, the maps the loop summed, shown with
            the name. Default: None.

    Returns:
        matplotlib.figure.Figure: ``R`` rows of 4 panels, about 1300 x 320 R pixels at 100 dpi.
    """
    rows = len(images)
    if not rows or len(initial) != rows or len(augmented) != rows:
        raise ValueError(
            f"`images`, `initial` and `augmented` must hold the same number (> 0) of entries, got "
            f"{rows}, {len(initial)} and {len(augmented)}"
        )
    fig, axes = plt.subplots(rows, 4, figsize=(13.0, 3.1 * rows + 0.8), squeeze=False)
    first_weight = float(np.exp(-alpha))
    for r in range(rows):
        m1 = _np(initial[r]).squeeze()
        aug = _np(augmented[r]).squeeze()
        later = aug - first_weight * m1
        name = titles[r] if titles is not None else f"image {r}"
        if iterations is not None:
            name += f" ({iterations[r]} map{'s' if iterations[r] != 1 else ''})"
        axes[r, 0].imshow(to_display_image(images[r]))
        axes[r, 0].set_title(name, fontsize=9)
        panels = (
            (m1, (m1,), "initial $M^1$"),
            (aug, (aug, later), r"augmented $\Sigma_{t \geq 1}\, e^{-\alpha t} M^t$"),
            (later, (aug, later), r"new evidence $\Sigma_{t \geq 2}\, e^{-\alpha t} M^t$"),
        )
        for c, (shown, scale_of, label) in enumerate(panels, start=1):
            vmin, vmax, cmap = _display_range(*scale_of)
            image = axes[r, c].imshow(shown, cmap=cmap, vmin=vmin, vmax=vmax)
            fig.colorbar(image, ax=axes[r, c], fraction=0.046, pad=0.03).ax.tick_params(labelsize=7)
            axes[r, c].set_title(label, fontsize=9)
        for c in range(4):
            _outline(axes[r, c], outlines[r] if outlines is not None else None)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
    types = [t for t in LESION_COLOURS if outlines and any(t in o for o in outlines)]
    if types:
        handles = [
            plt.Line2D([], [], color=LESION_COLOURS[t], label=t.replace("_", " ")) for t in types
        ]
        fig.legend(handles=handles, loc="lower center", ncol=len(types), fontsize=8, frameon=False)
    fig.suptitle(
        f"{method}: initial and augmented maps (alpha = {alpha:g}); the new evidence is the "
        "later maps' share",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0.04 if types else 0, 1, 1))
    return fig

"""Images in the classifier's frame, with what the evaluation needs (:class:`PreparedImage`).

:func:`prepare_images` preprocesses every sample like the classifier's training images
(field-of-view crop, resize to the input size, Graham enhancement); lesions are labelled
(8-connected) at the annotation's native resolution and carried into that frame with
:func:`~captum_iterative.evaluation.resize_lesion_labels`, so no lesion vanishes and touching
lesions are not merged (any lesion lost anyway is counted). :func:`predict_scores` scores them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from skimage.measure import label
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from captum_iterative.evaluation.lesion_labels import resize_lesion_labels
from captum_iterative.fundus.preprocess import crop, preprocess_fundus, to_tensor
from captum_iterative.fundus.types import FundusSample

__all__ = ["PreparedImage", "predict_scores", "prepare_images"]


@dataclass
class PreparedImage:
    """One image in the classifier's frame, with what the evaluation needs.

    Attributes:
        id: image identifier.
        image: ``(3, S, S)`` float32 model input in [0, 1].
        fov: ``(S, S)`` bool field of view.
        masks: lesion type -> ``(S, S)`` int32 lesion label image (0 = background), lesions
            labelled at native resolution (see :func:`resize_lesion_labels`).
        native_lesions: lesion type -> number of 8-connected lesions at native resolution.
        lost_lesions: lesion type -> lesions that lost every pixel in the working frame.
        grade: the dataset's grade, if any.
    """

    id: str
    image: torch.Tensor
    fov: np.ndarray
    masks: dict[str, np.ndarray]
    native_lesions: dict[str, int]
    lost_lesions: dict[str, int]
    grade: int | None


def prepare_images(
    dataset: Dataset[FundusSample] | Sequence[FundusSample],
    size: int,
    *,
    enhance: bool = True,
    max_images: int | None = None,
    progress: bool = True,
) -> list[PreparedImage]:
    """Preprocess every sample into the classifier's frame (see the module docstring).

    Args:
        dataset: samples at native resolution (no transform), e.g. ``DiaretDB1(root)``.
        size (int): the classifier's input side ``S``.
        enhance (bool, optional): Graham enhancement, as in training. Default: True.
        max_images (int, optional): only the first images. Default: None.
        progress (bool, optional): show a progress bar. Default: True.

    Returns:
        list[PreparedImage]
    """
    n = len(dataset)  # type: ignore[arg-type]
    if max_images is not None:
        n = min(n, max_images)
    prepared = []
    for i in tqdm(range(n), desc="preprocessing", disable=not progress):
        sample = dataset[i]
        if not isinstance(sample, FundusSample):
            raise TypeError(f"dataset item {i} is {type(sample).__name__}, expected FundusSample")
        out = preprocess_fundus(sample.image, size, fov=sample.fov, enhance=enhance)
        labels, native, lost = {}, {}, {}
        for name, mask in sample.masks.items():
            native_labels = label(mask, connectivity=2).astype(np.int32)
            native[name] = int(native_labels.max())
            labels[name], lost[name] = resize_lesion_labels(crop(native_labels, out.bbox), size)
        prepared.append(
            PreparedImage(
                id=sample.id,
                image=to_tensor(out.image),
                fov=out.fov,
                masks=labels,
                native_lesions=native,
                lost_lesions=lost,
                grade=sample.grade,
            )
        )
    return prepared


def predict_scores(
    model: nn.Module, images: Sequence[PreparedImage], batch_size: int, device: str
) -> np.ndarray:
    """``(N,)`` float64 first-output scores of ``model`` (no grad, model mode unchanged)."""
    scores = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = torch.stack([p.image for p in images[start : start + batch_size]]).to(device)
            scores.append(model(x)[:, 0].double().cpu())
    return torch.cat(scores).numpy() if scores else np.zeros(0)

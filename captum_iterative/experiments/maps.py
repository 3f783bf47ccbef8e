"""The maps of a method over a dataset: one loop per method, one batch at a time.

:func:`config_explainer` builds the :class:`~captum_iterative.IterativeAugmentation` of a Table I
method with a run's settings; :func:`explain_batch` explains one batch and returns the
:class:`~captum_iterative.experiments.cache.Explanation` of every image, with its keys. The
experiment runner and ``captum-iterative explain`` both call it, so they write the same files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from captum_iterative.augmentation import IterativeAugmentation
from captum_iterative.experiments.cache import Explanation, input_key
from captum_iterative.experiments.config import ExperimentConfig
from captum_iterative.experiments.methods import build_explainer
from captum_iterative.inpaint import Inpainter, get_inpainter

__all__ = ["config_explainer", "explain_batch", "make_inpainter"]


def config_explainer(
    config: ExperimentConfig,
    name: str,
    model: nn.Module,
    threshold: float,
    **loop_kwargs: Any,
) -> tuple[IterativeAugmentation, dict[str, Any]]:
    """:func:`build_explainer` for method ``name`` with the loop settings of ``config``.

    The inpainter, ``max_iter`` and ``alpha`` come from ``config``, and the inner keywords
    include ``config.method_kwargs[name]``.

    Args:
        config (ExperimentConfig): the settings.
        name (str): a name of :func:`~captum_iterative.experiments.methods.list_methods`.
        model (nn.Module): the classifier.
        threshold (float): ``th_pred``.
        **loop_kwargs: further :class:`IterativeAugmentation` keywords (e.g. ``keep_history``).

    Returns:
        tuple: ``(explainer, inner_kwargs)``; call ``explainer.explain(x, **inner_kwargs)``.
    """
    explainer, kwargs = build_explainer(
        name,
        model,
        threshold,
        inpainter=make_inpainter(config),
        max_iter=config.max_iter,
        alpha=config.alpha,
        normalize_maps=config.normalize_maps,
        **loop_kwargs,
    )
    kwargs.update(config.method_kwargs.get(name, {}))
    return explainer, kwargs


def make_inpainter(config: ExperimentConfig) -> Inpainter:
    """The inpainter named by ``config.inpainter`` for images in [0, 1] (:func:`get_inpainter`)."""
    return get_inpainter(config.inpainter, radius=config.inpaint_radius, value_range=(0.0, 1.0))


def explain_batch(
    explainer: IterativeAugmentation,
    *,
    inner_kwargs: Mapping[str, Any],
    method: str,
    ids: Sequence[str],
    images: Sequence[Tensor],
    fovs: Sequence[np.ndarray] | None,
    device: torch.device | str,
    meta: Sequence[Mapping[str, Any]],
) -> list[Explanation]:
    """Explain one batch with ``explainer`` and return one :class:`Explanation` per image.

    Args:
        explainer (IterativeAugmentation): e.g. from :func:`config_explainer`.
        inner_kwargs (mapping): its inner keywords (``n_steps``, ...).
        method (str): the method's name, recorded in each explanation.
        ids (sequence of str): the images' identifiers.
        images (sequence of Tensor): ``(3, S, S)`` model inputs in [0, 1].
        fovs (sequence of np.ndarray, optional): ``(S, S)`` bool fields of view, passed to the
            loop as ``valid``; None runs the loop without one.
        device (torch.device or str): where the loop runs.
        meta (sequence of mapping): per image, what its ``meta`` records besides its
            ``input_key`` (:func:`~captum_iterative.experiments.cache.input_key`), e.g. the
            run's :func:`~captum_iterative.experiments.cache.map_keys`.

    Returns:
        list[Explanation]: in the order of ``ids``.
    """
    batch = torch.stack(list(images)).to(device)
    fov = None
    if fovs is not None:
        fov = torch.from_numpy(np.stack(fovs))[:, None].to(device)
    result = explainer.explain(batch, valid=fov, **inner_kwargs)
    return [
        Explanation.from_result(
            result,
            i,
            image_id,
            method,
            input_key=input_key(image, None if fovs is None else fovs[i]),
            **meta[i],
        )
        for i, (image_id, image) in enumerate(zip(ids, images, strict=True))
    ]

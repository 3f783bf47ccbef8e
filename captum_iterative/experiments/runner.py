r"""The retinal localization experiment: the paper's protocol, end to end.

:func:`run_localization` takes a dataset with lesion masks, a classifier with its ``th_pred`` and
a list of attribution methods, and

1. preprocesses every image like the classifier's training images, lesions labelled at native
   resolution (:mod:`~captum_iterative.experiments.prepare`);
2. predicts, and keeps the images predicted referable (score ``>= th_pred``);
3. computes the initial and augmented maps of every method with :class:`IterativeAugmentation`
   (field of view as ``valid``; :mod:`~captum_iterative.experiments.maps`), caching one
   ``.npz`` per (method, image) so re-scoring is cheap
   (:mod:`~captum_iterative.experiments.cache`);
4. scores FROC per lesion type (radius 7 px at 512 px for DR, 10 px for AMD, scaled to the
   working size) and reports SE at 10 false positives per image, initial vs augmented
   (:mod:`~captum_iterative.experiments.tables`);
5. writes the report (:mod:`~captum_iterative.experiments.report`).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from captum_iterative._env import machine_info, software_versions
from captum_iterative._warnings import each_warning_once
from captum_iterative.evaluation.froc import scale_radius
from captum_iterative.experiments.cache import (
    explanation_path,
    input_key,
    is_fresh,
    map_keys,
    save_explanation,
)
from captum_iterative.experiments.config import ExperimentConfig
from captum_iterative.experiments.maps import config_explainer, explain_batch
from captum_iterative.experiments.prepare import PreparedImage, predict_scores, prepare_images
from captum_iterative.experiments.report import LocalizationReport, write_report
from captum_iterative.experiments.tables import score_explanations
from captum_iterative.fundus.types import FundusSample

__all__ = ["explain_images", "run_localization"]


def explain_images(
    model: nn.Module,
    threshold: float,
    images: Sequence[PreparedImage],
    cache_dir: str | os.PathLike[str],
    config: ExperimentConfig,
    *,
    progress: bool = True,
) -> dict[str, float]:
    """Compute (or reuse) the cached explanations of ``images`` for every method.

    A cached file is reused when its settings key matches ``config.cache_key()``, its
    ``model_key`` (:func:`model_key`: the settings, the model's weights and buffers and
    ``threshold``) and its ``input_key`` (:func:`input_key`: the image's input tensor and field
    of view). Maps of another classifier, threshold or preprocessing written to the same folder
    (by this function or by ``captum-iterative explain``, which records the same keys) are
    therefore recomputed, as are files that lack the keys.

    Each distinct warning (e.g. Captum's "Setting backward hooks on ReLU activations", raised on
    every call of guided backpropagation) is shown once per call of this function.

    Returns:
        dict: method -> wall-clock seconds spent computing (0 when everything was cached).
    """
    device = torch.device(config.device)
    keys = map_keys(config, model, threshold)
    fresh_keys = {"cache_key": keys["cache_key"], "model_key": keys["model_key"]}
    timings: dict[str, float] = {}
    with each_warning_once():
        for name in config.methods:
            todo = [
                prepared
                for prepared in images
                if not is_fresh(
                    explanation_path(cache_dir, name, prepared.id),
                    {
                        **fresh_keys,
                        "input_key": input_key(
                            prepared.image, prepared.fov if config.use_fov else None
                        ),
                    },
                )
            ]
            start = time.perf_counter()
            explainer, kwargs = config_explainer(config, name, model, threshold)
            bar = tqdm(total=len(todo), desc=f"explaining: {name}", disable=not progress)
            for first in range(0, len(todo), config.batch_size):
                chunk = todo[first : first + config.batch_size]
                explained = explain_batch(
                    explainer,
                    inner_kwargs=kwargs,
                    method=name,
                    ids=[p.id for p in chunk],
                    images=[p.image for p in chunk],
                    fovs=[p.fov for p in chunk] if config.use_fov else None,
                    device=device,
                    meta=[keys] * len(chunk),
                )
                for prepared, explanation in zip(chunk, explained, strict=True):
                    save_explanation(explanation_path(cache_dir, name, prepared.id), explanation)
                bar.update(len(chunk))
            bar.close()
            timings[name] = time.perf_counter() - start
    return timings


def run_localization(
    dataset: Dataset[FundusSample] | Sequence[FundusSample],
    model: nn.Module,
    threshold: float,
    out: str | os.PathLike[str],
    config: ExperimentConfig | None = None,
    *,
    size: int,
    enhance: bool = True,
    classifier: Mapping[str, Any] | None = None,
    dataset_name: str = "dataset",
    progress: bool = True,
) -> LocalizationReport:
    """Run the whole localization experiment and write its report under ``out``.

    Args:
        dataset: samples at native resolution with lesion masks (no transform).
        model (nn.Module): the classifier (input ``(N, 3, S, S)`` in [0, 1]), in eval mode.
        threshold (float): its ``th_pred``.
        out (path): output folder (``cache/`` holds the per-image maps).
        config (ExperimentConfig, optional): settings. Default: ``ExperimentConfig()``.
        size (int): the classifier's input size ``S``.
        enhance (bool, optional): Graham enhancement as in training. Default: True.
        classifier (mapping, optional): what to record about the classifier (arch, metrics...).
        dataset_name (str, optional): recorded in the settings and titles.
        progress (bool, optional): progress bars. Default: True.

    Returns:
        LocalizationReport
    """
    config = config or ExperimentConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    device = torch.device(config.device)
    model = model.to(device)
    images = prepare_images(
        dataset, size, enhance=enhance, max_images=config.max_images, progress=progress
    )
    scores = predict_scores(model, images, config.batch_size, config.device)
    chosen = [
        p
        for p, s in zip(images, scores, strict=True)
        if s >= threshold or not config.referable_only
    ]
    if not chosen:
        raise ValueError(
            f"no image of {len(images)} is predicted referable (th_pred = {threshold:.4f}); "
            "nothing to explain"
        )
    timings = explain_images(model, threshold, chosen, out / "cache", config, progress=progress)
    table, curves, per_image, iterations = score_explanations(chosen, out / "cache", config, size)
    # Counter.update keeps zero counts and the order in which lesion types first appear
    native, lost = Counter[str](), Counter[str]()
    for p in chosen:
        native.update(p.native_lesions)
        lost.update(p.lost_lesions)
    settings = {
        "dataset": dataset_name,
        "images": len(images),
        "referable": len(chosen),
        "input_size": size,
        "froc_radius_px": scale_radius(config.radius_at_512, size=size),
        "config": asdict(config),
        "classifier": dict(classifier or {}),
        "th_pred": float(threshold),
        "lesions_native": dict(native),
        "lesions_lost_in_working_frame": dict(lost),
        "explain_seconds": timings,
        "total_seconds": time.perf_counter() - started,
        "mean_iterations": iterations,
        "versions": software_versions(),
        "machine": machine_info(device),
    }
    report = LocalizationReport(
        table=table,
        curves=curves,
        scores={p.id: float(s) for p, s in zip(images, scores, strict=True)},
        referable=[p.id for p in chosen],
        per_image=per_image,
        iterations=iterations,
        settings=settings,
    )
    write_report(report, chosen, out, config)
    return report

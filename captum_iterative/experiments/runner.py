r"""The retinal localization experiment: the paper's protocol (Section 4 of ``method.md``).

:func:`run_localization` takes a dataset with lesion masks, a classifier with its ``th_pred`` and
a list of attribution methods, and

1. preprocesses every image like the classifier's training images (field-of-view crop, resize
   to the classifier's input size, Graham enhancement); lesions are labelled (8-connected) at the
   annotation's native resolution and carried into that frame with
   :func:`~captum_iterative.evaluation.froc.resize_lesion_labels`, so no lesion vanishes and
   touching lesions are not merged (any lesion lost anyway is counted and reported);
2. predicts, and keeps the images predicted referable (score ``>= th_pred``);
3. computes the initial and augmented maps of every method with :class:`IterativeAugmentation`
   (field of view as ``valid``), caching one ``.npz`` per (method, image) so re-scoring is cheap;
4. scores FROC per lesion type (radius 7 px at 512 px for DR, 10 px for AMD, scaled to the
   working size) and reports SE at 10 false positives per image, initial vs augmented;
5. writes the tables in the layout of the paper's Tables II-V (markdown and CSV), FROC curves per
   lesion type (like Fig. 3), an overlay grid (like Fig. 2), per-image detections, and the exact
   settings and software versions.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from skimage.measure import label
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from captum_iterative._env import machine_info, software_versions
from captum_iterative._files import atomic_path
from captum_iterative.augmentation import IterativeAugmentation
from captum_iterative.evaluation.froc import FrocResult, froc, resize_lesion_labels, scale_radius
from captum_iterative.experiments.cache import (
    Explanation,
    explanation_path,
    load_explanation,
    load_meta,
    save_explanation,
)
from captum_iterative.experiments.methods import METHODS, TABLE_I, build_explainer
from captum_iterative.fundus.preprocess import crop, preprocess_fundus, to_tensor
from captum_iterative.fundus.types import FundusSample
from captum_iterative.inpaint import (
    Inpainter,
    NavierStokesInpainter,
    PyramidInpainter,
    TeleaInpainter,
)

__all__ = [
    "INPAINTERS",
    "ExperimentConfig",
    "LocalizationReport",
    "PreparedImage",
    "config_explainer",
    "explain_images",
    "input_key",
    "make_inpainter",
    "model_key",
    "prepare_images",
    "run_localization",
    "score_explanations",
    "write_report",
]

KINDS: tuple[str, ...] = ("initial", "augmented")
#: Inpainter names of :attr:`ExperimentConfig.inpainter` (see :func:`make_inpainter`).
INPAINTERS: tuple[str, ...] = ("ns", "telea", "pyramid")


@dataclass
class ExperimentConfig:
    """Settings of a localization run (all recorded next to the results).

    Attributes:
        methods: attribution methods (keys of :data:`~captum_iterative.experiments.METHODS`).
            Default: the five of Table I.
        max_iter: most maps per image (``T``). Default: 20.
        alpha: decay of the map weights. Default: 0.6.
        inpainter: ``"ns"`` (Navier-Stokes, the paper's), ``"telea"`` or ``"pyramid"``.
        inpaint_radius: radius of the OpenCV inpainters. Default: 3.
        radius_at_512: FROC detection radius at 512 px (7 for DR, 10 for AMD); scaled to the
            working size. Default: 7.
        fps: false positives per image of the reported sensitivity. Default: 10.
        batch_size: images per loop call. Default: 4.
        device: where the classifier runs. Default: ``"cpu"``.
        use_fov: restrict binarization, inpainting and detections to the field of view.
            Default: True.
        referable_only: explain only images predicted referable (the paper's protocol).
            Default: True.
        ignore_other_lesions: a detection that hits only another type's lesion is neither a
            true nor a false positive (default False: it is a false positive, as in the paper).
        lesion_types: lesion types to score. Default: None, every type the dataset annotates.
        max_images: use only the first images of the dataset. Default: None (all).
        method_kwargs: per-method overrides of the inner keywords, e.g.
            ``{"integrated_gradients": {"n_steps": 16}}``.
    """

    methods: tuple[str, ...] = TABLE_I
    max_iter: int = 20
    alpha: float = 0.6
    inpainter: str = "ns"
    inpaint_radius: float = 3.0
    radius_at_512: float = 7.0
    fps: float = 10.0
    batch_size: int = 4
    device: str = "cpu"
    use_fov: bool = True
    referable_only: bool = True
    ignore_other_lesions: bool = False
    lesion_types: tuple[str, ...] | None = None
    max_images: int | None = None
    method_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.methods = tuple(self.methods)
        for name in self.methods:
            if name not in METHODS:
                raise ValueError(
                    f"unknown method '{name}' in `methods`; choose from {sorted(METHODS)}"
                )
        if self.inpainter not in INPAINTERS:
            raise ValueError(f"`inpainter` must be one of {INPAINTERS}, got {self.inpainter!r}")
        if self.lesion_types is not None:
            self.lesion_types = tuple(self.lesion_types)

    def cache_key(self) -> str:
        """Hash of the settings that change the maps (not the scoring settings)."""
        keys = ("max_iter", "alpha", "inpainter", "inpaint_radius", "use_fov", "method_kwargs")
        blob = json.dumps({k: getattr(self, k) for k in keys}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


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


@dataclass
class LocalizationReport:
    """What :func:`run_localization` measured.

    Attributes:
        table: rows of ``{lesion_type, method, initial, augmented, relative_increase, n_images,
            n_lesions}`` (SE at ``fps`` false positives per image).
        curves: ``(lesion_type, method, kind)`` -> :class:`FrocResult`.
        scores: image id -> classifier score, for every image of the dataset.
        referable: ids of the images explained.
        per_image: rows of per-image detections at the pooled operating point.
        iterations: method -> mean number of maps per explained image.
        settings: everything recorded in ``settings.json``.
    """

    table: list[dict[str, Any]]
    curves: dict[tuple[str, str, str], FrocResult]
    scores: dict[str, float]
    referable: list[str]
    per_image: list[dict[str, Any]]
    iterations: dict[str, float]
    settings: dict[str, Any]

    def value(self, lesion_type: str, method: str, kind: str) -> float:
        """SE at the configured FPs for one cell of the table."""
        for row in self.table:
            if row["lesion_type"] == lesion_type and row["method"] == method:
                return float(row[kind])
        raise KeyError((lesion_type, method))


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
        name (str): a key of :data:`~captum_iterative.experiments.methods.METHODS`.
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
        **loop_kwargs,
    )
    kwargs.update(config.method_kwargs.get(name, {}))
    return explainer, kwargs


def make_inpainter(config: ExperimentConfig) -> Inpainter:
    """The inpainter named by ``config.inpainter`` (images in [0, 1])."""
    if config.inpainter == "ns":
        return NavierStokesInpainter(config.inpaint_radius, value_range=(0.0, 1.0))
    if config.inpainter == "telea":
        return TeleaInpainter(config.inpaint_radius, value_range=(0.0, 1.0))
    return PyramidInpainter()


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


def model_fingerprint(model: nn.Module) -> str:
    """Hash of a model's state (every parameter and buffer: name, dtype, shape and values).

    Args:
        model (nn.Module): any module, on any device.

    Returns:
        str: 16 hexadecimal digits; equal for models with identical state dicts.
    """
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        data = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}:{data.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def model_key(config: ExperimentConfig, model: nn.Module, threshold: float) -> str:
    """Hash of what makes maps of one input: the settings, the model's state and ``threshold``.

    Returns:
        str: 16 hexadecimal digits.
    """
    blob = f"{config.cache_key()}|{model_fingerprint(model)}|{float(threshold)!r}"
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def input_key(image: torch.Tensor, fov: np.ndarray | None) -> str:
    """Hash of one image's exact model input: shape, values and the field of view the loop used.

    Args:
        image (Tensor): ``(C, S, S)`` model input.
        fov (np.ndarray, optional): ``(S, S)`` bool field of view passed as ``valid``; None when
            the loop ran without one.

    Returns:
        str: 16 hexadecimal digits.
    """
    digest = hashlib.sha256(f"{tuple(image.shape)}".encode())
    digest.update(image.detach().cpu().contiguous().numpy().tobytes())
    if fov is not None:
        digest.update(np.ascontiguousarray(fov).tobytes())
    return digest.hexdigest()[:16]


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

    Returns:
        dict: method -> wall-clock seconds spent computing (0 when everything was cached).
    """
    device = torch.device(config.device)
    key = config.cache_key()
    model_hash = model_key(config, model, threshold)
    input_keys = {p.id: input_key(p.image, p.fov if config.use_fov else None) for p in images}
    timings: dict[str, float] = {}
    for name in config.methods:
        todo = []
        for prepared in images:
            path = explanation_path(cache_dir, name, prepared.id)
            if path.exists():
                try:
                    meta = load_meta(path)
                    if (
                        meta.get("cache_key") == key
                        and meta.get("model_key") == model_hash
                        and meta.get("input_key") == input_keys[prepared.id]
                    ):
                        continue
                except ValueError:
                    pass  # damaged: recompute
            todo.append(prepared)
        start = time.perf_counter()
        explainer, kwargs = config_explainer(config, name, model, threshold)
        bar = tqdm(total=len(todo), desc=f"explaining: {name}", disable=not progress)
        for first in range(0, len(todo), config.batch_size):
            chunk = todo[first : first + config.batch_size]
            x = torch.stack([p.image for p in chunk]).to(device)
            valid = None
            if config.use_fov:
                valid = torch.from_numpy(np.stack([p.fov for p in chunk]))[:, None].to(device)
            result = explainer.explain(x, valid=valid, **kwargs)
            for i, prepared in enumerate(chunk):
                exp = Explanation.from_result(
                    result,
                    i,
                    prepared.id,
                    name,
                    cache_key=key,
                    model_key=model_hash,
                    input_key=input_keys[prepared.id],
                    config=asdict(config),
                )
                save_explanation(explanation_path(cache_dir, name, prepared.id), exp)
            bar.update(len(chunk))
        bar.close()
        timings[name] = time.perf_counter() - start
    return timings


def _lesion_types(images: Sequence[PreparedImage], config: ExperimentConfig) -> tuple[str, ...]:
    if config.lesion_types is not None:
        return config.lesion_types
    types: list[str] = []
    for prepared in images:
        types.extend(t for t in prepared.masks if t not in types)
    return tuple(types)


def score_explanations(
    images: Sequence[PreparedImage],
    cache_dir: str | os.PathLike[str],
    config: ExperimentConfig,
    size: int,
) -> tuple[
    list[dict[str, Any]],
    dict[tuple[str, str, str], FrocResult],
    list[dict[str, Any]],
    dict[str, float],
]:
    """FROC per lesion type, method and map kind from cached explanations.

    Returns:
        tuple: the table rows, the curves, per-image rows (lesions and lesions detected at the
        pooled operating point of ``config.fps`` false positives per image), and method -> mean
        number of maps per image.
    """
    radius = scale_radius(config.radius_at_512, size=size)
    types = _lesion_types(images, config)
    fovs = [p.fov for p in images] if config.use_fov else None
    table: list[dict[str, Any]] = []
    curves: dict[tuple[str, str, str], FrocResult] = {}
    per_image: list[dict[str, Any]] = []
    iterations: dict[str, float] = {}
    # the reference of each lesion type, the same for every method
    masks_of = {t: [p.masks.get(t, np.zeros(p.fov.shape, np.int32)) for p in images] for t in types}
    ignore_of = {
        t: [_other_lesions(p, t) for p in images] if config.ignore_other_lesions else None
        for t in types
    }
    for method in config.methods:
        explanations = [load_explanation(explanation_path(cache_dir, method, p.id)) for p in images]
        iterations[method] = float(np.mean([e.iterations for e in explanations]))
        for lesion_type in types:
            masks, ignore = masks_of[lesion_type], ignore_of[lesion_type]
            row: dict[str, Any] = {"lesion_type": lesion_type, "method": method}
            for kind in KINDS:
                maps = [getattr(e, kind) for e in explanations]
                result = froc(
                    maps,
                    masks,
                    radius,
                    fov_masks=fovs,
                    ignore_masks=ignore,
                    max_fps_per_image=config.fps,
                )
                curves[(lesion_type, method, kind)] = result
                row[kind] = float(result.sensitivity_at(config.fps))
                row["n_images"] = result.n_images
                row["n_lesions"] = result.n_lesions
                _per_image_rows(per_image, result, images, method, lesion_type, kind, config.fps)
            row["relative_increase"] = _relative(row["initial"], row["augmented"])
            table.append(row)
    for method in config.methods:
        rows = [r for r in table if r["method"] == method]
        if rows:
            initial = float(np.nanmean([r["initial"] for r in rows]))
            augmented = float(np.nanmean([r["augmented"] for r in rows]))
            table.append(
                {
                    "lesion_type": "average",
                    "method": method,
                    "initial": initial,
                    "augmented": augmented,
                    "relative_increase": _relative(initial, augmented),
                    "n_images": rows[0]["n_images"],
                    "n_lesions": sum(r["n_lesions"] for r in rows),
                }
            )
    return table, curves, per_image, iterations


def _other_lesions(prepared: PreparedImage, lesion_type: str) -> np.ndarray:
    other = np.zeros_like(prepared.fov)
    for name, labels in prepared.masks.items():
        if name != lesion_type:
            other |= labels > 0
    return other


def _relative(initial: float, augmented: float) -> float:
    if not math.isfinite(initial) or initial == 0:
        return math.nan
    return (augmented - initial) / initial


def _operating_threshold(result: FrocResult, fps: float) -> float:
    """Score threshold of the highest sensitivity with at most ``fps`` FPs per image."""
    index = int(np.searchsorted(result.fps_per_image, fps, side="right") - 1)
    return float(result.thresholds[index])


def _per_image_rows(
    rows: list[dict[str, Any]],
    result: FrocResult,
    images: Sequence[PreparedImage],
    method: str,
    lesion_type: str,
    kind: str,
    fps: float,
) -> None:
    threshold = _operating_threshold(result, fps)
    for prepared, detections, lesions in zip(
        images, result.detections, result.lesions_per_image, strict=True
    ):
        kept = [d for d in detections if d.score >= threshold]
        rows.append(
            {
                "image_id": prepared.id,
                "method": method,
                "lesion_type": lesion_type,
                "kind": kind,
                "lesions": int(lesions),
                "detected": sum(len(d.lesions_new) for d in kept),
                "false_positives": sum(d.is_fp for d in kept),
            }
        )


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
    settings = {
        "dataset": dataset_name,
        "images": len(images),
        "referable": len(chosen),
        "input_size": size,
        "froc_radius_px": scale_radius(config.radius_at_512, size=size),
        "config": asdict(config),
        "classifier": dict(classifier or {}),
        "th_pred": float(threshold),
        "lesions_native": _sum_counts([p.native_lesions for p in chosen]),
        "lesions_lost_in_working_frame": _sum_counts([p.lost_lesions for p in chosen]),
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


def _sum_counts(counts: Sequence[Mapping[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for entry in counts:
        for k, v in entry.items():
            total[k] = total.get(k, 0) + int(v)
    return total


# -- writing ---------------------------------------------------------------------------------


def _atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    with atomic_path(path) as tmp:
        write(tmp)


def _fmt(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.2f}"


def _pct(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{100 * value:+.1f} %"


def format_tables(report: LocalizationReport, title: str = "") -> str:
    """Markdown tables in the paper's layout: one per lesion type, then the averages."""
    methods = list(dict.fromkeys(r["method"] for r in report.table))
    types = list(dict.fromkeys(r["lesion_type"] for r in report.table))
    fps = report.settings["config"]["fps"]
    lines = [f"## {title}".rstrip(), ""] if title else []
    for lesion_type in types:
        rows = [r for r in report.table if r["lesion_type"] == lesion_type]
        name = (
            "Average over lesion types"
            if lesion_type == "average"
            else lesion_type.replace("_", " ")
        )
        lesions = "" if lesion_type == "average" else f", {rows[0]['n_lesions']} lesions"
        lines += [
            f"**{name}** (SE at {fps:g} FPs per image, {rows[0]['n_images']} images{lesions})",
            "",
            "| method | initial | augmented | relative increase |",
            "| --- | --- | --- | --- |",
        ]
        for method in methods:
            row = next((r for r in rows if r["method"] == method), None)
            if row is not None:
                label = METHODS[method].label
                lines.append(
                    f"| {label} | {_fmt(row['initial'])} | {_fmt(row['augmented'])} | "
                    f"{_pct(row['relative_increase'])} |"
                )
        lines.append("")
    return "\n".join(lines)


def write_report(
    report: LocalizationReport,
    images: Sequence[PreparedImage],
    out: str | os.PathLike[str],
    config: ExperimentConfig,
    *,
    overlay_rows: int = 4,
) -> None:
    """Write ``table.md``, ``table.csv``, ``per_image.csv``, ``froc_<type>.png``,
    ``overlays.png``, ``scores.json`` and ``settings.json`` under ``out``."""
    import matplotlib.pyplot as plt

    from captum_iterative.viz import plot_method_grid

    out = Path(out)
    title = f"{report.settings['dataset']}: SE/{config.fps:g}FPs, initial vs augmented"
    _atomic_write(out / "table.md", lambda p: p.write_text(format_tables(report, title)))

    def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    _atomic_write(out / "table.csv", lambda p: write_csv(report.table, p))
    if report.per_image:
        _atomic_write(out / "per_image.csv", lambda p: write_csv(report.per_image, p))
    _atomic_write(out / "scores.json", lambda p: p.write_text(json.dumps(report.scores, indent=1)))
    _atomic_write(
        out / "settings.json",
        lambda p: p.write_text(json.dumps(report.settings, indent=2, default=str)),
    )
    types = list(dict.fromkeys(t for t, _, _ in report.curves))
    colours = plt.get_cmap("tab10")
    for lesion_type in types:
        fig, ax = plt.subplots(figsize=(5.5, 4.2))
        for m, method in enumerate(config.methods):
            for kind, style in (("initial", "--"), ("augmented", "-")):
                curve = report.curves[(lesion_type, method, kind)]
                curve.plot(
                    ax=ax,
                    label=f"{METHODS[method].label} ({kind})",
                    color=colours(m),
                    linestyle=style,
                )
        ax.set_title(f"{report.settings['dataset']}: {lesion_type.replace('_', ' ')}", fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
        fig.tight_layout()
        _save_figure(fig, out / f"froc_{lesion_type}.png", dpi=110)
    chosen = _overlay_choice(images, overlay_rows)
    maps = {}
    for method in config.methods:
        exps = [load_explanation(explanation_path(out / "cache", method, p.id)) for p in chosen]
        maps[METHODS[method].label] = ([e.initial for e in exps], [e.augmented for e in exps])
    outlines = [
        np.any(np.stack(list(p.masks.values())), axis=0) if p.masks else None for p in chosen
    ]
    fig = plot_method_grid(
        [p.image for p in chosen],
        maps,
        titles=[p.id for p in chosen],
        outlines=outlines if all(o is not None for o in outlines) else None,
    )
    _save_figure(fig, out / "overlays.png", dpi=90)


def _save_figure(fig: Any, path: Path, dpi: int) -> None:
    import matplotlib.pyplot as plt

    _atomic_write(path, lambda p: fig.savefig(p, dpi=dpi, format="png"))
    plt.close(fig)


def _overlay_choice(images: Sequence[PreparedImage], rows: int) -> list[PreparedImage]:
    """The images with the most lesions (ties by id), at most ``rows``."""
    ranked = sorted(images, key=lambda p: (-sum(int(m.any()) for m in p.masks.values()), p.id))
    return ranked[:rows]

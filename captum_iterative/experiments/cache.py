r"""Per-image explanation files: one ``.npz`` per (method, image), written atomically.

The experiment runner and the command line share this format, and the keys that say whether a
file still holds the maps a run would compute (:func:`map_keys`, :func:`input_key`,
:func:`is_fresh`), so that maps computed once are re-scored cheaply (``captum-iterative
evaluate``). A file holds:

| key | content |
| --- | --- |
| ``initial``, ``augmented`` | ``(H, W)`` float32 maps in the classifier's input frame |
| ``iterations`` | int, maps in the augmented sum |
| ``scores`` | float64 ``(iterations + 1,)``: score before each step and after the last |
| ``stop_reason`` | str |
| ``image_id``, ``method`` | str |
| ``threshold``, ``alpha`` | float |
| ``meta`` | JSON string with anything else (geometry of the preprocessing, settings) |

Files are written to a temporary name in the same folder and renamed when complete, so an
interrupted run never leaves a half-written file.

A file is reused when its ``meta`` records the same ``cache_key`` (the settings that change the
maps), ``model_key`` (those settings, the classifier's weights and buffers, and ``th_pred``)
and ``input_key`` (the exact model input and field of view) as the run.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch
from torch import nn

from captum_iterative._checks import to_numpy
from captum_iterative._files import atomic_path
from captum_iterative.result import AugmentationResult

if TYPE_CHECKING:
    from captum_iterative.experiments.config import ExperimentConfig

_T = TypeVar("_T")

__all__ = [
    "Explanation",
    "explanation_path",
    "input_key",
    "is_fresh",
    "load_explanation",
    "load_meta",
    "map_keys",
    "model_fingerprint",
    "model_key",
    "save_explanation",
]


@dataclass
class Explanation:
    """One image's explanation by one method (what a cache file holds)."""

    image_id: str
    method: str
    initial: np.ndarray
    augmented: np.ndarray
    iterations: int
    scores: np.ndarray
    stop_reason: str
    threshold: float
    alpha: float
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_result(
        cls, result: AugmentationResult, index: int, image_id: str, method: str, **meta: Any
    ) -> Explanation:
        """Take image ``index`` of an :class:`AugmentationResult`."""
        return cls(
            image_id=image_id,
            method=method,
            initial=to_numpy(result.initial[index, 0], dtype=np.float32),
            augmented=to_numpy(result.augmented[index, 0], dtype=np.float32),
            iterations=int(result.iterations[index]),
            scores=to_numpy(result.scores[index], dtype=np.float64),
            stop_reason=result.stop_reason[index],
            threshold=float(result.threshold),
            alpha=float(result.alpha),
            meta=dict(meta),
        )


def explanation_path(root: str | os.PathLike[str], method: str, image_id: str) -> Path:
    """Where the explanation of ``image_id`` by ``method`` lives under ``root``."""
    safe = image_id.replace(os.sep, "_").replace("/", "_")
    return Path(root) / method / f"{safe}.npz"


def save_explanation(path: str | os.PathLike[str], explanation: Explanation) -> Path:
    """Write ``explanation`` to ``path`` atomically (temporary file + rename)."""
    path = Path(path)
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        np.savez_compressed(
            handle,
            initial=explanation.initial.astype(np.float32),
            augmented=explanation.augmented.astype(np.float32),
            iterations=np.int64(explanation.iterations),
            scores=explanation.scores.astype(np.float64),
            stop_reason=np.str_(explanation.stop_reason),
            image_id=np.str_(explanation.image_id),
            method=np.str_(explanation.method),
            threshold=np.float64(explanation.threshold),
            alpha=np.float64(explanation.alpha),
            meta=np.str_(json.dumps(explanation.meta, default=_jsonable)),
        )
    return path


def load_explanation(path: str | os.PathLike[str]) -> Explanation:
    """Read a file written by :func:`save_explanation` (clear error if unreadable)."""
    return _read(path, _explanation)


def load_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``meta`` record of a file written by :func:`save_explanation`, maps left unread.

    Cheap (the ``.npz`` members are read lazily): what a cache check needs.
    """
    return _read(path, lambda data: json.loads(str(data["meta"])))


def _read(path: str | os.PathLike[str], parse: Callable[[Any], _T]) -> _T:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return parse(data)
    except FileNotFoundError:
        raise
    except Exception as error:  # zipfile/ValueError/KeyError: a damaged or foreign file
        raise ValueError(f"cannot read explanation file {path}: {error}") from error


def _explanation(data: Any) -> Explanation:
    return Explanation(
        image_id=str(data["image_id"]),
        method=str(data["method"]),
        initial=data["initial"],
        augmented=data["augmented"],
        iterations=int(data["iterations"]),
        scores=data["scores"],
        stop_reason=str(data["stop_reason"]),
        threshold=float(data["threshold"]),
        alpha=float(data["alpha"]),
        meta=json.loads(str(data["meta"])),
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


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


def map_keys(config: ExperimentConfig, model: nn.Module, threshold: float) -> dict[str, Any]:
    """The ``meta`` entries every map of a run records: ``cache_key``, ``model_key``, ``config``.

    Args:
        config (ExperimentConfig): the run's settings.
        model (nn.Module): the classifier.
        threshold (float): its ``th_pred``.

    Returns:
        dict: ``{"cache_key": ..., "model_key": ..., "config": asdict(config)}``.
    """
    return {
        "cache_key": config.cache_key(),
        "model_key": model_key(config, model, threshold),
        "config": asdict(config),
    }


def is_fresh(path: str | os.PathLike[str], keys: Mapping[str, Any]) -> bool:
    """Whether the file at ``path`` exists, is readable and its ``meta`` holds every entry of
    ``keys`` (e.g. ``cache_key``, ``model_key`` and ``input_key``); a damaged file is not."""
    if not Path(path).exists():
        return False
    try:
        meta = load_meta(path)
    except ValueError:
        return False
    return all(meta.get(name) == value for name, value in keys.items())

r"""Per-image explanation files: one ``.npz`` per (method, image), written atomically.

The experiment runner and the command line share this format so that maps computed once can be
re-scored cheaply (``captum-iterative evaluate``). A file holds:

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
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from captum_iterative._checks import to_numpy
from captum_iterative._files import atomic_path
from captum_iterative.result import AugmentationResult

_T = TypeVar("_T")

__all__ = [
    "Explanation",
    "explanation_path",
    "load_explanation",
    "load_meta",
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

"""Writing outputs: writable folders, overlays, JSON files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from captum_iterative._argparse import UsageError
from captum_iterative._files import atomic_write_bytes, temporary_file
from captum_iterative.viz import overlay, to_display_image

__all__ = [
    "check_writable",
    "overlay_image",
    "png_bytes",
    "write_json",
]


def check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temporary_file(folder).unlink()
    except OSError as error:
        raise UsageError(f"output folder {folder} is not writable: {error}") from error


def overlay_image(image: np.ndarray, initial: np.ndarray, augmented: np.ndarray) -> np.ndarray:
    """``(S, 3 S + 8, 3)`` ``uint8`` RGB panel: image | initial map | augmented map."""
    gap = np.ones((image.shape[0], 4, 3))
    panel = np.concatenate(
        [to_display_image(image), gap, overlay(image, initial), gap, overlay(image, augmented)],
        axis=1,
    )
    return np.clip(np.rint(panel * 255.0), 0, 255).astype(np.uint8)


def png_bytes(rgb: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise ValueError("PNG encoding failed")
    return encoded.tobytes()


def write_json(path: Path, record: dict[str, Any]) -> None:
    atomic_write_bytes(path, (json.dumps(record, indent=2, default=str) + "\n").encode())

"""Writing outputs: the output folder's marker and lock, writable folders, overlays, JSON."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from captum_iterative._argparse import UsageError
from captum_iterative._files import atomic_write_bytes, format_bytes, temporary_file
from captum_iterative.cli._inputs import OUTPUT_MARKER
from captum_iterative.cli._options import PROG
from captum_iterative.viz import overlay, to_display_image

__all__ = [
    "check_free_space",
    "check_writable",
    "claim_output",
    "header_height",
    "overlay_image",
    "png_bytes",
    "write_json",
]


@contextmanager
def claim_output(folder: Path) -> Iterator[None]:
    """Mark ``folder`` as this program's output and hold its lock while the block runs.

    The marker :data:`OUTPUT_MARKER` is the first file made in the folder, so that
    ``--recursive`` knows the folder's contents as outputs even when the run is killed before
    its manifest. It is also the lock file: an exclusive ``fcntl.flock``, which the kernel
    releases when the process ends in any way (SIGKILL and out-of-memory kills too). It is
    left in place after the run (removing a lock file races with a process that has just
    opened it).

    Raises:
        UsageError: the folder is not writable, or another process holds the lock. A file
            system without locks (e.g. Lustre mounted without ``flock``) gets a warning line on
            stderr instead, and the run goes on unlocked.
    """
    marker = folder / OUTPUT_MARKER
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(marker, os.O_RDONLY | os.O_CREAT, 0o666)
    except OSError as error:
        raise UsageError(f"output folder {folder} is not writable: {error}") from error
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(
                f"another {PROG} run is writing to {folder} (it holds the lock on {marker}); "
                "wait for it to end, or choose another --out"
            ) from None
        except OSError as error:
            print(
                f"{PROG}: warning: cannot lock {marker} ({error.strerror}): a second run on "
                f"{folder} would not be refused",
                file=sys.stderr,
            )
        yield
    finally:
        os.close(fd)  # releases the lock


def check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temporary_file(folder).unlink()
    except OSError as error:
        raise UsageError(f"output folder {folder} is not writable: {error}") from error


def check_free_space(folder: Path, needed: int, what: str) -> None:
    """Refuse a run whose output folder has less than ``needed`` bytes free (``what`` says
    what they are for), before it computes anything."""
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise UsageError(
            f"output folder {folder} has {format_bytes(free)} free, less than {what} need "
            f"(about {format_bytes(needed)}); make room, or choose another --out"
        )


def header_height(side: int) -> int:
    """Height in pixels of an overlay's label strip for ``side``-pixel panels."""
    return max(14, side // 16)


def _label(width: int, height: int, text: str) -> np.ndarray:
    """A white ``(height, width, 3)`` float strip with ``text`` in black, scaled to fit."""
    strip = np.full((height, width, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    (w, h), _ = cv2.getTextSize(text, font, 1.0, 1)
    scale = min(0.6 * height / h, (width - 6) / w)
    (w, h), _ = cv2.getTextSize(text, font, scale, 1)
    origin = (3, (height + h) // 2)
    cv2.putText(strip, text, origin, font, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return strip.astype(np.float64) / 255.0


def overlay_image(
    image: np.ndarray,
    initial: np.ndarray,
    augmented: np.ndarray,
    labels: tuple[str, str, str],
) -> np.ndarray:
    """``(L + S, 3 S + 8, 3)`` ``uint8`` RGB panel: image | initial map | augmented map, each
    under its label (a strip ``L =`` :func:`header_height` ``(S)`` pixels tall)."""
    side = image.shape[0]
    gap = np.ones((side, 4, 3))
    panels = [to_display_image(image), overlay(image, initial), overlay(image, augmented)]
    height = header_height(side)
    columns = []
    for i, (panel, text) in enumerate(zip(panels, labels, strict=True)):
        columns.append(np.concatenate([_label(panel.shape[1], height, text), panel], axis=0))
        if i < 2:
            columns.append(np.concatenate([np.ones((height, 4, 3)), gap], axis=0))
    panel = np.concatenate(columns, axis=1)
    return np.clip(np.rint(panel * 255.0), 0, 255).astype(np.uint8)


def png_bytes(rgb: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise ValueError("PNG encoding failed")
    return encoded.tobytes()


def write_json(path: Path, record: dict[str, Any]) -> None:
    atomic_write_bytes(path, (json.dumps(record, indent=2, default=str) + "\n").encode())

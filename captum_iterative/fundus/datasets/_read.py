"""Reading a dataset's files: CSV tables, image lists, lesion masks, fields of view.

Every helper raises ``FileNotFoundError`` or ``ValueError`` naming the file it could not use.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from captum_iterative.fundus.preprocess.fov import fov_mask
from captum_iterative.io import list_images, read_mask

__all__ = [
    "check_same_shape",
    "image_files",
    "image_fov",
    "index_by_stem",
    "parse_flag",
    "parse_grade",
    "read_csv",
    "read_lesion_masks",
    "require_columns",
    "require_dir",
    "require_file",
]


def require_file(path: Path, what: str = "file") -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def require_dir(path: Path, what: str = "folder") -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV file with header names and values stripped of surrounding spaces."""
    path = require_file(path, "CSV file")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        rows = []
        for values in reader:
            if not any(value.strip() for value in values):
                continue
            rows.append(
                {name: value.strip() for name, value in zip(header, values, strict=False) if name}
            )
    return rows


def require_columns(rows: list[dict[str, str]], columns: Iterable[str], path: Path) -> None:
    present = set(rows[0]) if rows else set()
    missing = [column for column in columns if column not in present]
    if missing:
        raise ValueError(f"CSV file {path} lacks column(s) {missing}; found {sorted(present)}")


def parse_grade(value: str, path: Path, image_id: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"grade {value!r} of {image_id!r} in {path} is not an integer") from None


def parse_flag(value: str, column: str, path: Path, image_id: str) -> bool:
    if value not in ("0", "1"):
        raise ValueError(f"{column} {value!r} of {image_id!r} in {path} is not 0 or 1")
    return value == "1"


def image_files(folder: Path) -> list[Path]:
    """Image files below ``folder`` (recursively; :func:`~captum_iterative.io.list_images`)."""
    return list_images(folder, recursive=True)


def check_same_shape(mask: np.ndarray, image: np.ndarray, path: Path) -> np.ndarray:
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask {path} has shape {mask.shape}, its image {image.shape[:2]}")
    return mask


def read_lesion_masks(
    paths: Mapping[str, Path | None], shape: tuple[int, int]
) -> dict[str, np.ndarray]:
    """Lesion type -> ``(H, W)`` bool mask read from its file, all False where there is none."""
    return {
        name: np.zeros(shape, dtype=bool) if path is None else read_mask(path, shape)
        for name, path in paths.items()
    }


def image_fov(image: np.ndarray, path: Path) -> np.ndarray:
    try:
        return fov_mask(image)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error


def index_by_stem(paths: Iterable[Path], suffix: str = "") -> dict[str, Path]:
    """Map each file's stem (without ``suffix``) to it; a repeated stem raises."""
    index: dict[str, Path] = {}
    for path in paths:
        stem = path.stem
        if suffix and stem.endswith(suffix):
            stem = stem[: -len(suffix)]
        if stem in index:
            raise ValueError(f"two files share the name {stem!r}: {index[stem]} and {path}")
        index[stem] = path
    return index

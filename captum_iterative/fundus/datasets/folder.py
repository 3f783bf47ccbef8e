"""Generic folders: images, one mask folder per lesion type and optional grades."""

from __future__ import annotations

from pathlib import Path, PureWindowsPath
from typing import Literal

from captum_iterative.fundus.datasets import _read
from captum_iterative.fundus.datasets.base import (
    FundusDataset,
    Transform,
    register_dataset,
)
from captum_iterative.fundus.types import FundusSample
from captum_iterative.io import PathLike

__all__ = ["ImageMaskFolder"]


@register_dataset("folder", "image-mask-folder")
class ImageMaskFolder(FundusDataset):
    r"""Generic images + per-lesion mask folders + optional grades (e.g. EUGENDA).

    The mask of image ``<stem>.<ext>`` in a lesion's folder is the image file named
    ``<stem>.*`` or, failing that, the only one named ``<stem>_*.*`` (e.g.
    ``IDRiD_01_MA.tif``); two candidates raise ``ValueError``.

    Args:
        images_dir (str or Path): folder of images (read recursively, sorted by path).
        masks (dict[str, str or Path], optional): lesion type -> folder of its masks.
            Default: ``None`` (no masks).
        grades_csv (str or Path, optional): CSV with one row per image; ``id_column`` holds
            the image's stem or file name, ``grade_column`` its integer grade. Every image
            must have a row. Default: ``None`` (grades are ``None``).
        id_column (str, optional): Default: ``"image"``.
        grade_column (str, optional): Default: ``"grade"``.
        missing_mask (str, optional): ``"empty"`` (an image without a mask file has none of
            that lesion) or ``"error"`` (raise ``FileNotFoundError``). Default: ``"empty"``.
        transform (callable, optional): applied to each sample. Default: ``None``.
    """

    def __init__(
        self,
        images_dir: PathLike,
        masks: dict[str, PathLike] | None = None,
        grades_csv: PathLike | None = None,
        *,
        id_column: str = "image",
        grade_column: str = "grade",
        missing_mask: Literal["empty", "error"] = "empty",
        transform: Transform | None = None,
    ) -> None:
        super().__init__(transform)
        if missing_mask not in ("empty", "error"):
            raise ValueError(f"missing_mask must be 'empty' or 'error', got {missing_mask!r}")
        self._images = _read.image_files(_read.require_dir(Path(images_dir), "images folder"))
        if not self._images:
            raise ValueError(f"no image file in {images_dir}")
        self.ids = list(_read.index_by_stem(self._images))
        self.lesions = tuple(masks or {})
        self._masks: list[dict[str, Path | None]] = [{} for _ in self._images]
        for lesion, folder in (masks or {}).items():
            index = _read.index_by_stem(
                _read.image_files(_read.require_dir(Path(folder), f"{lesion} masks"))
            )
            for slot, image_id in zip(self._masks, self.ids, strict=True):
                slot[lesion] = self._match(image_id, index, Path(folder), missing_mask)
        if grades_csv is None:
            self.grades = [None] * len(self.ids)
        else:
            path = Path(grades_csv)
            rows = _read.read_csv(path)
            _read.require_columns(rows, [id_column, grade_column], path)
            table = {
                PureWindowsPath(row[id_column]).stem: _read.parse_grade(
                    row[grade_column], path, row[id_column]
                )
                for row in rows
            }
            missing = [image_id for image_id in self.ids if image_id not in table]
            if missing:
                raise ValueError(f"{path} has no grade for image(s) {missing[:5]}")
            self.grades = [table[image_id] for image_id in self.ids]

    @staticmethod
    def _match(
        image_id: str, index: dict[str, Path], folder: Path, missing_mask: str
    ) -> Path | None:
        if image_id in index:
            return index[image_id]
        found = [path for stem, path in index.items() if stem.startswith(f"{image_id}_")]
        if len(found) > 1:
            raise ValueError(f"several masks match image {image_id!r} in {folder}: {found}")
        if not found and missing_mask == "error":
            raise FileNotFoundError(f"mask file not found for image {image_id!r} in {folder}")
        return found[0] if found else None

    def load(self, index: int) -> FundusSample:
        return self._read_sample(index, self._images[index], self._masks[index])

"""Kaggle Diabetic Retinopathy Detection (2015) / EyePACS: ICDR grades 0-4."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from captum_iterative.fundus.datasets import _read
from captum_iterative.fundus.datasets.base import (
    FundusDataset,
    Transform,
    register_dataset,
)
from captum_iterative.fundus.types import FundusSample
from captum_iterative.io import PathLike

__all__ = ["EyePACS"]


@register_dataset("eyepacs", "kaggle-dr")
class EyePACS(FundusDataset):
    r"""Kaggle Diabetic Retinopathy Detection (2015) / EyePACS, ICDR grades 0-4.

    Layout below ``root``::

        trainLabels.csv              columns image,level     (e.g. 10_left,0)
        train/<image>.jpeg
        retinopathy_solution.csv     columns image,level,Usage (Public / Private)
        test/<image>.jpeg

    Args:
        root (str or Path): the dataset folder.
        split (str, optional): ``"train"`` or ``"test"``. Default: ``"train"``.
        usage (str, optional): test split only: keep the rows whose ``Usage`` is this
            (``"Public"`` or ``"Private"``). Default: ``None`` (all rows).
        transform (callable, optional): applied to each sample. Default: ``None``.
    """

    def __init__(
        self,
        root: PathLike,
        split: Literal["train", "test"] = "train",
        *,
        usage: str | None = None,
        transform: Transform | None = None,
    ) -> None:
        super().__init__(transform)
        root = Path(root)
        if split == "train":
            labels, folder, columns = root / "trainLabels.csv", root / "train", ["image", "level"]
            if usage is not None:
                raise ValueError("usage applies to split='test' only")
        elif split == "test":
            labels, folder = root / "retinopathy_solution.csv", root / "test"
            columns = ["image", "level", "Usage"]
        else:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        rows = _read.read_csv(labels)
        _read.require_columns(rows, columns, labels)
        if usage is not None:
            rows = [row for row in rows if row["Usage"] == usage]
            if not rows:
                raise ValueError(f"no row of {labels} has Usage {usage!r}")
        self.ids = [row["image"] for row in rows]
        self.grades = [_read.parse_grade(row["level"], labels, row["image"]) for row in rows]
        _read.require_dir(folder, "EyePACS images")
        self._images = [_read.require_file(folder / f"{i}.jpeg", "image file") for i in self.ids]

    def load(self, index: int) -> FundusSample:
        return self._read_sample(index, self._images[index])

"""APTOS 2019 Blindness Detection (Kaggle): ICDR grades 0-4, with duplicate groups."""

from __future__ import annotations

from pathlib import Path, PureWindowsPath

from captum_iterative.fundus.datasets import _read
from captum_iterative.fundus.datasets.base import (
    FundusDataset,
    Transform,
    register_dataset,
)
from captum_iterative.fundus.types import FundusSample
from captum_iterative.io import PathLike

__all__ = ["APTOS2019"]


@register_dataset("aptos2019", "aptos", root_env="APTOS_ROOT")
class APTOS2019(FundusDataset):
    r"""APTOS 2019 Blindness Detection (Kaggle), ICDR grades 0-4.

    Two layouts below ``root`` are read:

    - the official one: ``train.csv`` (``id_code,diagnosis``) and
      ``train_images/<id_code>.png`` (``test.csv`` and ``test_images/`` likewise, without
      grades);
    - a copy whose CSV has an ``image`` column giving each file's path relative to ``root``
      (e.g. ``images/<id_code>.jpg``), and optionally ``duplicate_group`` (ids of
      byte-identical images share a group) and ``duplicate_label_conflict`` (1 where the
      copies of an image carry different grades).

    Args:
        root (str or Path): the dataset folder.
        csv_name (str, optional): the labels file. Default: ``"train.csv"``.
        drop_conflicts (bool, optional): drop the rows with ``duplicate_label_conflict`` 1
            (needs that column). Default: ``False``.
        transform (callable, optional): applied to each sample. Default: ``None``.

    Attributes:
        groups (list[str]): per sample, its ``duplicate_group`` or, when it has none (or the
            CSV has no such column), its own id; pass to :func:`grouped_split`.
    """

    def __init__(
        self,
        root: PathLike,
        *,
        csv_name: str = "train.csv",
        drop_conflicts: bool = False,
        transform: Transform | None = None,
    ) -> None:
        super().__init__(transform)
        root = Path(root)
        labels = root / csv_name
        rows = _read.read_csv(labels)
        _read.require_columns(rows, ["id_code"], labels)
        if drop_conflicts:
            _read.require_columns(rows, ["duplicate_label_conflict"], labels)
            rows = [row for row in rows if row["duplicate_label_conflict"] not in ("1", "True")]
        self.ids = [row["id_code"] for row in rows]
        self.grades = [
            _read.parse_grade(row["diagnosis"], labels, row["id_code"])
            if "diagnosis" in row
            else None
            for row in rows
        ]
        self.groups = [row.get("duplicate_group") or row["id_code"] for row in rows]
        if rows and "image" in rows[0]:
            paths = [root / PureWindowsPath(row["image"]).as_posix() for row in rows]
        else:
            folder = _read.require_dir(root / f"{Path(csv_name).stem}_images", "APTOS images")
            paths = [folder / f"{image_id}.png" for image_id in self.ids]
        self._images = [_read.require_file(path, "image file") for path in paths]

    def load(self, index: int) -> FundusSample:
        return self._read_sample(index, self._images[index])

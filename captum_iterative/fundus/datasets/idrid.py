"""IDRiD (ISBI 2018): lesion segmentation masks, or ICDR grades with macular-edema risk."""

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

__all__ = ["IDRID_LESIONS", "IDRiD"]


#: IDRiD mask suffix -> (ground-truth folder, our lesion name).
IDRID_LESIONS: dict[str, tuple[str, str]] = {
    "MA": ("1. Microaneurysms", "microaneurysms"),
    "HE": ("2. Haemorrhages", "hemorrhages"),
    "EX": ("3. Hard Exudates", "hard_exudates"),
    "SE": ("4. Soft Exudates", "soft_exudates"),
    "OD": ("5. Optic Disc", "optic_disc"),
}
_IDRID_SETS = {"train": "a. Training Set", "test": "b. Testing Set"}
_IDRID_CSV = {"train": "Training", "test": "Testing"}


@register_dataset("idrid")
class IDRiD(FundusDataset):
    r"""Indian Diabetic Retinopathy Image Dataset (IDRiD, ISBI 2018).

    Layout below ``root``::

        A. Segmentation/1. Original Images/{a. Training Set,b. Testing Set}/IDRiD_NN.jpg
        A. Segmentation/2. All Segmentation Groundtruths/<set>/
            {1. Microaneurysms,2. Haemorrhages,3. Hard Exudates,4. Soft Exudates,
             5. Optic Disc}/IDRiD_NN_{MA,HE,EX,SE,OD}.tif
        B. Disease Grading/1. Original Images/<set>/IDRiD_NNN.jpg
        B. Disease Grading/2. Groundtruths/*Training*.csv, *Testing*.csv
            (columns "Image name", "Retinopathy grade", "Risk of macular edema " with a
            trailing space, which is stripped)

    ``part="segmentation"`` yields lesion masks (a missing mask file means the image has no
    such lesion: an all-``False`` mask) and no grade; ``part="grading"`` yields the ICDR
    grade, no masks, and keeps the macular-edema risk in ``edema``.

    Args:
        root (str or Path): the dataset folder.
        part (str, optional): ``"segmentation"`` or ``"grading"``. Default:
            ``"segmentation"``.
        split (str, optional): ``"train"`` or ``"test"``. Default: ``"train"``.
        optic_disc (bool, optional): add the optic-disc mask as ``"optic_disc"``
            (segmentation part). Default: ``False``.
        transform (callable, optional): applied to each sample. Default: ``None``.
    """

    def __init__(
        self,
        root: PathLike,
        part: Literal["segmentation", "grading"] = "segmentation",
        split: Literal["train", "test"] = "train",
        *,
        optic_disc: bool = False,
        transform: Transform | None = None,
    ) -> None:
        super().__init__(transform)
        if split not in _IDRID_SETS:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        root = Path(root)
        self.part = part
        self.edema: list[int | None] = []
        if part == "segmentation":
            base = root / "A. Segmentation"
            images_dir = base / "1. Original Images" / _IDRID_SETS[split]
            truth_dir = base / "2. All Segmentation Groundtruths" / _IDRID_SETS[split]
            codes = [code for code in IDRID_LESIONS if optic_disc or code != "OD"]
            self.lesions = tuple(IDRID_LESIONS[code][1] for code in codes)
            self._images = _read.image_files(_read.require_dir(images_dir, "IDRiD images"))
            _read.require_dir(truth_dir, "IDRiD ground-truth folder")
            # a lesion type absent from an image has no file (None): its mask is empty
            self._masks = [
                {
                    IDRID_LESIONS[code][1]: mask if mask.exists() else None
                    for code in codes
                    for mask in [truth_dir / IDRID_LESIONS[code][0] / f"{path.stem}_{code}.tif"]
                }
                for path in self._images
            ]
            self.ids = [path.stem for path in self._images]
            self.grades = [None] * len(self.ids)
            self.edema = [None] * len(self.ids)
        elif part == "grading":
            base = root / "B. Disease Grading"
            images_dir = _read.require_dir(
                base / "1. Original Images" / _IDRID_SETS[split], "IDRiD images"
            )
            labels_dir = _read.require_dir(base / "2. Groundtruths", "IDRiD grading labels")
            found = sorted(labels_dir.glob(f"*{_IDRID_CSV[split]}*.csv"))
            if len(found) != 1:
                raise FileNotFoundError(
                    f"expected one *{_IDRID_CSV[split]}*.csv in {labels_dir}, found {found}"
                )
            rows = _read.read_csv(found[0])
            columns = ("Image name", "Retinopathy grade", "Risk of macular edema")
            _read.require_columns(rows, columns, found[0])
            rows = [row for row in rows if row["Image name"]]
            self.ids = [row["Image name"] for row in rows]
            self.grades = [
                _read.parse_grade(r["Retinopathy grade"], found[0], r["Image name"]) for r in rows
            ]
            self.edema = [
                _read.parse_grade(r["Risk of macular edema"], found[0], r["Image name"])
                for r in rows
            ]
            self._images = [
                _read.require_file(images_dir / f"{i}.jpg", "image file") for i in self.ids
            ]
            self._masks = [{} for _ in self.ids]
        else:
            raise ValueError(f"part must be 'segmentation' or 'grading', got {part!r}")

    def load(self, index: int) -> FundusSample:
        return self._read_sample(index, self._images[index], self._masks[index])

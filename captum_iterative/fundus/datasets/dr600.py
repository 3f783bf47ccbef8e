"""DR-image-dataset (DR600): 600 graded photographs of both eyes of 300 patients."""

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

__all__ = ["DR600"]


_DR600_COLUMNS = (
    "image",
    "patient",
    "eye",
    "grade",
    "maculopathy",
    "aded",
    "duplicate_label_conflict",
)


@register_dataset("dr600", "dr-image-dataset", root_env="DR600_ROOT")
class DR600(FundusDataset):
    r"""DR-image-dataset (Rahim 2025): 600 graded photographs of both eyes of 300 patients.

    The originals (3872 x 2592) are graded on the ICDR scale (0-4) with a maculopathy flag;
    seven images of the class "ADED" (advanced diabetic eye disease) carry no ICDR grade (grade
    ``-1``, ``aded`` 1). Two patients have byte-identical images with different grades
    (``duplicate_label_conflict`` 1). Layout below ``root`` (a copy cropped to the field of view
    and resized, e.g. to 640 x 640, keeps it)::

        labels.csv      columns image,patient,eye,grade,maculopathy,aded,duplicate_label_conflict
                        (further columns, e.g. source_class, sha1, fov_box, duplicate_of, are
                        ignored); one row per image
        images/PatientNNN_L.jpg, images/PatientNNN_R.jpg   (``image`` is relative to root)

    Split it by patient, e.g. ``grouped_split(data)`` (:attr:`groups` is the patient), so that
    both eyes of a patient are on the same side.

    Args:
        root (str or Path): the dataset folder.
        aded (str, optional): the ungraded ADED images: ``"drop"`` them, or give them grade
            :attr:`ADED_GRADE` (4, proliferative: advanced diabetic eye disease is the end stage
            of proliferative retinopathy) and so treat them as ``"referable"``.
            Default: ``"drop"``.
        drop_conflicts (bool, optional): drop the images whose duplicates carry another grade
            (``duplicate_label_conflict`` 1). Default: ``True``.
        transform (callable, optional): applied to each sample. Default: ``None``.

    Attributes:
        patients (list[str]): per sample, its patient (``"001"`` ... ``"300"``).
        groups (list[str]): the same list, for :func:`grouped_split`.
        eyes (list[str]): per sample, ``"L"`` or ``"R"``.
        maculopathy (list[bool | None]): per sample, the maculopathy flag (``None`` for ADED).
        aded (list[bool]): per sample, whether it is an ADED image.

    Raises:
        FileNotFoundError: ``labels.csv`` or a listed image is missing.
        ValueError: a missing column, a bad value (grade outside ``-1..4``, a flag not 0/1, an
            ADED flag that disagrees with the grade), a repeated image, a bad ``aded``, or no
            image left.

    Examples::

        >>> data = DR600(os.environ["DR600_ROOT"])  # doctest: +SKIP
        >>> len(data), sum(g >= 2 for g in data.grades)  # doctest: +SKIP
        (589, 214)
    """

    #: Grade given to the ADED images with ``aded="referable"`` (ICDR 4, proliferative DR).
    ADED_GRADE = 4

    def __init__(
        self,
        root: PathLike,
        *,
        aded: Literal["drop", "referable"] = "drop",
        drop_conflicts: bool = True,
        transform: Transform | None = None,
    ) -> None:
        super().__init__(transform)
        if aded not in ("drop", "referable"):
            raise ValueError(f"aded must be 'drop' or 'referable', got {aded!r}")
        root = Path(root)
        labels = root / "labels.csv"
        rows = _read.read_csv(labels)
        if not rows:
            raise ValueError(f"CSV file {labels} has no row")
        _read.require_columns(rows, _DR600_COLUMNS, labels)
        self.patients: list[str] = []
        self.eyes: list[str] = []
        self.maculopathy: list[bool | None] = []
        self.aded: list[bool] = []
        self._images: list[Path] = []
        seen: set[str] = set()
        for row in rows:
            image_id = PureWindowsPath(row["image"]).stem
            if image_id in seen:
                raise ValueError(f"image {row['image']!r} is listed twice in {labels}")
            seen.add(image_id)
            grade = _read.parse_grade(row["grade"], labels, image_id)
            is_aded = _read.parse_flag(row["aded"], "aded", labels, image_id)
            conflict = _read.parse_flag(
                row["duplicate_label_conflict"], "duplicate_label_conflict", labels, image_id
            )
            if not -1 <= grade <= 4:
                raise ValueError(f"grade {grade} of {image_id!r} in {labels} is not in -1..4")
            if is_aded != (grade == -1):
                raise ValueError(
                    f"{image_id!r} in {labels}: grade {grade} with aded {int(is_aded)} "
                    "(ADED images, and only they, have grade -1)"
                )
            if row["eye"] not in ("L", "R"):
                raise ValueError(f"eye {row['eye']!r} of {image_id!r} in {labels} is not L or R")
            if (conflict and drop_conflicts) or (is_aded and aded == "drop"):
                continue
            self.ids.append(image_id)
            self.grades.append(self.ADED_GRADE if is_aded else grade)
            self.patients.append(row["patient"])
            self.eyes.append(row["eye"])
            self.aded.append(is_aded)
            self.maculopathy.append(
                None
                if is_aded
                else _read.parse_flag(row["maculopathy"], "maculopathy", labels, image_id)
            )
            self._images.append(root / PureWindowsPath(row["image"]).as_posix())
        if not self.ids:
            raise ValueError(
                f"no image of {labels} is left with aded={aded!r}, drop_conflicts={drop_conflicts}"
            )
        self.groups = self.patients
        for path in self._images:
            _read.require_file(path, "image file")

    def load(self, index: int) -> FundusSample:
        return self._read_sample(index, self._images[index])

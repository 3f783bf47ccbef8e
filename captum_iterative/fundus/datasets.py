"""Loaders for public colour fundus datasets, each yielding :class:`FundusSample` records.

Nothing is downloaded: point each loader at the folder the user downloaded (layouts in
``docs/data.md``). Every loader is a ``torch.utils.data.Dataset`` with an optional
``transform`` (e.g. :class:`~captum_iterative.fundus.preprocess.FundusTransform`) applied to
each sample, and exposes ``ids`` and ``grades`` (lists, one entry per sample) and
``lesions`` (the lesion types it annotates) without reading any image.

Rules shared by all loaders:

- Images come back as ``(H, W, 3)`` ``uint8`` RGB (:func:`captum_iterative.io.read_image`):
  grey images are replicated to three channels, an alpha channel is dropped, 16-bit images
  are mapped to 8 bits as ``round(value / 257)`` (65535 -> 255); other pixel types and
  truncated files raise ``ValueError``.
- Lesion masks are ``(H, W)`` ``bool`` (:func:`captum_iterative.io.read_mask`: PIL
  ``convert("L") > 0``),
  checked against the image's size. Types the dataset annotates are always present (all
  ``False`` when the image has none); types it does not annotate are absent.
- The field of view is the dataset's own mask when it has one (DiaretDB1), otherwise
  :func:`~captum_iterative.fundus.preprocess.fov_mask` of the image.
- Missing or unreadable files raise ``FileNotFoundError`` or ``ValueError`` naming the file;
  nothing is skipped silently. Listed image files are checked when the dataset is built.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path, PureWindowsPath
from typing import Any, Literal

import numpy as np
from sklearn.model_selection import GroupShuffleSplit
from torch.utils.data import Dataset

from captum_iterative.fundus.preprocess import fov_mask
from captum_iterative.fundus.types import DR_LESIONS, FundusSample
from captum_iterative.io import list_images, read_gray, read_image, read_mask

__all__ = [
    "APTOS2019",
    "DIARETDB1_LESIONS",
    "DR600",
    "IDRID_LESIONS",
    "DiaretDB1",
    "EOphtha",
    "EyePACS",
    "FundusDataset",
    "IDRiD",
    "ImageMaskFolder",
    "grouped_split",
    "list_datasets",
    "open_dataset",
    "register_dataset",
]

PathLike = str | Path
Transform = Callable[[FundusSample], Any]

# --------------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------------


def _require_file(path: Path, what: str = "file") -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def _require_dir(path: Path, what: str = "folder") -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def _read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV file with header names and values stripped of surrounding spaces."""
    path = _require_file(path, "CSV file")
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


def _require_columns(rows: list[dict[str, str]], columns: Iterable[str], path: Path) -> None:
    present = set(rows[0]) if rows else set()
    missing = [column for column in columns if column not in present]
    if missing:
        raise ValueError(f"CSV file {path} lacks column(s) {missing}; found {sorted(present)}")


def _parse_grade(value: str, path: Path, image_id: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"grade {value!r} of {image_id!r} in {path} is not an integer") from None


def _image_files(folder: Path) -> list[Path]:
    """Image files below ``folder`` (recursively; :func:`~captum_iterative.io.list_images`)."""
    return list_images(folder, recursive=True)


def _check_same_shape(mask: np.ndarray, image: np.ndarray, path: Path) -> np.ndarray:
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask {path} has shape {mask.shape}, its image {image.shape[:2]}")
    return mask


def _read_lesion_masks(
    paths: Mapping[str, Path | None], shape: tuple[int, int]
) -> dict[str, np.ndarray]:
    """Lesion type -> ``(H, W)`` bool mask read from its file, all False where there is none."""
    return {
        name: np.zeros(shape, dtype=bool) if path is None else read_mask(path, shape)
        for name, path in paths.items()
    }


def _image_fov(image: np.ndarray, path: Path) -> np.ndarray:
    try:
        return fov_mask(image)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error


# --------------------------------------------------------------------------------------------
# Base class and registry
# --------------------------------------------------------------------------------------------


class FundusDataset(Dataset[Any]):
    """Base class: a list of ``ids`` and ``grades`` and a per-sample loader.

    Subclasses fill ``ids``, ``grades`` and ``lesions`` in ``__init__`` and implement
    :meth:`load`; ``__getitem__`` applies ``transform``.

    Args:
        transform (callable, optional): applied to each :class:`FundusSample`.
            Default: ``None``.
    """

    #: Lesion types whose masks the samples carry.
    lesions: tuple[str, ...] = ()

    def __init__(self, transform: Transform | None = None) -> None:
        self.transform = transform
        self.ids: list[str] = []
        self.grades: list[int | None] = []

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> Any:
        sample = self.load(index)
        return sample if self.transform is None else self.transform(sample)

    def load(self, index: int) -> FundusSample:
        """The untransformed sample ``index`` (reads its files)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} images, transform={self.transform!r})"


_REGISTRY: dict[str, Callable[..., FundusDataset]] = {}


def register_dataset(
    *names: str,
) -> Callable[[type[FundusDataset]], type[FundusDataset]]:
    """Class decorator adding a loader to :func:`open_dataset` under ``names``."""

    def add(cls: type[FundusDataset]) -> type[FundusDataset]:
        for name in names:
            key = name.lower()
            if key in _REGISTRY and _REGISTRY[key] is not cls:
                raise ValueError(f"dataset name {name!r} is already registered")
            _REGISTRY[key] = cls
        return cls

    return add


def list_datasets() -> list[str]:
    """Names accepted by :func:`open_dataset`, sorted."""
    return sorted(_REGISTRY)


def open_dataset(name: str, root: PathLike, **kwargs: Any) -> FundusDataset:
    """Open a dataset by name (case-insensitive), e.g. ``open_dataset("diaretdb1", root)``.

    Args:
        name (str): one of :func:`list_datasets`.
        root (str or Path): the dataset's folder (for ``"folder"``: the images folder).
        **kwargs: passed to the loader class.

    Returns:
        FundusDataset: the loader.

    Raises:
        ValueError: for an unknown name.
    """
    try:
        cls = _REGISTRY[name.lower()]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known: {list_datasets()}") from None
    return cls(root, **kwargs)


# --------------------------------------------------------------------------------------------
# DiaretDB1
# --------------------------------------------------------------------------------------------

#: DiaretDB1 ground-truth folder -> our lesion name.
DIARETDB1_LESIONS: dict[str, str] = {
    "hardexudates": "hard_exudates",
    "softexudates": "soft_exudates",
    "hemorrhages": "hemorrhages",
    "redsmalldots": "microaneurysms",
}
_DIARETDB1_FULL_AGREEMENT = 252


@register_dataset("diaretdb1")
class DiaretDB1(FundusDataset):
    r"""DiaretDB1 v1.1 (Kauppi et al., BMVC 2007): 89 images, 4 lesion types, no grade.

    The ground truth of each lesion type is one grey image whose level encodes how many
    experts marked a pixel: levels are multiples of 21 up to 252, and the confidence is
    ``level / 252``. A pixel belongs to the reference standard when its confidence is at
    least ``reference``; the usual 75 % standard keeps levels ``>= 189``. (Thresholding at
    ``0.75 * 255 = 191.25`` instead would silently drop every pixel at exactly 189.)

    Layout below ``root`` (``root`` may also be its ``resources`` folder)::

        resources/images/ddb1_fundusimages/image001.png ... image089.png
        resources/images/ddb1_groundtruth/{hardexudates,softexudates,hemorrhages,
                                           redsmalldots}/imageNNN.png
        resources/images/ddb1_fundusmask/fmask.tif
        resources/traindatasets/trainset.txt   (28 names)
        resources/testdatasets/testset.txt     (61 names)

    Args:
        root (str or Path): the dataset folder.
        split (str, optional): ``"all"`` (every image in ``ddb1_fundusimages``),
            ``"train"`` or ``"test"`` (the official split files). Default: ``"all"``.
        reference (float, optional): confidence in ``(0, 1]`` of the reference standard.
            Default: ``0.75``.
        transform (callable, optional): applied to each sample. Default: ``None``.

    Examples::

        >>> data = DiaretDB1(os.environ["DIARETDB1_ROOT"], split="test")  # doctest: +SKIP
        >>> sample = data[0]  # doctest: +SKIP
        >>> sample.id, sample.image.shape, sorted(sample.masks)  # doctest: +SKIP
        ('image002', (1152, 1500, 3), ['hard_exudates', 'hemorrhages', ...])
    """

    lesions = tuple(name for name in DR_LESIONS if name in DIARETDB1_LESIONS.values())

    def __init__(
        self,
        root: PathLike,
        split: Literal["all", "train", "test"] = "all",
        reference: float = 0.75,
        transform: Transform | None = None,
    ) -> None:
        super().__init__(transform)
        base = Path(root)
        if (base / "resources").is_dir():
            base = base / "resources"
        self.images_dir = _require_dir(base / "images" / "ddb1_fundusimages", "DiaretDB1 images")
        self.truth_dir = base / "images" / "ddb1_groundtruth"
        self.fov_path = _require_file(base / "images" / "ddb1_fundusmask" / "fmask.tif")
        if not 0 < reference <= 1:
            raise ValueError(f"reference must be in (0, 1], got {reference}")
        self.reference = reference
        #: Lowest ground-truth level in the reference standard (189 for 0.75).
        self.min_level = math.ceil(reference * _DIARETDB1_FULL_AGREEMENT - 1e-9)
        split_files = {
            "train": base / "traindatasets" / "trainset.txt",
            "test": base / "testdatasets" / "testset.txt",
        }
        if split == "all":
            self.ids = [path.stem for path in sorted(self.images_dir.glob("*.png"))]
        elif split in split_files:
            lines = _require_file(split_files[split], "split file").read_text().splitlines()
            self.ids = [PureWindowsPath(line.strip()).stem for line in lines if line.strip()]
        else:
            raise ValueError(f"split must be 'all', 'train' or 'test', got {split!r}")
        if not self.ids:
            raise ValueError(f"no DiaretDB1 image listed for split {split!r} under {base}")
        for image_id in self.ids:
            _require_file(self._image_path(image_id), "image file")
            for folder in DIARETDB1_LESIONS:
                _require_file(self._truth_path(folder, image_id), "ground-truth file")
        self.grades = [None] * len(self.ids)
        self._fov: np.ndarray | None = None

    def _image_path(self, image_id: str) -> Path:
        return self.images_dir / f"{image_id}.png"

    def _truth_path(self, folder: str, image_id: str) -> Path:
        return self.truth_dir / folder / f"{image_id}.png"

    def fov(self) -> np.ndarray:
        """The dataset's field-of-view mask ``fmask.tif`` as ``(H, W)`` ``bool`` (cached)."""
        if self._fov is None:
            self._fov = read_mask(self.fov_path)
        return self._fov.copy()

    def reference_masks(self, index: int) -> dict[str, np.ndarray]:
        """Lesion type -> ``(H, W)`` ``bool`` reference-standard mask of sample ``index``.

        Reads the ground truth only (not the image).
        """
        image_id = self.ids[index]
        return {
            name: read_gray(self._truth_path(folder, image_id)) >= self.min_level
            for folder, name in DIARETDB1_LESIONS.items()
        }

    def any_lesion(self, index: int) -> bool:
        """Referable proxy: does sample ``index`` have any lesion at the reference standard?

        DiaretDB1 has no ICDR grade; "some lesion of any type at the reference standard" is
        the usual stand-in for "abnormal". Decided at native resolution, before resizing.
        """
        return any(mask.any() for mask in self.reference_masks(index).values())

    def load(self, index: int) -> FundusSample:
        image_id = self.ids[index]
        image = read_image(self._image_path(image_id))
        masks = self.reference_masks(index)
        for folder, name in DIARETDB1_LESIONS.items():
            _check_same_shape(masks[name], image, self._truth_path(folder, image_id))
        fov = _check_same_shape(self.fov(), image, self.fov_path)
        return FundusSample(
            image, None, {name: masks[name] for name in self.lesions}, fov, image_id
        )


# --------------------------------------------------------------------------------------------
# IDRiD
# --------------------------------------------------------------------------------------------

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
            self._images = _image_files(_require_dir(images_dir, "IDRiD images"))
            _require_dir(truth_dir, "IDRiD ground-truth folder")
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
            images_dir = _require_dir(
                base / "1. Original Images" / _IDRID_SETS[split], "IDRiD images"
            )
            labels_dir = _require_dir(base / "2. Groundtruths", "IDRiD grading labels")
            found = sorted(labels_dir.glob(f"*{_IDRID_CSV[split]}*.csv"))
            if len(found) != 1:
                raise FileNotFoundError(
                    f"expected one *{_IDRID_CSV[split]}*.csv in {labels_dir}, found {found}"
                )
            rows = _read_csv(found[0])
            columns = ("Image name", "Retinopathy grade", "Risk of macular edema")
            _require_columns(rows, columns, found[0])
            rows = [row for row in rows if row["Image name"]]
            self.ids = [row["Image name"] for row in rows]
            self.grades = [
                _parse_grade(r["Retinopathy grade"], found[0], r["Image name"]) for r in rows
            ]
            self.edema = [
                _parse_grade(r["Risk of macular edema"], found[0], r["Image name"]) for r in rows
            ]
            self._images = [_require_file(images_dir / f"{i}.jpg", "image file") for i in self.ids]
            self._masks = [{} for _ in self.ids]
        else:
            raise ValueError(f"part must be 'segmentation' or 'grading', got {part!r}")

    def load(self, index: int) -> FundusSample:
        path = self._images[index]
        image = read_image(path)
        masks = _read_lesion_masks(self._masks[index], image.shape[:2])
        return FundusSample(
            image, self.grades[index], masks, _image_fov(image, path), self.ids[index]
        )


# --------------------------------------------------------------------------------------------
# Kaggle / EyePACS, APTOS 2019
# --------------------------------------------------------------------------------------------


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
        rows = _read_csv(labels)
        _require_columns(rows, columns, labels)
        if usage is not None:
            rows = [row for row in rows if row["Usage"] == usage]
            if not rows:
                raise ValueError(f"no row of {labels} has Usage {usage!r}")
        self.ids = [row["image"] for row in rows]
        self.grades = [_parse_grade(row["level"], labels, row["image"]) for row in rows]
        _require_dir(folder, "EyePACS images")
        self._images = [_require_file(folder / f"{i}.jpeg", "image file") for i in self.ids]

    def load(self, index: int) -> FundusSample:
        path = self._images[index]
        image = read_image(path)
        return FundusSample(image, self.grades[index], {}, _image_fov(image, path), self.ids[index])


@register_dataset("aptos2019", "aptos")
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
        rows = _read_csv(labels)
        _require_columns(rows, ["id_code"], labels)
        if drop_conflicts:
            _require_columns(rows, ["duplicate_label_conflict"], labels)
            rows = [row for row in rows if row["duplicate_label_conflict"] not in ("1", "True")]
        self.ids = [row["id_code"] for row in rows]
        self.grades = [
            _parse_grade(row["diagnosis"], labels, row["id_code"]) if "diagnosis" in row else None
            for row in rows
        ]
        self.groups = [row.get("duplicate_group") or row["id_code"] for row in rows]
        if rows and "image" in rows[0]:
            paths = [root / PureWindowsPath(row["image"]).as_posix() for row in rows]
        else:
            folder = _require_dir(root / f"{Path(csv_name).stem}_images", "APTOS images")
            paths = [folder / f"{image_id}.png" for image_id in self.ids]
        self._images = [_require_file(path, "image file") for path in paths]

    def load(self, index: int) -> FundusSample:
        path = self._images[index]
        image = read_image(path)
        return FundusSample(image, self.grades[index], {}, _image_fov(image, path), self.ids[index])


_DR600_COLUMNS = (
    "image",
    "patient",
    "eye",
    "grade",
    "maculopathy",
    "aded",
    "duplicate_label_conflict",
)


def _parse_flag(value: str, column: str, path: Path, image_id: str) -> bool:
    if value not in ("0", "1"):
        raise ValueError(f"{column} {value!r} of {image_id!r} in {path} is not 0 or 1")
    return value == "1"


@register_dataset("dr600", "dr-image-dataset")
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
        rows = _read_csv(labels)
        if not rows:
            raise ValueError(f"CSV file {labels} has no row")
        _require_columns(rows, _DR600_COLUMNS, labels)
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
            grade = _parse_grade(row["grade"], labels, image_id)
            is_aded = _parse_flag(row["aded"], "aded", labels, image_id)
            conflict = _parse_flag(
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
                else _parse_flag(row["maculopathy"], "maculopathy", labels, image_id)
            )
            self._images.append(root / PureWindowsPath(row["image"]).as_posix())
        if not self.ids:
            raise ValueError(
                f"no image of {labels} is left with aded={aded!r}, drop_conflicts={drop_conflicts}"
            )
        self.groups = self.patients
        for path in self._images:
            _require_file(path, "image file")

    def load(self, index: int) -> FundusSample:
        path = self._images[index]
        image = read_image(path)
        return FundusSample(image, self.grades[index], {}, _image_fov(image, path), self.ids[index])


def grouped_split(
    dataset_or_ids: Sequence[Any] | FundusDataset,
    groups: Sequence[Any] | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Random train/validation split that keeps each group on one side.

    Uses scikit-learn's ``GroupShuffleSplit``: ``val_fraction`` is the fraction of *groups*
    sent to validation (with mostly singleton groups, close to the fraction of samples).

    Args:
        dataset_or_ids (sequence or FundusDataset): the samples (only its length is used,
            and its ``groups`` attribute when ``groups`` is ``None``).
        groups (sequence, optional): one group label per sample. Default: ``None``
            (``dataset_or_ids.groups``, e.g. :attr:`APTOS2019.groups`, :attr:`DR600.groups`).
        val_fraction (float, optional): fraction of groups in validation, in ``(0, 1)``.
            Default: ``0.2``.
        seed (int, optional): random seed. Default: ``0``.

    Returns:
        tuple[np.ndarray, np.ndarray]: sorted ``int64`` train and validation indices.

    Examples::

        >>> train, val = grouped_split(["a", "b", "c", "d"], groups=[0, 0, 1, 2], val_fraction=0.34)
        >>> sorted(train.tolist() + val.tolist())
        [0, 1, 2, 3]
    """
    count = len(dataset_or_ids)
    if groups is None:
        groups = getattr(dataset_or_ids, "groups", None)
        if groups is None:
            raise ValueError("groups is required when dataset_or_ids has no groups attribute")
    if len(groups) != count:
        raise ValueError(f"groups has {len(groups)} entries for {count} samples")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    splitter = GroupShuffleSplit(n_splits=1, test_size=val_fraction, random_state=seed)
    train, val = next(splitter.split(np.zeros(count), groups=np.asarray(groups)))
    return np.sort(train).astype(np.int64), np.sort(val).astype(np.int64)


# --------------------------------------------------------------------------------------------
# e-ophtha, generic image + mask folders
# --------------------------------------------------------------------------------------------

_EOPHTHA_LESIONS = {"MA": "microaneurysms", "EX": "hard_exudates"}


def _index_by_stem(paths: Iterable[Path], suffix: str = "") -> dict[str, Path]:
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


@register_dataset("e-ophtha", "eophtha")
class EOphtha(FundusDataset):
    r"""e-ophtha (Decencière et al., IRBM 2013): microaneurysm or exudate annotations.

    Layout below ``root`` (``e_optha_*`` as distributed, ``e_ophtha_*`` accepted too;
    ``root`` may also be that folder itself)::

        e_optha_MA/MA/<patient>/<image>.jpg            images with microaneurysms
        e_optha_MA/healthy/<patient>/<image>.jpg       images without
        e_optha_MA/Annotation_MA/<patient>/<image>_MA.png
        e_optha_EX/{EX,healthy,Annotation_EX}/...      likewise, masks <image>_EX.png

    Images under ``healthy`` get an all-``False`` mask; every image under ``MA`` (``EX``)
    must have its mask. Exudate masks are reported as ``"hard_exudates"``. Files other than
    images (``Thumbs.db``) are ignored.

    Args:
        root (str or Path): the folder holding ``e_optha_MA``/``e_optha_EX``.
        kind (str, optional): ``"MA"`` or ``"EX"``. Default: ``"MA"``.
        healthy (bool, optional): include the healthy images. Default: ``True``.
        transform (callable, optional): applied to each sample. Default: ``None``.
    """

    def __init__(
        self,
        root: PathLike,
        kind: Literal["MA", "EX"] = "MA",
        *,
        healthy: bool = True,
        transform: Transform | None = None,
    ) -> None:
        super().__init__(transform)
        if kind not in _EOPHTHA_LESIONS:
            raise ValueError(f"kind must be 'MA' or 'EX', got {kind!r}")
        root = Path(root)
        candidates = [root / f"e_optha_{kind}", root / f"e_ophtha_{kind}", root]
        base = next((c for c in candidates if (c / f"Annotation_{kind}").is_dir()), None)
        if base is None:
            raise FileNotFoundError(
                f"e-ophtha {kind} folder not found: expected {candidates[0]} or {candidates[1]}"
            )
        self.kind = kind
        self.lesions = (_EOPHTHA_LESIONS[kind],)
        annotations = _index_by_stem(_image_files(base / f"Annotation_{kind}"), f"_{kind}")
        lesion_images = _image_files(_require_dir(base / kind, f"e-ophtha {kind} images"))
        healthy_images = _image_files(_require_dir(base / "healthy")) if healthy else []
        self._images = lesion_images + healthy_images
        self._masks: list[Path | None] = []
        for path in lesion_images:
            if path.stem not in annotations:
                raise FileNotFoundError(
                    f"mask file not found for {path}: expected {path.stem}_{kind}.* "
                    f"under {base / f'Annotation_{kind}'}"
                )
            self._masks.append(annotations[path.stem])
        self._masks += [None] * len(healthy_images)
        self.ids = list(_index_by_stem(self._images))
        self.grades = [None] * len(self.ids)

    def load(self, index: int) -> FundusSample:
        path, mask_path = self._images[index], self._masks[index]
        image = read_image(path)
        masks = _read_lesion_masks({self.lesions[0]: mask_path}, image.shape[:2])
        return FundusSample(image, None, masks, _image_fov(image, path), self.ids[index])


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
        self._images = _image_files(_require_dir(Path(images_dir), "images folder"))
        if not self._images:
            raise ValueError(f"no image file in {images_dir}")
        self.ids = list(_index_by_stem(self._images))
        self.lesions = tuple(masks or {})
        self._masks: list[dict[str, Path | None]] = [{} for _ in self._images]
        for lesion, folder in (masks or {}).items():
            index = _index_by_stem(_image_files(_require_dir(Path(folder), f"{lesion} masks")))
            for slot, image_id in zip(self._masks, self.ids, strict=True):
                slot[lesion] = self._match(image_id, index, Path(folder), missing_mask)
        if grades_csv is None:
            self.grades = [None] * len(self.ids)
        else:
            path = Path(grades_csv)
            rows = _read_csv(path)
            _require_columns(rows, [id_column, grade_column], path)
            table = {
                PureWindowsPath(row[id_column]).stem: _parse_grade(
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
        path = self._images[index]
        image = read_image(path)
        masks = _read_lesion_masks(self._masks[index], image.shape[:2])
        return FundusSample(
            image, self.grades[index], masks, _image_fov(image, path), self.ids[index]
        )

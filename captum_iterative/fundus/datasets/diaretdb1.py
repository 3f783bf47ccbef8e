"""DiaretDB1 v1.1: 89 images with four lesion types at graded expert agreement."""

from __future__ import annotations

import math
from pathlib import Path, PureWindowsPath
from typing import Literal

import numpy as np

from captum_iterative.fundus.datasets import _read
from captum_iterative.fundus.datasets.base import (
    FundusDataset,
    Transform,
    register_dataset,
)
from captum_iterative.fundus.types import DR_LESIONS, FundusSample
from captum_iterative.io import PathLike, read_gray, read_image, read_mask

__all__ = ["DIARETDB1_LESIONS", "DiaretDB1"]


#: DiaretDB1 ground-truth folder -> our lesion name.
DIARETDB1_LESIONS: dict[str, str] = {
    "hardexudates": "hard_exudates",
    "softexudates": "soft_exudates",
    "hemorrhages": "hemorrhages",
    "redsmalldots": "microaneurysms",
}
_DIARETDB1_FULL_AGREEMENT = 252


@register_dataset("diaretdb1", root_env="DIARETDB1_ROOT")
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
        self.images_dir = _read.require_dir(
            base / "images" / "ddb1_fundusimages", "DiaretDB1 images"
        )
        self.truth_dir = base / "images" / "ddb1_groundtruth"
        self.fov_path = _read.require_file(base / "images" / "ddb1_fundusmask" / "fmask.tif")
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
            lines = _read.require_file(split_files[split], "split file").read_text().splitlines()
            self.ids = [PureWindowsPath(line.strip()).stem for line in lines if line.strip()]
        else:
            raise ValueError(f"split must be 'all', 'train' or 'test', got {split!r}")
        if not self.ids:
            raise ValueError(f"no DiaretDB1 image listed for split {split!r} under {base}")
        for image_id in self.ids:
            _read.require_file(self._image_path(image_id), "image file")
            for folder in DIARETDB1_LESIONS:
                _read.require_file(self._truth_path(folder, image_id), "ground-truth file")
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
            _read.check_same_shape(masks[name], image, self._truth_path(folder, image_id))
        fov = _read.check_same_shape(self.fov(), image, self.fov_path)
        return FundusSample(
            image, None, {name: masks[name] for name in self.lesions}, fov, image_id
        )

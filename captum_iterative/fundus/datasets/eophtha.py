"""e-ophtha: microaneurysm or exudate annotations, with healthy images."""

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

__all__ = ["EOphtha"]


_EOPHTHA_LESIONS = {"MA": "microaneurysms", "EX": "hard_exudates"}


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
        annotations = _read.index_by_stem(
            _read.image_files(base / f"Annotation_{kind}"), f"_{kind}"
        )
        lesion_images = _read.image_files(_read.require_dir(base / kind, f"e-ophtha {kind} images"))
        healthy_images = _read.image_files(_read.require_dir(base / "healthy")) if healthy else []
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
        self.ids = list(_read.index_by_stem(self._images))
        self.grades = [None] * len(self.ids)

    def load(self, index: int) -> FundusSample:
        return self._read_sample(index, self._images[index], {self.lesions[0]: self._masks[index]})

"""A dataset preprocessed once and held in memory as ``uint8`` tensors, with its targets.

Training and classifier evaluation both read their images this way: each sample is
transformed to the model's input size, checked, and stored as a ``(3, S, S)`` ``uint8`` tensor
next to its target (the grade, or the referable label).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, TensorDataset
from tqdm.auto import tqdm

from captum_iterative.fundus.types import FundusSample

__all__ = ["ReferableTarget", "SampleTransform", "grade_target", "load_in_memory"]

#: ``FundusSample -> FundusSample``: the preprocessing to the model's input size.
SampleTransform = Callable[[FundusSample], FundusSample]


def grade_target(sample: FundusSample) -> int:
    if sample.grade is None:
        raise ValueError(f"sample {sample.id!r} has no grade; training needs graded images")
    return int(sample.grade)


class ReferableTarget:
    """Image-level label: ``grade >= referable_grade``, or any lesion when there is no grade."""

    def __init__(self, referable_grade: int) -> None:
        self.referable_grade = referable_grade

    def __call__(self, sample: FundusSample) -> int:
        if sample.grade is not None:
            return int(sample.grade >= self.referable_grade)
        if not sample.masks:
            raise ValueError(f"sample {sample.id!r} has neither a grade nor lesion masks")
        return int(any(bool(mask.any()) for mask in sample.masks.values()))


class _Prepared(Dataset[tuple[Tensor, int]]):
    """One sample as a ``uint8`` ``(3, S, S)`` tensor and its target.

    The target is taken before ``transform``, so lesion labels come from the masks at their
    native resolution (a small lesion may vanish when a mask is resized).
    """

    def __init__(
        self,
        dataset: Dataset[FundusSample],
        transform: SampleTransform | None,
        size: int,
        target: Callable[[FundusSample], int] = grade_target,
    ) -> None:
        self.dataset = dataset
        self.transform = transform
        self.size = size
        self.target = target

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        sample = self.dataset[index]
        target = self.target(sample)
        if self.transform is not None:
            sample = self.transform(sample)
        image = sample.image
        if image.dtype != np.uint8 or image.shape != (self.size, self.size, 3):
            raise ValueError(
                f"sample {sample.id!r}: expected a uint8 ({self.size}, {self.size}, 3) image "
                f"after preprocessing, got {image.dtype} {image.shape}; pass a `transform` "
                "that resizes to `input_size`"
            )
        return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))), target


def _first(batch: list[tuple[Tensor, int]]) -> tuple[Tensor, int]:
    return batch[0]


def load_in_memory(
    dataset: Dataset[FundusSample],
    transform: SampleTransform | None,
    *,
    size: int,
    workers: int,
    desc: str,
    progress: bool,
    target: Callable[[FundusSample], int] = grade_target,
) -> TensorDataset:
    """Preprocess every sample once: ``uint8`` ``(N, 3, S, S)`` images and ``(N,)`` targets."""
    prepared = _Prepared(dataset, transform, size, target)
    if len(prepared) == 0:
        raise ValueError(f"the {desc} dataset is empty")
    loader = DataLoader(prepared, batch_size=1, num_workers=workers, collate_fn=_first)
    images = torch.empty((len(prepared), 3, size, size), dtype=torch.uint8)
    grades = torch.empty(len(prepared), dtype=torch.int64)
    for i, (image, grade) in enumerate(tqdm(loader, desc=desc, disable=not progress)):
        images[i] = image
        grades[i] = grade
    return TensorDataset(images, grades)

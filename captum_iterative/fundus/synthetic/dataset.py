"""``SyntheticFundusDataset``: a torch ``Dataset`` of generated fundus photographs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from captum_iterative.fundus.synthetic.generator import MAX_GRADE, generate_fundus, validate_args
from captum_iterative.fundus.types import FundusSample

__all__ = ["SyntheticFundusDataset"]


class SyntheticFundusDataset(Dataset):
    """``n`` synthetic fundus photographs, generated on access (nothing is cached).

    Item ``i`` is :func:`~captum_iterative.fundus.synthetic.generate_fundus` with a seed derived
    from ``(seed, i)`` by ``numpy.random.SeedSequence``, so items are independent of each other
    and of the order (and worker process) they are read in. Items are
    :class:`~captum_iterative.fundus.types.FundusSample` records with ids like
    ``"synthetic_dr_000042"``, passed through ``transform`` when given.

    Args:
        n (int): number of images.
        size (int, optional): image side in pixels (>= 32). Default: 512
        seed (int, optional): dataset seed (>= 0). Default: 0
        mode (str, optional): ``"dr"`` or ``"amd"``. Default: ``"dr"``
        grades (None, str or Sequence[int], optional): ``None`` samples each grade from the
            mode's prevalence; ``"balanced"`` gives item ``i`` grade ``i % (max_grade + 1)``;
            a sequence of ``n`` ints fixes every item's grade. Default: None
        transform (Callable[[FundusSample], Any], optional): applied to each item.
            Default: None
        lesion_scale (float, optional): passed to ``generate_fundus``. Default: 1.0

    Examples::

        >>> from captum_iterative.fundus.synthetic import SyntheticFundusDataset
        >>> data = SyntheticFundusDataset(10, size=64, grades="balanced")
        >>> data[3].id, data[3].grade, data[3].image.shape
        ('synthetic_dr_000003', 3, (64, 64, 3))
    """

    def __init__(
        self,
        n: int,
        size: int = 512,
        seed: int = 0,
        mode: str = "dr",
        grades: str | Sequence[int] | None = None,
        transform: Callable[[FundusSample], Any] | None = None,
        lesion_scale: float = 1.0,
    ) -> None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"`n` must be an int, got {type(n).__name__}")
        if n < 0:
            raise ValueError(f"`n` must be >= 0, got {n}")
        validate_args(seed, size, mode, None, lesion_scale)
        if transform is not None and not callable(transform):
            raise TypeError(f"`transform` must be callable, got {type(transform).__name__}")
        top = MAX_GRADE[mode]
        self._grades: list[int | None]
        if grades is None:
            self._grades = [None] * int(n)
        elif isinstance(grades, str):
            if grades != "balanced":
                raise ValueError(f"`grades` must be None, 'balanced' or a sequence, got {grades!r}")
            self._grades = [i % (top + 1) for i in range(int(n))]
        else:
            fixed = list(grades)
            if len(fixed) != n:
                raise ValueError(f"`grades` must have {n} entries (one per item), got {len(fixed)}")
            for g in fixed:
                if isinstance(g, bool) or not isinstance(g, (int, np.integer)) or not 0 <= g <= top:
                    raise ValueError(f"`grades` entries must be ints in 0..{top}, got {g!r}")
            self._grades = [int(g) for g in fixed]
        self.n, self.size, self.seed, self.mode = int(n), int(size), int(seed), mode
        self.transform = transform
        self.lesion_scale = lesion_scale

    def __len__(self) -> int:
        return self.n

    @property
    def ids(self) -> list[str]:
        """Identifiers of all items, ``"synthetic_<mode>_<i:06d>"``."""
        return [self._id(i) for i in range(self.n)]

    def _id(self, index: int) -> str:
        return f"synthetic_{self.mode}_{index:06d}"

    def item_seed(self, index: int) -> int:
        """The ``generate_fundus`` seed of item ``index`` (a 63-bit int)."""
        state = np.random.SeedSequence([self.seed, index]).generate_state(2, dtype=np.uint32)
        return (int(state[0]) << 31) ^ int(state[1])

    def __getitem__(self, index: int) -> Any:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        if index < 0:
            index += self.n
        if not 0 <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.n} items")
        fundus = generate_fundus(
            self.item_seed(int(index)),
            self.size,
            mode=self.mode,
            grade=self._grades[index],
            lesion_scale=self.lesion_scale,
        )
        sample = fundus.to_sample(self._id(int(index)))
        return sample if self.transform is None else self.transform(sample)

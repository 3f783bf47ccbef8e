"""Train/validation splits that keep each group (patient, duplicate group) on one side."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.model_selection import GroupShuffleSplit

from captum_iterative.fundus.datasets.base import FundusDataset

__all__ = ["grouped_split"]


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

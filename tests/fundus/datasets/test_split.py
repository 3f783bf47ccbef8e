"""Grouped splits (``fundus.datasets.split``), on tiny replicas of the layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _helpers.dataset_replicas import FundusFactory, write_aptos_copy

from captum_iterative.fundus.datasets import (
    APTOS2019,
    grouped_split,
)


@pytest.mark.parametrize("seed", range(5))
def test_grouped_split_keeps_groups_together(seed: int) -> None:
    groups = [f"g{i // 3}" if i < 30 else f"own{i}" for i in range(100)]
    train, val = grouped_split(list(range(100)), groups, val_fraction=0.25, seed=seed)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(100))
    assert not {groups[i] for i in train} & {groups[i] for i in val}
    assert 10 <= len(val) <= 35


def test_grouped_split_reads_dataset_groups(tmp_path: Path, make_fundus: FundusFactory) -> None:
    data = APTOS2019(write_aptos_copy(tmp_path, make_fundus))
    train, val = grouped_split(data, val_fraction=0.5, seed=3)
    assert not {data.groups[i] for i in train} & {data.groups[i] for i in val}
    with pytest.raises(ValueError, match="groups"):
        grouped_split([1, 2, 3])
    with pytest.raises(ValueError, match="groups"):
        grouped_split([1, 2, 3], groups=[1, 2])
    with pytest.raises(ValueError, match="val_fraction"):
        grouped_split([1, 2, 3], groups=[1, 2, 3], val_fraction=1.0)

"""SyntheticFundusDataset (``fundus.synthetic.dataset``): order-free items, ids, grades, transforms,
DataLoader, argument checks."""

from __future__ import annotations

import numpy as np
import pytest

from captum_iterative.fundus.synthetic import (
    SyntheticFundusDataset,
)


def test_dataset_items_do_not_depend_on_access_order() -> None:
    forward = SyntheticFundusDataset(5, size=48, seed=3)
    backward = SyntheticFundusDataset(5, size=48, seed=3)
    first = [forward[i] for i in range(5)]
    second = [backward[i] for i in reversed(range(5))][::-1]
    for a, b in zip(first, second, strict=True):
        assert a.id == b.id and a.grade == b.grade
        assert np.array_equal(a.image, b.image)
    assert not np.array_equal(first[0].image, first[1].image)
    other = SyntheticFundusDataset(5, size=48, seed=4)
    assert not np.array_equal(first[0].image, other[0].image)


def test_dataset_ids_grades_and_transform() -> None:
    data = SyntheticFundusDataset(
        6, size=40, mode="amd", grades="balanced", transform=lambda s: s.grade
    )
    assert len(data) == 6
    assert data.ids[:2] == ["synthetic_amd_000000", "synthetic_amd_000001"]
    assert [data[i] for i in range(6)] == [0, 1, 2, 3, 0, 1]
    assert data[-1] == data[5]
    with pytest.raises(IndexError):
        data[6]
    fixed = SyntheticFundusDataset(3, size=40, grades=[4, 0, 2])
    assert [fixed[i].grade for i in range(3)] == [4, 0, 2]
    assert fixed[1].id == "synthetic_dr_000001"
    assert isinstance(fixed.item_seed(1), int) and fixed.item_seed(1) != fixed.item_seed(2)


def test_dataset_works_with_a_torch_dataloader() -> None:
    torch = pytest.importorskip("torch")
    data = SyntheticFundusDataset(
        4, size=32, grades="balanced", transform=lambda s: torch.from_numpy(s.image)
    )
    batch = next(iter(torch.utils.data.DataLoader(data, batch_size=4)))
    assert tuple(batch.shape) == (4, 32, 32, 3) and batch.dtype == torch.uint8


def test_dataset_bad_arguments() -> None:
    with pytest.raises(ValueError, match="`n`"):
        SyntheticFundusDataset(-1)
    with pytest.raises(ValueError, match="`size`"):
        SyntheticFundusDataset(2, size=16)
    with pytest.raises(ValueError, match="`mode`"):
        SyntheticFundusDataset(2, mode="x")
    with pytest.raises(ValueError, match="`grades`"):
        SyntheticFundusDataset(2, grades=[0])
    with pytest.raises(ValueError, match="`grades`"):
        SyntheticFundusDataset(2, mode="amd", grades=[0, 4])
    with pytest.raises(ValueError, match="`grades`"):
        SyntheticFundusDataset(2, grades="random")

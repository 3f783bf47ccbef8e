"""APTOS 2019 (``fundus.datasets.aptos``), on tiny replicas of the layout.

The real copy is used when its environment variable is set (``realdata`` marker).
"""

from __future__ import annotations

import collections
import os
from pathlib import Path

import numpy as np
import pytest
from _helpers.dataset_replicas import (
    FundusFactory,
    check_sample,
    fundus_image,
    write_aptos_copy,
    write_rgb,
    write_text,
)
from PIL import Image

from captum_iterative.fundus.datasets import (
    APTOS2019,
    grouped_split,
)


def test_aptos_copy_layout(tmp_path: Path, make_fundus: FundusFactory) -> None:
    root = write_aptos_copy(tmp_path, make_fundus)
    data = APTOS2019(root)
    assert data.ids == ["a1", "b2", "c3", "d4", "e5", "f6"]
    assert data.grades == [2, 1, 3, 0, 0, 4]
    assert data.groups == ["a1", "dup001", "dup001", "dup002", "dup002", "f6"]
    check_sample(data[5])
    assert data[5].grade == 4 and data[5].id == "f6"
    kept = APTOS2019(root, drop_conflicts=True)
    assert kept.ids == ["a1", "d4", "e5", "f6"] and kept.grades == [2, 0, 0, 4]
    assert kept.groups == ["a1", "dup002", "dup002", "f6"]


def test_aptos_official_layout(tmp_path: Path, make_fundus: FundusFactory) -> None:
    for index, image_id in enumerate(("000c1434d8d7", "001639a390f0")):
        write_rgb(tmp_path / "train_images" / f"{image_id}.png", fundus_image(make_fundus, index))
        write_rgb(tmp_path / "test_images" / f"{image_id}.png", fundus_image(make_fundus, index))
    write_text(tmp_path / "train.csv", "id_code,diagnosis\n000c1434d8d7,2\n001639a390f0,4\n")
    write_text(tmp_path / "test.csv", "id_code\n000c1434d8d7\n001639a390f0\n")
    data = APTOS2019(tmp_path)
    assert data.grades == [2, 4] and data.groups == data.ids
    np.testing.assert_array_equal(
        data[0].image, np.asarray(Image.open(tmp_path / "train_images/000c1434d8d7.png"))
    )
    assert APTOS2019(tmp_path, csv_name="test.csv").grades == [None, None]
    with pytest.raises(ValueError, match="duplicate_label_conflict"):
        APTOS2019(tmp_path, drop_conflicts=True)
    (tmp_path / "train_images" / "001639a390f0.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"001639a390f0\.png"):
        APTOS2019(tmp_path)


@pytest.mark.realdata
@pytest.mark.skipif(not os.environ.get("APTOS_ROOT"), reason="APTOS_ROOT is not set")
def test_real_aptos_counts() -> None:
    root = os.environ["APTOS_ROOT"]
    data = APTOS2019(root)
    assert len(data) == 3662
    assert collections.Counter(data.grades) == {0: 1805, 1: 370, 2: 999, 3: 193, 4: 295}
    kept = APTOS2019(root, drop_conflicts=True)
    assert len(kept) == 3600
    assert collections.Counter(kept.grades) == {0: 1801, 1: 360, 2: 976, 3: 180, 4: 283}
    train, val = grouped_split(kept)
    assert len(train) + len(val) == 3600
    assert not {kept.groups[i] for i in train} & {kept.groups[i] for i in val}
    check_sample(kept[0], (224, 224))

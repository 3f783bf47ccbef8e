"""DiaretDB1 (``fundus.datasets.diaretdb1``), on tiny replicas of the layout.

The real copy is used when its environment variable is set (``realdata`` marker).
"""

from __future__ import annotations

import collections
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from _helpers.dataset_replicas import (
    HEIGHT,
    WIDTH,
    FundusFactory,
    check_sample,
    write_diaretdb1,
    write_text,
)
from PIL import Image

from captum_iterative.fundus.datasets import (
    DiaretDB1,
)
from captum_iterative.fundus.preprocess import FundusTransform
from captum_iterative.fundus.types import DR_LESIONS

DIARETDB1_LESIONS_AT_75 = {
    "hemorrhages": 396,
    "microaneurysms": 182,
    "hard_exudates": 133,
    "soft_exudates": 27,
}


DIARETDB1_IMAGES_WITH_LESION = {
    "hemorrhages": 39,
    "microaneurysms": 39,
    "hard_exudates": 38,
    "soft_exudates": 15,
}


def test_diaretdb1_splits_and_samples(tmp_path: Path, make_fundus: FundusFactory) -> None:
    root = write_diaretdb1(tmp_path, make_fundus)
    assert DiaretDB1(root).ids == ["image001", "image002", "image003"]
    assert DiaretDB1(root, split="train").ids == ["image001"]
    assert DiaretDB1(root / "resources", split="test").ids == ["image002", "image003"]
    data = DiaretDB1(root)
    sample = data[0]
    check_sample(sample)
    assert sample.grade is None and data.grades == [None, None, None]
    assert list(sample.masks) == list(DR_LESIONS) == list(data.lesions)
    assert sample.fov.sum() == (HEIGHT - 4) * (WIDTH - 6)
    expected_image = np.asarray(Image.open(data.images_dir / "image001.png"))
    np.testing.assert_array_equal(sample.image, expected_image)


def test_diaretdb1_reference_standard_levels(tmp_path: Path, make_fundus: FundusFactory) -> None:
    root = write_diaretdb1(tmp_path, make_fundus)
    data = DiaretDB1(root)
    assert data.min_level == 189
    lesion_pixels = [int(data[i].masks["hemorrhages"].sum()) for i in range(3)]
    assert lesion_pixels == [16, 0, 16]  # 189 kept, 168 dropped, 252 kept, 21 dropped
    assert [data.any_lesion(i) for i in range(3)] == [True, False, True]
    assert [
        int(DiaretDB1(root, reference=1.0).reference_masks(i)["hemorrhages"].sum())
        for i in range(3)
    ] == [0, 0, 16]
    assert DiaretDB1(root, reference=1 / 12).min_level == 21
    assert DiaretDB1(root, reference=0.5).min_level == 126


def test_diaretdb1_transform_is_applied(tmp_path: Path, make_fundus: FundusFactory) -> None:
    data = DiaretDB1(write_diaretdb1(tmp_path, make_fundus), transform=FundusTransform(size=32))
    sample = data[2]
    check_sample(sample, (32, 32))
    assert sample.masks["hemorrhages"].any()


def test_diaretdb1_missing_and_broken_files(tmp_path: Path, make_fundus: FundusFactory) -> None:
    root = write_diaretdb1(tmp_path, make_fundus)
    truth = root / "resources/images/ddb1_groundtruth/redsmalldots/image002.png"
    truth.unlink()
    with pytest.raises(FileNotFoundError, match=r"redsmalldots/image002\.png"):
        DiaretDB1(root)
    assert len(DiaretDB1(root, split="train")) == 1
    write_text(root / "resources/images/ddb1_fundusimages/image001.png", "garbage")
    with pytest.raises(ValueError, match=r"image001\.png"):
        DiaretDB1(root, split="train")[0]
    with pytest.raises(ValueError, match="split"):
        DiaretDB1(root, split="val")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reference"):
        DiaretDB1(root, reference=0)
    with pytest.raises(FileNotFoundError, match="ddb1_fundusimages"):
        DiaretDB1(tmp_path / "elsewhere")


def test_diaretdb1_fov_size_mismatch(tmp_path: Path, make_fundus: FundusFactory) -> None:
    root = write_diaretdb1(tmp_path, make_fundus)
    Image.fromarray(np.ones((5, 5), bool)).save(root / "resources/images/ddb1_fundusmask/fmask.tif")
    with pytest.raises(ValueError, match=r"fmask\.tif"):
        DiaretDB1(root)[0]


@pytest.mark.realdata
@pytest.mark.skipif(not os.environ.get("DIARETDB1_ROOT"), reason="DIARETDB1_ROOT is not set")
def test_real_diaretdb1_counts() -> None:
    root = os.environ["DIARETDB1_ROOT"]
    data = DiaretDB1(root)
    assert len(data) == 89
    assert (len(DiaretDB1(root, split="train")), len(DiaretDB1(root, split="test"))) == (28, 61)
    components: collections.Counter[str] = collections.Counter()
    images: collections.Counter[str] = collections.Counter()
    level_189_seen = False
    for index in range(len(data)):
        masks = data.reference_masks(index)
        for name, mask in masks.items():
            components[name] += (
                cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)[0] - 1
            )
            images[name] += bool(mask.any())
        if not level_189_seen:
            gray = np.asarray(Image.open(data.truth_dir / "hemorrhages" / f"{data.ids[index]}.png"))
            if (gray == 189).any():
                assert masks["hemorrhages"][gray == 189].all()
                level_189_seen = True
    assert level_189_seen
    assert dict(components) == DIARETDB1_LESIONS_AT_75
    assert dict(images) == DIARETDB1_IMAGES_WITH_LESION
    sample = data[0]
    check_sample(sample, (1152, 1500))
    assert sample.id == "image001"
    assert (sample.fov == data.fov()).all()

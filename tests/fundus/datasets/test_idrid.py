"""IDRiD (``fundus.datasets.idrid``), on tiny replicas of the layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _helpers.dataset_replicas import (
    HEIGHT,
    WIDTH,
    FundusFactory,
    check_sample,
    fundus_image,
    write_rgb,
    write_text,
)

from captum_iterative.fundus.datasets import (
    IDRiD,
)


def _idrid(root: Path, make_fundus: FundusFactory) -> Path:
    seg = root / "A. Segmentation"
    for index, name in enumerate(("IDRiD_01", "IDRiD_02")):
        write_rgb(
            seg / "1. Original Images/a. Training Set" / f"{name}.jpg",
            fundus_image(make_fundus, index),
        )
    truth = seg / "2. All Segmentation Groundtruths/a. Training Set"
    red = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    red[5:9, 20:30, 0] = 255
    write_rgb(truth / "1. Microaneurysms/IDRiD_01_MA.tif", red)
    write_rgb(truth / "2. Haemorrhages/IDRiD_02_HE.tif", red)
    write_rgb(truth / "5. Optic Disc/IDRiD_01_OD.tif", red)
    (truth / "3. Hard Exudates").mkdir()
    grading = root / "B. Disease Grading"
    for index, name in enumerate(("IDRiD_001", "IDRiD_002", "IDRiD_003")):
        write_rgb(
            grading / "1. Original Images/b. Testing Set" / f"{name}.jpg",
            fundus_image(make_fundus, index),
        )
    write_text(
        grading / "2. Groundtruths/b. IDRiD_Disease Grading_Testing Labels.csv",
        "Image name,Retinopathy grade,Risk of macular edema ,,\n"
        "IDRiD_001,4,2,,\nIDRiD_002,0,0,,\nIDRiD_003,2,1,,\n,,,,\n",
    )
    return root


def test_idrid_segmentation(tmp_path: Path, make_fundus: FundusFactory) -> None:
    data = IDRiD(_idrid(tmp_path, make_fundus))
    assert data.ids == ["IDRiD_01", "IDRiD_02"] and data.grades == [None, None]
    assert data.lesions == ("microaneurysms", "hemorrhages", "hard_exudates", "soft_exudates")
    first, second = data[0], data[1]
    check_sample(first)
    assert first.masks["microaneurysms"].sum() == 40
    assert not first.masks["hemorrhages"].any()  # missing file: empty mask
    assert second.masks["hemorrhages"].sum() == 40
    assert "optic_disc" not in first.masks
    with_disc = IDRiD(tmp_path, optic_disc=True)[0]
    assert with_disc.masks["optic_disc"].sum() == 40


def test_idrid_grading_csv_with_trailing_space(tmp_path: Path, make_fundus: FundusFactory) -> None:
    data = IDRiD(_idrid(tmp_path, make_fundus), part="grading", split="test")
    assert data.ids == ["IDRiD_001", "IDRiD_002", "IDRiD_003"]
    assert data.grades == [4, 0, 2] and data.edema == [2, 0, 1]
    sample = data[2]
    check_sample(sample)
    assert sample.grade == 2 and sample.masks == {}
    with pytest.raises(FileNotFoundError, match="Training"):
        IDRiD(tmp_path, part="grading", split="train")
    with pytest.raises(ValueError, match="part"):
        IDRiD(tmp_path, part="both")  # type: ignore[arg-type]

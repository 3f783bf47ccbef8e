"""EyePACS (``fundus.datasets.eyepacs``), on tiny replicas of the layouts."""

from __future__ import annotations

from pathlib import Path

import pytest
from _helpers.dataset_replicas import (
    FundusFactory,
    check_sample,
    fundus_image,
    write_rgb,
    write_text,
)

from captum_iterative.fundus.datasets import (
    EyePACS,
)


def _eyepacs(root: Path, make_fundus: FundusFactory) -> Path:
    for index, name in enumerate(("10_left", "10_right")):
        write_rgb(root / "train" / f"{name}.jpeg", fundus_image(make_fundus, index))
    for index, name in enumerate(("1_left", "1_right", "2_left")):
        write_rgb(root / "test" / f"{name}.jpeg", fundus_image(make_fundus, index))
    write_text(root / "trainLabels.csv", "image,level\n10_left,0\n10_right,3\n")
    write_text(
        root / "retinopathy_solution.csv",
        "image,level,Usage\n1_left,0,Private\n1_right,2,Public\n2_left,4,Private\n",
    )
    return root


def test_eyepacs_train_and_test(tmp_path: Path, make_fundus: FundusFactory) -> None:
    root = _eyepacs(tmp_path, make_fundus)
    train = EyePACS(root)
    assert train.ids == ["10_left", "10_right"] and train.grades == [0, 3]
    check_sample(train[1])
    assert train[1].grade == 3
    assert EyePACS(root, split="test").grades == [0, 2, 4]
    private = EyePACS(root, split="test", usage="Private")
    assert private.ids == ["1_left", "2_left"]
    (root / "test" / "2_left.jpeg").unlink()
    with pytest.raises(FileNotFoundError, match=r"2_left\.jpeg"):
        EyePACS(root, split="test")
    with pytest.raises(ValueError, match="usage"):
        EyePACS(root, usage="Public")

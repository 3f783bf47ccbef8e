"""Image and mask folders (``fundus.datasets.folder``), on tiny replicas of the layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _helpers.dataset_replicas import (
    HEIGHT,
    WIDTH,
    FundusFactory,
    check_sample,
    write_folder,
    write_gray,
    write_text,
)

from captum_iterative.fundus.datasets import (
    ImageMaskFolder,
)


def test_image_mask_folder(tmp_path: Path, make_fundus: FundusFactory) -> None:
    root = write_folder(tmp_path, make_fundus)
    masks = {"drusen": root / "drusen", "atrophy": root / "atrophy"}
    data = ImageMaskFolder(root / "images", masks, root / "grades.csv")
    assert data.ids == ["a", "b"] and data.grades == [1, 3]
    assert data.lesions == ("drusen", "atrophy")
    first, second = data[0], data[1]
    check_sample(first)
    assert first.masks["drusen"].sum() == 6 and not first.masks["atrophy"].any()
    assert second.masks["atrophy"].sum() == 6 and not second.masks["drusen"].any()
    assert ImageMaskFolder(root / "images").grades == [None, None]
    with pytest.raises(FileNotFoundError, match="'b'"):
        ImageMaskFolder(root / "images", {"drusen": root / "drusen"}, missing_mask="error")
    write_gray(root / "drusen" / "a_other.png", np.zeros((HEIGHT, WIDTH)))
    with pytest.raises(ValueError, match="several masks"):
        ImageMaskFolder(root / "images", {"drusen": root / "drusen"})
    write_text(root / "partial.csv", "image,grade\na,1\n")
    with pytest.raises(ValueError, match="no grade"):
        ImageMaskFolder(root / "images", grades_csv=root / "partial.csv")

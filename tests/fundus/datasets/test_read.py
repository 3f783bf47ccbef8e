"""Reading dataset files (``fundus.datasets._read``): sizes, fields of view, names in errors, on tiny replicas of the layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _helpers.dataset_replicas import FundusFactory, write_folder, write_gray, write_rgb

from captum_iterative.fundus.datasets import (
    ImageMaskFolder,
)
from captum_iterative.fundus.preprocess import fov_mask


def test_mask_size_mismatch_names_the_mask(tmp_path: Path, make_fundus: FundusFactory) -> None:
    root = write_folder(tmp_path, make_fundus)
    write_gray(root / "atrophy" / "b.png", np.zeros((3, 3)))
    data = ImageMaskFolder(root / "images", {"atrophy": root / "atrophy"})
    with pytest.raises(ValueError, match=r"atrophy/b.png"):
        data[1]


def test_image_without_field_of_view_names_the_file(tmp_path: Path) -> None:
    write_rgb(tmp_path / "images" / "dark.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r"dark.png.*field of view"):
        ImageMaskFolder(tmp_path / "images")[0]


def test_fov_is_detected_for_datasets_without_a_mask(
    tmp_path: Path, make_fundus: FundusFactory
) -> None:
    root = write_folder(tmp_path, make_fundus)
    sample = ImageMaskFolder(root / "images")[0]
    np.testing.assert_array_equal(sample.fov, fov_mask(sample.image))

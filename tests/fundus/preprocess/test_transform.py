"""The dataset transform (``fundus.preprocess.transform``)."""

from __future__ import annotations

import numpy as np
from _helpers.preprocess import FundusFactory, disc

from captum_iterative.fundus.preprocess import (
    FundusTransform,
    fov_mask,
    preprocess_fundus,
)
from captum_iterative.fundus.types import FundusSample


def test_fundus_transform_maps_sample_into_preprocessed_frame(
    make_fundus: FundusFactory,
) -> None:
    image = make_fundus(200, 240, radius=90)
    fov = fov_mask(image)
    lesion = disc(200, 240, (80, 150), 6)
    sample = FundusSample(image, 3, {"microaneurysms": lesion}, fov, "x1")
    out = FundusTransform(size=72)(sample)
    expected = preprocess_fundus(image, 72, fov=fov, masks={"microaneurysms": lesion})
    assert (out.grade, out.id) == (3, "x1")
    np.testing.assert_array_equal(out.image, expected.image)
    np.testing.assert_array_equal(out.fov, expected.fov)
    np.testing.assert_array_equal(out.masks["microaneurysms"], expected.masks["microaneurysms"])
    assert "size=72" in repr(FundusTransform(size=72))

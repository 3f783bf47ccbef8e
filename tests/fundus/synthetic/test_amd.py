"""AMD lesions (``fundus.synthetic.amd``): drusen sizes follow their class."""

from __future__ import annotations

import pytest

from captum_iterative.fundus.synthetic import (
    generate_fundus,
)
from captum_iterative.fundus.synthetic.anatomy import DISC_DIAMETER_UM
from captum_iterative.fundus.synthetic.grading import drusen_kind


def test_drusen_sizes_follow_their_class() -> None:
    f = generate_fundus(6, 512, mode="amd", grade=2)
    px_per_um = 2 * f.disc_radius / DISC_DIAMETER_UM
    drusen = [lesion for lesion in f.lesions if lesion.type == "drusen"]
    assert drusen
    for d in drusen:
        assert d.kind == drusen_kind(d.diameter_um)
        assert d.radius == pytest.approx(max(0.75, d.diameter_um / 2 * px_per_um))

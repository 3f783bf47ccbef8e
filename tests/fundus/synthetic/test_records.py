"""The generator's records (``fundus.synthetic.records``): a SyntheticFundus as a FundusSample."""

from __future__ import annotations

from captum_iterative.fundus.synthetic import (
    generate_fundus,
)
from captum_iterative.fundus.types import FundusSample


def test_to_sample() -> None:
    f = generate_fundus(42, 64, grade=2)
    sample = f.to_sample()
    assert isinstance(sample, FundusSample)
    assert sample.id == "synthetic_dr_000042" and sample.grade == 2
    assert sample.image is f.image and sample.masks is f.masks and sample.fov is f.fov
    assert f.to_sample("custom").id == "custom"

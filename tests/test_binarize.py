"""Otsu binarization: agreement with scikit-image, fields of view, degenerate maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from skimage.filters import threshold_otsu

from captum_iterative import binarize, binarize_otsu, otsu_threshold
from captum_iterative.binarize import get_binarizer, list_binarizers, map_range, register_binarizer

finite = st.floats(-1e3, 1e3, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float32, st.tuples(st.integers(2, 24), st.integers(2, 24)), elements=finite),
    st.sampled_from([np.float32, np.float64]),
)
def test_otsu_matches_scikit_image(image: np.ndarray, dtype: type) -> None:
    image = image.astype(dtype)
    ours = otsu_threshold(torch.from_numpy(image)[None, None])
    assert ours.dtype == torch.from_numpy(image).dtype
    try:
        expected = float(threshold_otsu(image))
    except ValueError as error:  # numpy cannot cut a range of a few subnormals into 256 bins
        assert "Too many bins" in str(error)
        assert image.min() <= ours.item() <= image.max()
        return
    assert ours.item() == expected


def test_otsu_matches_scikit_image_on_a_subnormal_range() -> None:
    # found by hypothesis: scikit-image scores float32 maps in float32, where these products
    # underflow; a float64 score picked another bin
    image = np.array([[3e-45, 1e-40, 5e-41], [0.0, 0.0, 2e-41]], dtype=np.float32)
    assert otsu_threshold(torch.from_numpy(image)[None, None]).item() == threshold_otsu(image)


@pytest.mark.parametrize("seed", [2173, 4814])
def test_otsu_matches_scikit_image_at_float32_near_ties(seed: int) -> None:
    # maps where torch's CPU cumsum (float64 accumulation) and numpy's (float32, one add after
    # the other) pick different bins: 2.471 and 2.441 against scikit-image's 2.509 and 2.508
    rng = np.random.default_rng(seed)
    image = rng.gamma(2, size=(rng.integers(2, 40), rng.integers(2, 40))).astype(np.float32)
    assert otsu_threshold(torch.from_numpy(image)[None, None]).item() == threshold_otsu(image)


def test_otsu_batched_equals_per_image() -> None:
    rng = np.random.default_rng(1)
    maps = rng.gamma(2.0, size=(5, 1, 31, 17)).astype(np.float32)
    batched = otsu_threshold(torch.from_numpy(maps))
    expected = [float(threshold_otsu(m[0])) for m in maps]
    assert batched.tolist() == pytest.approx(expected, abs=0, rel=0)


def test_otsu_on_valid_pixels_only() -> None:
    rng = np.random.default_rng(2)
    maps = rng.random((2, 1, 20, 20))
    valid = np.zeros_like(maps, dtype=bool)
    valid[:, :, 5:15, 3:18] = True
    maps[~valid] = 1e6  # would dominate the histogram if it were used
    thr = otsu_threshold(torch.from_numpy(maps), torch.from_numpy(valid))
    for i in range(2):
        assert thr[i].item() == float(threshold_otsu(maps[i][valid[i]]))
    masks = binarize_otsu(torch.from_numpy(maps), torch.from_numpy(valid))
    assert not masks[~torch.from_numpy(valid)].any()


def test_constant_and_non_finite_maps() -> None:
    maps = torch.zeros(3, 1, 8, 8)
    maps[0] = 2.5
    maps[1, 0, 3, 3] = float("nan")
    maps[2] = torch.linspace(0, 1, 64).view(8, 8)
    thr = otsu_threshold(maps)
    assert thr[0].item() == 2.5  # scikit-image returns the constant value
    assert torch.isnan(thr[1])
    assert thr[2].item() == pytest.approx(float(threshold_otsu(maps[2, 0].numpy())))
    masks = binarize_otsu(maps)
    assert not masks[1].any()


def test_binarize_is_maps_at_least_threshold() -> None:
    maps = torch.rand(4, 1, 16, 16, dtype=torch.float64)
    thr = otsu_threshold(maps)
    assert torch.equal(binarize_otsu(maps), maps >= thr.view(-1, 1, 1, 1))


def test_three_dimensional_maps_are_accepted() -> None:
    maps = torch.rand(2, 10, 10)
    assert torch.equal(otsu_threshold(maps), otsu_threshold(maps[:, None]))


def test_map_range_with_valid() -> None:
    maps = torch.arange(16.0).view(1, 1, 4, 4)
    valid = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    valid[..., 1:3, 1:3] = True
    lo, hi = map_range(maps, valid)
    assert (lo.item(), hi.item()) == (5.0, 10.0)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"maps": torch.rand(2, 3, 4, 4)}, ValueError, "maps"),
        ({"maps": np.zeros((1, 1, 4, 4))}, TypeError, "maps"),
        ({"maps": torch.rand(1, 1, 4, 4), "bins": 1}, ValueError, "bins"),
        ({"maps": torch.rand(1, 1, 4, 4), "valid": torch.ones(1, 1, 4, 4)}, TypeError, "valid"),
        (
            {"maps": torch.rand(1, 1, 4, 4), "valid": torch.ones(1, 1, 5, 4, dtype=torch.bool)},
            ValueError,
            "valid",
        ),
    ],
)
def test_bad_input_names_the_argument(kwargs: dict, error: type, name: str) -> None:
    with pytest.raises(error, match=name):
        otsu_threshold(**kwargs)


def test_get_binarizer() -> None:
    assert get_binarizer("otsu") is binarize_otsu
    assert get_binarizer(binarize_otsu) is binarize_otsu
    with pytest.raises(
        ValueError, match=r"`binarizer` must be one of \['otsu'\] or a callable, got 'triangle'"
    ):
        get_binarizer("triangle")
    with pytest.raises(TypeError, match="binarizer"):
        get_binarizer(3)  # type: ignore[arg-type]


def test_register_binarizer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(binarize._BINARIZERS, "_entries", dict(binarize._BINARIZERS._entries))

    @register_binarizer("positive")
    def positive(maps: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
        return maps > 0

    assert get_binarizer("positive") is positive
    assert list_binarizers() == ["otsu", "positive"]
    assert register_binarizer("positive")(positive) is positive
    with pytest.raises(ValueError, match="binarizer name 'otsu' is already registered"):
        register_binarizer("otsu")(positive)
    with pytest.raises(TypeError, match="non-empty string"):
        register_binarizer("")(positive)

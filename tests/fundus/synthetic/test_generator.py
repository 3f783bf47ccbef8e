"""generate_fundus (``fundus.synthetic.generator``): determinism, shapes, requested and sampled
grades, invariants over seeds, argument checks."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers.synthetic import MODES, components
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from captum_iterative.fundus.synthetic import (
    SyntheticFundus,
    generate_fundus,
    grade_dr,
    stage_amd,
)


def _same(a: SyntheticFundus, b: SyntheticFundus) -> bool:
    return (
        np.array_equal(a.image, b.image)
        and all(np.array_equal(a.masks[k], b.masks[k]) for k in a.masks)
        and np.array_equal(a.fov, b.fov)
        and a.counts == b.counts
        and a.grade == b.grade
        and a.lesions == b.lesions
    )


@pytest.mark.parametrize("mode", ["dr", "amd"])
def test_same_seed_is_bit_identical(mode: str) -> None:
    first = generate_fundus(11, 96, mode=mode)
    second = generate_fundus(11, 96, mode=mode)
    assert _same(first, second)


def test_different_seeds_differ() -> None:
    images = [generate_fundus(seed, 64, grade=0).image for seed in range(4)]
    for i in range(4):
        for j in range(i + 1, 4):
            assert not np.array_equal(images[i], images[j])


def test_generation_does_not_touch_global_random_state() -> None:
    np.random.seed(3)  # noqa: NPY002 (the legacy global state is what is checked)
    expected = np.random.random(3)  # noqa: NPY002
    np.random.seed(3)  # noqa: NPY002
    generate_fundus(5, 64)
    assert np.array_equal(np.random.random(3), expected)  # noqa: NPY002


@pytest.mark.parametrize("size", [32, 63, 64, 97, 128])
@pytest.mark.parametrize("mode", ["dr", "amd"])
def test_shapes_and_dtypes(size: int, mode: str) -> None:
    types, top = MODES[mode]
    f = generate_fundus(size, size, mode=mode, grade=top)
    assert f.image.shape == (size, size, 3) and f.image.dtype == np.uint8
    assert f.fov.shape == (size, size) and f.fov.dtype == np.bool_
    assert f.vessels.shape == (size, size) and f.vessels.dtype == np.bool_
    assert tuple(f.masks) == types and tuple(f.counts) == types
    for mask in [*f.masks.values(), *f.extra_masks.values()]:
        assert mask.shape == (size, size) and mask.dtype == np.bool_
    assert set(f.extra_masks) == ({"neovascularization"} if mode == "dr" else set())
    assert all(isinstance(n, int) for n in f.counts.values())


@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.sampled_from([48, 64, 81]),
    mode=st.sampled_from(["dr", "amd"]),
)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_invariants_over_seeds(seed: int, size: int, mode: str) -> None:
    types, top = MODES[mode]
    f = generate_fundus(seed, size, mode=mode, grade_weights="balanced")
    assert 0 <= f.grade <= top
    rule = grade_dr if mode == "dr" else stage_amd
    assert rule(f.lesions, f.fovea_center) == f.grade
    for t in types:
        assert not (f.masks[t] & ~f.fov).any()
        assert f.masks[t].any() == (f.counts[t] > 0)
        assert components(f.masks[t]) <= f.counts[t]
        assert f.counts[t] == sum(lesion.type == t for lesion in f.lesions)
    for lesion in f.lesions:
        assert f.fov[round(lesion.center[1]), round(lesion.center[0])]


@pytest.mark.parametrize(
    ("mode", "grade"), [("dr", g) for g in range(5)] + [("amd", g) for g in range(4)]
)
def test_requested_grade_is_honoured(mode: str, grade: int) -> None:
    rule = grade_dr if mode == "dr" else stage_amd
    for seed in range(6):
        f = generate_fundus(seed, 96, mode=mode, grade=grade)
        assert f.grade == grade
        assert rule(f.lesions, f.fovea_center) == grade


@pytest.mark.parametrize("mode", ["dr", "amd"])
def test_grade_zero_has_empty_masks(mode: str) -> None:
    for seed in range(3):
        f = generate_fundus(seed, 80, mode=mode, grade=0)
        assert not any(m.any() for m in f.masks.values())
        assert not any(m.any() for m in f.extra_masks.values())
        assert set(f.counts.values()) == {0} and f.lesions == ()


def test_sampled_grades_follow_the_weights() -> None:
    grades = [generate_fundus(s, 32, grade_weights=(0, 0, 1, 0, 1)).grade for s in range(12)]
    assert set(grades) == {2, 4}
    prevalence = [generate_fundus(s, 32).grade for s in range(40)]
    assert prevalence.count(0) > prevalence.count(3)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"size": 31}, "size"),
        ({"mode": "glaucoma"}, "mode"),
        ({"grade": 5}, "grade"),
        ({"grade": -1}, "grade"),
        ({"mode": "amd", "grade": 4}, "grade"),
        ({"lesion_scale": 0.0}, "lesion_scale"),
        ({"lesion_scale": float("nan")}, "lesion_scale"),
        ({"grade_weights": "uniform"}, "grade_weights"),
        ({"grade_weights": (1, 1)}, "grade_weights"),
        ({"grade_weights": (0, 0, 0, 0, 0)}, "grade_weights"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=f"`{name}`"):
        generate_fundus(0, **{"size": 64, **kwargs})


def test_bad_types_and_seed() -> None:
    with pytest.raises(ValueError, match="`seed`"):
        generate_fundus(-1, 64)
    with pytest.raises(TypeError, match="`seed`"):
        generate_fundus(1.5, 64)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`size`"):
        generate_fundus(0, 64.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`grade`"):
        generate_fundus(0, 64, grade=True)  # type: ignore[arg-type]

"""The input contracts shared by the package (``_checks``): one rule for integers and sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from captum_iterative._checks import (
    check_non_negative_int,
    check_positive_int,
    check_real,
    check_size_2d,
    check_valid,
    to_numpy,
)
from captum_iterative.fundus.preprocess import resize_mask


@pytest.mark.parametrize("value", [3, np.int64(3), np.uint8(3), np.int32(3)])
def test_python_and_numpy_integers_are_integers(value: object) -> None:
    out = check_positive_int(value, "n")
    assert out == 3 and type(out) is int


@pytest.mark.parametrize("value", [True, np.bool_(True), 3.0, np.float64(3.0), "3", None])
def test_bools_floats_and_others_are_not(value: object) -> None:
    with pytest.raises(TypeError, match="`n` must be an int"):
        check_positive_int(value, "n")


def test_non_negative_ints_take_zero_and_positive_ones_do_not() -> None:
    assert check_non_negative_int(np.int64(0), "n") == 0
    with pytest.raises(ValueError, match=r"`n` must be >= 0, got -1"):
        check_non_negative_int(-1, "n")
    with pytest.raises(TypeError, match="`n` must be an int"):
        check_non_negative_int(True, "n")
    with pytest.raises(ValueError, match=r"`n` must be >= 1, got 0"):
        check_positive_int(0, "n")


def test_the_same_rule_holds_where_sizes_are_read() -> None:
    """``np.integer`` is accepted by every size check, not refused by some."""
    mask = np.ones((4, 4), dtype=bool)
    assert resize_mask(mask, np.int64(2)).shape == (2, 2)
    with pytest.raises(ValueError, match=r"`size` must be >= 1, got 0"):
        resize_mask(mask, np.int64(0))
    assert check_size_2d(np.int16(5)) == (5, 5)
    assert check_size_2d((np.int64(2), 7)) == (2, 7)
    with pytest.raises(TypeError, match="`size` must be an int or a"):
        check_size_2d((2, 7.0))


def test_check_real_and_check_valid() -> None:
    assert check_real(np.float32(0.5), "r", minimum=0.0) == 0.5
    with pytest.raises(ValueError, match=r"`r` must be finite and >= 0"):
        check_real(float("nan"), "r", minimum=0.0)
    with pytest.raises(TypeError, match="`r` must be a real number"):
        check_real(True, "r", minimum=0.0)
    images = torch.zeros(2, 3, 4, 4)
    valid = torch.ones(2, 1, 4, 4, dtype=torch.bool)
    valid[1] = False
    assert check_valid(None, images) is None
    with pytest.raises(ValueError, match=r"`valid` has no pixel for image\(s\) \[1\]"):
        check_valid(valid, images)


def test_to_numpy_is_the_one_conversion() -> None:
    half = torch.tensor([1.5, 2.25], dtype=torch.bfloat16)
    out = to_numpy(half)
    assert out.dtype == np.float32 and out.tolist() == [1.5, 2.25]
    assert to_numpy([1, 2], dtype=np.float64).dtype == np.float64
    assert to_numpy("kept") == "kept"
    grad = torch.ones(2, requires_grad=True) * 2
    assert to_numpy(grad).tolist() == [2.0, 2.0]

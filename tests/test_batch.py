"""The loop's per-call arguments (``captum_iterative._batch``): targets checked once into the form
the loop slices, per-image extra arguments and keywords sliced with the images (against a slicing
written out per entry), and the one-image-tensor rule for ``inputs``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from captum_iterative._batch import (
    BatchArguments,
    check_additional_forward_args,
    check_target,
    single_input,
)

CPU = torch.device("cpu")


# -- check_target ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (None, None),
        (3, 3),
        (np.int64(2), 2),
        (torch.tensor(4), 4),
        (torch.tensor([5]), 5),
        ((1, 2), (1, 2)),
        ((np.int32(0), 7), (0, 7)),
    ],
)
def test_scalar_and_tuple_targets_become_python_ints(target: object, expected: object) -> None:
    out = check_target(target, 3, CPU)
    assert out == expected
    assert type(out) is type(expected)
    if isinstance(out, tuple):
        assert all(type(i) is int for i in out)


@pytest.mark.parametrize(
    "per_image",
    [[2, 0, 1], [np.int64(2), 0, np.int8(1)], torch.tensor([2, 0, 1], dtype=torch.int32)],
)
def test_per_image_targets_become_a_long_tensor(per_image: object) -> None:
    out = check_target(per_image, 3, CPU)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.long
    assert out.tolist() == [2, 0, 1]


def test_a_list_of_tuples_stays_a_list_of_int_tuples() -> None:
    out = check_target([(0, 1), (np.int64(2), 3)], 2, CPU)
    assert out == [(0, 1), (2, 3)] and all(type(i) is int for t in out for i in t)


@pytest.mark.parametrize(
    ("target", "error", "match"),
    [
        (True, TypeError, "must be an int, tuple, tensor or list, got bool"),
        (1.0, TypeError, "got float"),
        ("0", TypeError, "got str"),
        (torch.tensor([0.0, 1.0, 2.0]), TypeError, "integer indices, got a torch.float32"),
        (torch.tensor([True, False, True]), TypeError, "torch.bool"),
        (
            torch.tensor([0, 1]),
            ValueError,
            r"one index per image \(3\), got a tensor of shape \(2,\)",
        ),
        (torch.zeros(3, 1, dtype=torch.long), ValueError, r"shape \(3, 1\)"),
        ((0, 1.5), TypeError, "tuple entries must be ints"),
        ((0, True), TypeError, "tuple entries must be ints"),
        ([0, 1], ValueError, "has 2 entries for 3 images"),
        ([0, 1.0, 2], TypeError, "list entries must be ints, or tuples of ints"),
        ([(0, 1), 2, (1, 1)], TypeError, "list entries"),
    ],
)
def test_bad_targets_are_refused_with_what_was_given(
    target: object, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        check_target(target, 3, CPU)


# -- check_additional_forward_args and single_input ----------------------------------------------


def test_additional_forward_args_become_a_tuple_and_are_checked_per_image() -> None:
    assert check_additional_forward_args(None, 3) is None
    scale = torch.ones(3, 2)
    assert check_additional_forward_args(scale, 3) == (scale,)
    both = (scale, "mode", torch.tensor(1.0))
    assert check_additional_forward_args(both, 3) is both  # scalars and non-tensors pass
    with pytest.raises(ValueError, match=r"`additional_forward_args\[1\]` has batch size 2 for 3"):
        check_additional_forward_args(("mode", torch.ones(2)), 3)


def test_single_input_unwraps_a_one_element_tuple_only() -> None:
    x = torch.zeros(1, 3, 4, 4)
    assert single_input(x) is x
    assert single_input((x,)) is x
    with pytest.raises(ValueError, match=r"tuple of 2 tensors.*additional_forward_args"):
        single_input((x, x))


# -- BatchArguments.select ---------------------------------------------------------------------


@given(
    n=st.integers(1, 6),
    data=st.data(),
    target_kind=st.sampled_from(["none", "int", "list", "tensor", "tuples"]),
)
@settings(max_examples=40, deadline=None)
def test_select_slices_per_image_entries_like_indexing_each(
    n: int, data: st.DataObject, target_kind: str
) -> None:
    keep = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
    index = torch.tensor(sorted(keep))
    images = torch.rand(n, 2, 5, 5)
    targets = [data.draw(st.integers(0, 9)) for _ in range(n)]
    target = {
        "none": None,
        "int": 4,
        "list": targets,
        "tensor": torch.tensor(targets),
        "tuples": [(t, 0) for t in targets],
    }[target_kind]
    per_image = torch.arange(n * 3.0).reshape(n, 3)
    shared = torch.tensor(2.0)  # a scalar: passed whole
    baseline = torch.rand(n, 2, 5, 5)
    flat = torch.rand(n)  # batch-sized, but not image-shaped: a keyword passed whole
    args = BatchArguments(
        n, target, (per_image, shared, "x"), {"baselines": baseline, "flat": flat, "k": 3}, images
    )
    got_target, got_args, got_kwargs = args.select(index)
    rows = index.tolist()
    if target_kind == "none":
        assert got_target is None
    elif target_kind == "int":
        assert got_target == 4
    elif target_kind == "tensor" and n == 1:  # a one-element tensor is read once as an int
        assert got_target == targets[0] and type(got_target) is int
    elif target_kind == "tuples":
        assert got_target == [(targets[i], 0) for i in rows]
    else:
        assert isinstance(got_target, torch.Tensor) and got_target.tolist() == [
            targets[i] for i in rows
        ]
    assert torch.equal(got_args[0], per_image[rows])
    assert got_args[1] is shared
    assert got_args[2] == "x"
    assert torch.equal(got_kwargs["baselines"], baseline[rows])
    assert got_kwargs["flat"] is flat and got_kwargs["k"] == 3


def test_nested_tuples_are_sliced_and_volumes_count_as_image_shaped() -> None:
    volumes = torch.rand(3, 1, 2, 4, 4)
    inner = (torch.arange(3), (torch.arange(6).reshape(3, 2), 1.5))
    args = BatchArguments(3, None, inner, {"baselines": torch.zeros_like(volumes)}, volumes)
    _, extra, kwargs = args.select(torch.tensor([2, 0]))
    assert extra[0].tolist() == [2, 0]
    assert extra[1][0].tolist() == [[4, 5], [0, 1]] and extra[1][1] == 1.5
    assert kwargs["baselines"].shape == (2, 1, 2, 4, 4)


def test_a_bad_target_is_refused_when_the_arguments_are_built() -> None:
    with pytest.raises(ValueError, match="has 1 entries for 2 images"):
        BatchArguments(2, [0], None, {}, torch.rand(2, 1, 4, 4))

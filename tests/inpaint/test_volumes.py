"""Inpainting volumes (N, C, D, H, W): the 3-D pyramid, 3-D dilation, OpenCV's refusal."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils._python_dispatch import TorchDispatchMode

from captum_iterative.inpaint import (
    PyramidInpainter,
    dilate_masks,
    push_pull_fill,
)
from captum_iterative.inpaint.pyramid import _relax


def _case(n: int = 2, c: int = 2, d: int = 9, h: int = 12, w: int = 10, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, c, d, h, w, generator=g, dtype=torch.float64)
    masks = torch.rand(n, 1, d, h, w, generator=g) > 0.7
    return images, masks


def test_volume_constant_along_depth_is_filled_like_its_slices_without_sweeps() -> None:
    # With no Jacobi sweeps, the 3-D pyramid of a volume whose every slice is the same image (and
    # mask) holds the 2-D pyramid's values: the depth factor of the separable filter multiplies
    # the weighted sums and the weights alike, and trilinear upsampling of depth-constant data is
    # bilinear per slice. Equal up to float64 rounding of the extra products.
    g = torch.Generator().manual_seed(1)
    image = torch.rand(1, 3, 20, 17, generator=g, dtype=torch.float64)
    mask = torch.rand(1, 1, 20, 17, generator=g) > 0.6
    depth = 11
    volume = image[:, :, None].expand(-1, -1, depth, -1, -1).contiguous()
    masks = mask[:, :, None].expand(-1, -1, depth, -1, -1).contiguous()
    flat = push_pull_fill(image, mask, smoothing_sweeps=0, min_size=2)
    filled = push_pull_fill(volume, masks, smoothing_sweeps=0, min_size=2)
    for z in range(depth):
        torch.testing.assert_close(filled[:, :, z], flat, rtol=0, atol=1e-12)


def test_relax_is_the_six_neighbour_jacobi_sweep() -> None:
    value = torch.rand(1, 1, 5, 6, 4, dtype=torch.float64)
    holes = torch.rand(1, 1, 5, 6, 4) > 0.5
    padded = np.pad(value[0, 0].numpy(), 1, mode="edge")
    mean = (
        sum(
            np.roll(padded, shift, axis)[1:-1, 1:-1, 1:-1] for axis in range(3) for shift in (1, -1)
        )
        / 6
    )
    expected = np.where(holes[0, 0].numpy(), mean, value[0, 0].numpy())
    np.testing.assert_allclose(_relax(value, holes, 1)[0, 0].numpy(), expected, rtol=0, atol=1e-15)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**16), st.integers(3, 9), st.integers(3, 9), st.integers(3, 9))
def test_only_masked_voxels_change_and_the_fill_stays_in_range(
    seed: int, d: int, h: int, w: int
) -> None:
    images, masks = _case(d=d, h=h, w=w, seed=seed)
    out = PyramidInpainter()(images, masks)
    assert out.shape == images.shape and out.dtype == images.dtype
    keep = (~masks).expand_as(images)
    assert torch.equal(out[keep], images[keep])
    for i in range(images.shape[0]):
        known = images[i][keep[i]]
        if known.numel():
            assert out[i].min() >= known.min() - 1e-12 and out[i].max() <= known.max() + 1e-12


@pytest.mark.parametrize("value", [0.0, 0.37, -2.5])
def test_constant_volume_is_filled_with_its_constant(value: float) -> None:
    images = torch.full((2, 1, 7, 8, 9), value, dtype=torch.float32)
    masks = torch.zeros(2, 1, 7, 8, 9, dtype=torch.bool)
    masks[:, :, 2:5, 1:6, 3:8] = True
    out = PyramidInpainter()(images, masks)
    torch.testing.assert_close(out, images, rtol=0, atol=1e-6)


def test_a_volume_does_not_depend_on_its_batch() -> None:
    images, masks = _case(n=3, seed=5)
    together = PyramidInpainter()(images, masks)
    for i in range(3):
        alone = PyramidInpainter()(images[i : i + 1], masks[i : i + 1])
        torch.testing.assert_close(together[i : i + 1], alone, rtol=0, atol=1e-12)


def test_voxels_outside_valid_neither_change_nor_feed_the_fill() -> None:
    images, masks = _case(n=1, seed=3)
    valid = torch.ones_like(masks)
    valid[..., :4] = False
    out = PyramidInpainter()(images, masks, valid)
    changed = images.clone()
    changed[..., :4] = 100.0  # what lies outside valid must not matter
    again = PyramidInpainter()(changed, masks, valid)
    inside = valid.expand_as(images)
    torch.testing.assert_close(out[inside], again[inside], rtol=0, atol=0)
    assert torch.equal(out[~inside], images[~inside])


class _Ops(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


def test_same_operations_whatever_the_mask_and_no_host_reads() -> None:
    images, scattered = _case(seed=2)
    runs = []
    for masks in (scattered, torch.zeros_like(scattered), torch.ones_like(scattered)):
        with _Ops() as counter:
            push_pull_fill(images, masks)
        runs.append(counter.ops)
    assert runs[0] == runs[1] == runs[2]
    assert not any("nonzero" in op or "_local_scalar" in op for op in runs[0])


def test_pyramid_dilation_grows_the_masks_of_volumes() -> None:
    images, _ = _case(n=1, seed=4)
    masks = torch.zeros(1, 1, 9, 12, 10, dtype=torch.bool)
    masks[0, 0, 4, 6, 5] = True
    out = PyramidInpainter(dilation=1)(images, masks)
    changed = (out != images).any(dim=1, keepdim=True)
    assert torch.equal(changed, dilate_masks(masks, 1) & changed)
    assert changed[0, 0, 4, 6, 5] and changed[0, 0, 3, 6, 5]


def test_volume_masks_must_match_the_volume() -> None:
    images, masks = _case(n=1)
    with pytest.raises(ValueError, match="masks"):
        PyramidInpainter()(images, masks[..., :5])
    with pytest.raises(ValueError, match="masks"):
        PyramidInpainter()(images, masks[:, :, 0])

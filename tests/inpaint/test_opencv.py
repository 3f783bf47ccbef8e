"""OpenCV inpainters: the 8-bit protocol, write-back of masked pixels only, fields of view."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from captum_iterative import NavierStokesInpainter, TeleaInpainter
from captum_iterative.inpaint import to_uint8


def reference(
    image: torch.Tensor, mask: torch.Tensor, method: int, radius: float = 3
) -> torch.Tensor:
    """The protocol written out for one (C, H, W) image: 8-bit map, cv2.inpaint, write back."""
    hwc = image.permute(1, 2, 0).double().numpy()
    lo, hi = hwc.min(), hwc.max()
    u8 = np.clip(np.rint((hwc - lo) / (hi - lo) * 255), 0, 255).astype(np.uint8)
    m = mask[0].numpy().astype(np.uint8)
    if hwc.shape[2] == 3:
        filled = cv2.inpaint(u8, m, radius, method)
    else:
        filled = np.stack(
            [cv2.inpaint(u8[..., c], m, radius, method) for c in range(hwc.shape[2])], -1
        )
    back = filled.astype(np.float64) / 255 * (hi - lo) + lo
    out = np.where(mask[0].numpy()[..., None], back, hwc)
    return torch.from_numpy(out).permute(2, 0, 1).to(image.dtype)


def blob_masks(n: int, size: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    masks = np.zeros((n, 1, size, size), dtype=np.uint8)
    for i in range(n):
        for _ in range(3):
            c = rng.integers(8, size - 8, 2)
            cv2.circle(masks[i, 0], (int(c[1]), int(c[0])), int(rng.integers(2, 7)), 1, -1)
    return torch.from_numpy(masks.astype(bool))


@pytest.mark.parametrize(
    "cls, method", [(NavierStokesInpainter, cv2.INPAINT_NS), (TeleaInpainter, cv2.INPAINT_TELEA)]
)
def test_matches_direct_opencv_call_on_real_image(
    retina_small: torch.Tensor, cls: type, method: int
) -> None:
    images = torch.cat([retina_small, retina_small.flip(-1) * 0.7 + 0.1])
    masks = blob_masks(2, 96, seed=3)
    out = cls(radius=3)(images, masks)
    for i in range(2):
        torch.testing.assert_close(
            out[i], reference(images[i], masks[i], method), rtol=0, atol=1e-6
        )
    changed = (out != images).any(1, keepdim=True)
    assert not changed[~masks].any()
    assert changed[masks].float().mean() > 0.5  # most masked pixels really were replaced


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), channels=st.sampled_from([1, 3, 4]), telea=st.booleans())
def test_only_masked_pixels_change(seed: int, channels: int, telea: bool) -> None:
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(2, channels, 24, 24, generator=g) * 4 - 2
    masks = torch.rand(2, 1, 24, 24, generator=g) > 0.8
    inpainter = TeleaInpainter() if telea else NavierStokesInpainter()
    out = inpainter(images, masks)
    keep = (~masks).expand_as(images)
    assert torch.equal(out[keep], images[keep])  # bit-identical outside the masks
    assert out.dtype == images.dtype and out.shape == images.shape


def test_one_and_four_channel_images_are_inpainted_per_channel() -> None:
    images = torch.rand(1, 4, 32, 32, dtype=torch.float64)
    masks = blob_masks(1, 32, seed=1)
    out = NavierStokesInpainter()(images, masks)
    torch.testing.assert_close(
        out[0], reference(images[0], masks[0], cv2.INPAINT_NS), rtol=0, atol=1e-9
    )


def test_value_range_fixes_the_8bit_mapping() -> None:
    images = torch.rand(1, 3, 32, 32) * 0.5  # uses half of the (0, 1) range
    masks = blob_masks(1, 32, seed=2)
    out = NavierStokesInpainter(value_range=(0.0, 1.0))(images, masks)
    u8 = to_uint8(images[0].permute(1, 2, 0).numpy(), 0.0, 1.0)
    filled = cv2.inpaint(u8, masks[0, 0].numpy().astype(np.uint8), 3, cv2.INPAINT_NS) / 255.0
    expected = np.where(masks[0, 0].numpy()[..., None], filled, images[0].permute(1, 2, 0).numpy())
    torch.testing.assert_close(out[0].permute(1, 2, 0), torch.from_numpy(expected).float())


def test_valid_pixels_only_are_used_and_changed(retina_small: torch.Tensor) -> None:
    valid = torch.zeros(1, 1, 96, 96, dtype=torch.bool)
    valid[..., 10:86, 10:86] = True
    masks = torch.zeros(1, 1, 96, 96, dtype=torch.bool)
    masks[..., 8:20, 8:30] = True  # straddles the field-of-view border
    a = retina_small.clone()
    b = retina_small.clone()
    b[(~valid).expand_as(b)] = 0.37  # different values outside the field of view
    out_a = NavierStokesInpainter(value_range=(0, 1))(a, masks, valid)
    out_b = NavierStokesInpainter(value_range=(0, 1))(b, masks, valid)
    outside = (~valid).expand_as(a)
    assert torch.equal(out_a[outside], a[outside])
    assert torch.equal(out_b[outside], b[outside])
    assert torch.equal(out_a, torch.where(outside, out_a, out_b))  # no out-of-FOV value leaked in
    assert (out_a != a)[(masks & valid).expand_as(a)].any()


def test_threads_do_not_change_results() -> None:
    images = torch.rand(6, 3, 32, 32)
    masks = blob_masks(6, 32, seed=5)
    one = NavierStokesInpainter(num_threads=1)(images, masks)
    many = NavierStokesInpainter(num_threads=3)(images, masks)
    assert torch.equal(one, many)


def test_constant_image_and_empty_mask() -> None:
    images = torch.full((2, 3, 16, 16), 0.25)
    masks = torch.zeros(2, 1, 16, 16, dtype=torch.bool)
    masks[0, :, 4:8, 4:8] = True
    out = NavierStokesInpainter()(images, masks)
    assert torch.equal(out, images)


def test_inputs_are_not_modified() -> None:
    images = torch.rand(2, 3, 24, 24)
    masks = blob_masks(2, 24, seed=0)
    before_i, before_m = images.clone(), masks.clone()
    NavierStokesInpainter(dilation=1)(images, masks)
    assert torch.equal(images, before_i) and torch.equal(masks, before_m)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"radius": 0}, "radius"),
        ({"radius": float("inf")}, "radius"),
        ({"radius": "3"}, "radius"),
        ({"value_range": (1, 1)}, "value_range"),
        ({"dilation": -1}, "dilation"),
        ({"num_threads": 0}, "num_threads"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict, name: str) -> None:
    with pytest.raises((ValueError, TypeError), match=name):
        NavierStokesInpainter(**kwargs)


def test_non_finite_images_are_refused() -> None:
    images = torch.rand(1, 3, 16, 16)
    images[0, 1, 3, 3] = float("nan")
    masks = torch.zeros(1, 1, 16, 16, dtype=torch.bool)
    masks[..., 2:5, 2:5] = True
    with pytest.raises(ValueError, match="images"):
        NavierStokesInpainter()(images, masks)


def test_method_follows_the_class_unless_given() -> None:
    assert NavierStokesInpainter().method == cv2.INPAINT_NS
    assert TeleaInpainter().method == cv2.INPAINT_TELEA
    assert NavierStokesInpainter(method=cv2.INPAINT_TELEA).method == cv2.INPAINT_TELEA
    with pytest.raises(ValueError, match="method"):
        NavierStokesInpainter(method=7)

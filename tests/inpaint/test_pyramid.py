"""PyramidInpainter: a numpy-loop reference, write-back, odd sizes, fallbacks, fixed op count."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import cv2
import numpy as np
import pytest
import torch
from captum.attr import GuidedBackprop
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from skimage.data import retina
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from captum_iterative import AugmentationResult, IterativeAugmentation
from captum_iterative.inpaint import NavierStokesInpainter
from captum_iterative.inpaint.pyramid import PyramidInpainter, push_pull_fill

TAPS = (1 / 8, 3 / 8, 3 / 8, 1 / 8)


# -- a slow reference written out with loops, one image at a time -----------------------------


def ref_shapes(h: int, w: int, min_size: int) -> list[tuple[int, int]]:
    shapes = [(h, w)]
    while h > min_size or w > min_size:
        h = (h + 1) // 2 if h > min_size else h
        w = (w + 1) // 2 if w > min_size else w
        shapes.append((h, w))
    return shapes


def ref_pull(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(K, h, w) -> (K, h', w'): output (i, j) = sum of taps around input (2i + 0.5, 2j + 0.5)."""
    k, h, w = a.shape
    out = np.zeros((k, *size))
    for i in range(size[0]):
        for j in range(size[1]):
            row_taps = [(2 * i - 1 + t, TAPS[t]) for t in range(4)] if size[0] != h else [(i, 1)]
            col_taps = [(2 * j - 1 + t, TAPS[t]) for t in range(4)] if size[1] != w else [(j, 1)]
            for r, wr in row_taps:
                for c, wc in col_taps:
                    if 0 <= r < h and 0 <= c < w:  # zero padding
                        out[:, i, j] += wr * wc * a[:, r, c]
    return out


def ref_linear_1d(n_out: int, n_in: int, halved: bool) -> list[tuple[int, int, float]]:
    """PyTorch's bilinear (align_corners=False, scale 2) source indices and weight of i1."""
    taps = []
    for i in range(n_out):
        if not halved:
            taps.append((i, i, 0.0))
            continue
        src = max((i + 0.5) / 2 - 0.5, 0.0)
        i0 = math.floor(src)
        taps.append((i0, min(i0 + 1, n_in - 1), src - i0))
    return taps


def ref_push(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    _, h, w = a.shape
    rows = ref_linear_1d(size[0], h, size[0] != h)
    cols = ref_linear_1d(size[1], w, size[1] != w)
    out = np.zeros((a.shape[0], *size))
    for i, (r0, r1, lr) in enumerate(rows):
        for j, (c0, c1, lc) in enumerate(cols):
            out[:, i, j] = (
                (1 - lr) * (1 - lc) * a[:, r0, c0]
                + (1 - lr) * lc * a[:, r0, c1]
                + lr * (1 - lc) * a[:, r1, c0]
                + lr * lc * a[:, r1, c1]
            )
    return out


def ref_relax(a: np.ndarray, holes: np.ndarray, sweeps: int) -> np.ndarray:
    _, h, w = a.shape
    for _ in range(sweeps):
        new = a.copy()
        for i in range(h):
            for j in range(w):
                if holes[i, j]:
                    up, down = a[:, max(i - 1, 0), j], a[:, min(i + 1, h - 1), j]
                    left, right = a[:, i, max(j - 1, 0)], a[:, i, min(j + 1, w - 1)]
                    new[:, i, j] = (up + down + left + right) / 4
        a = new
    return a


def reference(
    image: np.ndarray,
    mask: np.ndarray,
    valid: np.ndarray | None = None,
    sweeps: int = 3,
    min_size: int = 4,
) -> np.ndarray:
    """The documented algorithm for one (C, H, W) float64 image, ending with the write-back."""
    c, h, w = image.shape
    inside = np.ones((h, w), bool) if valid is None else valid
    known = ~mask & inside
    weight = known.astype(np.float64)
    shapes = ref_shapes(h, w, min_size)
    levels = [np.concatenate([image * weight, weight[None]])]
    for size in shapes[1:]:
        levels.append(ref_pull(levels[-1], size))
    if known.any():
        fallback = (image * weight).sum(axis=(1, 2)) / weight.sum()
    else:
        fallback = image[:, inside].mean(axis=1)
    top = len(levels) - 1
    value = np.broadcast_to(fallback[:, None, None], levels[top][:c].shape)
    for index in range(top, -1, -1):
        s, wt = levels[index][:c], levels[index][c]
        up = value if index == top else ref_push(value, shapes[index])
        if index == 0:
            value = np.where(known, image, up)
            holes = mask & inside
        else:
            value = np.where(wt > 0, s / np.where(wt > 0, wt, 1), up)
            holes = wt <= 0
        value = ref_relax(value, holes, sweeps)
    write = mask & inside
    return np.where(write, value, image)


def random_case(
    seed: int, n: int, c: int, h: int, w: int, p_mask: float, with_valid: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, c, h, w, generator=g, dtype=torch.float64) * 2 - 0.5
    masks = torch.rand(n, 1, h, w, generator=g) < p_mask
    valid = torch.rand(n, 1, h, w, generator=g) > 0.2 if with_valid else None
    return images, masks, valid


# -- agreement with the reference ---------------------------------------------------------------


@pytest.mark.parametrize(
    "h, w, sweeps, min_size",
    [
        (16, 16, 3, 4),
        (13, 9, 3, 4),
        (37, 53, 2, 4),
        (5, 7, 3, 4),
        (1, 9, 3, 4),
        (9, 1, 1, 4),
        (3, 3, 3, 4),
        (24, 11, 0, 4),
        (20, 20, 3, 2),
    ],
)
@pytest.mark.parametrize("with_valid", [False, True])
def test_matches_loop_reference(
    h: int, w: int, sweeps: int, min_size: int, with_valid: bool
) -> None:
    images, masks, valid = random_case(h * 100 + w, 2, 3, h, w, 0.35, with_valid)
    out = PyramidInpainter(smoothing_sweeps=sweeps, min_size=min_size)(images, masks, valid)
    for i in range(2):
        v = None if valid is None else valid[i, 0].numpy()
        expected = reference(images[i].numpy(), masks[i, 0].numpy(), v, sweeps, min_size)
        np.testing.assert_allclose(out[i].numpy(), expected, rtol=0, atol=1e-12)


def test_large_holes_reach_the_top_level_and_match_reference() -> None:
    images, _, _ = random_case(7, 1, 2, 33, 40, 0.0, False)
    masks = torch.zeros(1, 1, 33, 40, dtype=torch.bool)
    masks[..., 2:31, 3:37] = True  # no known pixel in most coarse cells
    out = PyramidInpainter()(images, masks)
    expected = reference(images[0].numpy(), masks[0, 0].numpy())
    np.testing.assert_allclose(out[0].numpy(), expected, rtol=0, atol=1e-12)


# -- the contract ------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    channels=st.sampled_from([1, 3, 4]),
    p_mask=st.floats(0.0, 1.0),
    with_valid=st.booleans(),
)
def test_only_masked_valid_pixels_change(
    seed: int, h: int, w: int, channels: int, p_mask: float, with_valid: bool
) -> None:
    images, masks, valid = random_case(seed, 2, channels, h, w, p_mask, with_valid)
    before = images.clone()
    out = PyramidInpainter()(images, masks, valid)
    write = masks if valid is None else masks & valid
    keep = (~write).expand_as(images)
    assert torch.equal(out[keep], images[keep])  # bit-identical outside the written pixels
    assert torch.equal(images, before)  # the input is untouched
    assert out.shape == images.shape and out.dtype == images.dtype
    assert torch.isfinite(out).all()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), h=st.integers(2, 30), w=st.integers(2, 30))
def test_fill_stays_within_the_range_of_known_pixels(seed: int, h: int, w: int) -> None:
    # Every step is a convex combination (weighted means, bilinear weights, neighbour means).
    images, masks, valid = random_case(seed, 1, 3, h, w, 0.5, True)
    assert valid is not None
    known = (~masks & valid).expand_as(images)
    assume(bool(known[0, 0].any()) and bool((masks & valid).any()))
    out = PyramidInpainter()(images, masks, valid)
    for c in range(3):
        values = images[0, c][known[0, c]]
        filled = out[0, c][(masks & valid)[0, 0]]
        assert filled.min() >= values.min() - 1e-12
        assert filled.max() <= values.max() + 1e-12


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 4))
def test_result_of_an_image_does_not_depend_on_the_batch(seed: int, n: int) -> None:
    images, masks, valid = random_case(seed, n, 3, 19, 26, 0.4, True)
    assert valid is not None
    batch = PyramidInpainter()(images, masks, valid)
    for i in range(n):
        single = PyramidInpainter()(images[i : i + 1], masks[i : i + 1], valid[i : i + 1])
        torch.testing.assert_close(batch[i : i + 1], single, rtol=0, atol=1e-14)


@pytest.mark.parametrize("value", [0.5, -3.25, 0.1, 123.456])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_constant_image_is_filled_with_its_constant(value: float, dtype: torch.dtype) -> None:
    images = torch.full((2, 3, 45, 31), value, dtype=dtype)
    masks = torch.zeros(2, 1, 45, 31, dtype=torch.bool)
    masks[0, :, 5:40, 3:20] = True
    masks[1, :, ::2, ::3] = True
    out = PyramidInpainter()(images, masks)
    if value in (0.5, -3.25):  # dyadic values: every weighted mean is exact
        assert torch.equal(out, images)
    else:
        eps = torch.finfo(dtype).eps
        torch.testing.assert_close(out, images, rtol=8 * eps, atol=0)


def test_fully_masked_image_gets_mean_of_its_valid_region() -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 12, 10, generator=g, dtype=torch.float64)
    valid = torch.zeros(2, 1, 12, 10, dtype=torch.bool)
    valid[:, :, 2:9, 1:7] = True
    masks = torch.ones(2, 1, 12, 10, dtype=torch.bool)
    masks[1] = valid[1] & (torch.rand(1, 12, 10, generator=g) > 0.5)  # image 1 keeps data
    out = PyramidInpainter()(images, masks, valid)
    mean = images[0][:, valid[0, 0]].mean(dim=1)
    inside = valid[0, 0]
    torch.testing.assert_close(
        out[0][:, inside], mean[:, None].expand(-1, int(inside.sum())), rtol=0, atol=1e-14
    )
    assert torch.equal(out[0][:, ~inside], images[0][:, ~inside])
    whole = PyramidInpainter()(images, torch.ones_like(masks))  # without valid: whole image
    torch.testing.assert_close(
        whole, images.mean(dim=(2, 3), keepdim=True).expand_as(images), rtol=0, atol=1e-14
    )


def test_pixels_outside_valid_do_not_feed_the_fill() -> None:
    images, masks, _ = random_case(3, 1, 3, 30, 30, 0.3, False)
    valid = torch.ones(1, 1, 30, 30, dtype=torch.bool)
    valid[..., :, 20:] = False
    other = images.clone()
    other[..., :, 20:] = 1e6  # garbage outside the field of view
    a = PyramidInpainter()(images, masks, valid)
    b = PyramidInpainter()(other, masks, valid)
    torch.testing.assert_close(a[..., :20], b[..., :20], rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_dtype_and_shape_are_preserved(dtype: torch.dtype) -> None:
    images = torch.rand(3, 3, 21, 17).to(dtype)
    masks = torch.rand(3, 1, 21, 17) > 0.7
    out = PyramidInpainter(dilation=1)(images, masks)
    assert out.dtype == dtype and out.shape == images.shape and out.device == images.device


def test_batch_of_one_and_broadcast_mask() -> None:
    images, masks, _ = random_case(11, 3, 3, 20, 20, 0.3, False)
    one = PyramidInpainter()(images[:1], masks[:1])
    expected = reference(images[0].numpy(), masks[0, 0].numpy())
    np.testing.assert_allclose(one[0].numpy(), expected, rtol=0, atol=1e-12)
    shared = PyramidInpainter()(images, masks[:1])  # (1, 1, H, W) mask broadcast to the batch
    for i in range(3):
        expected = reference(images[i].numpy(), masks[0, 0].numpy())
        np.testing.assert_allclose(shared[i].numpy(), expected, rtol=0, atol=1e-12)


def test_smooth_image_is_recovered_inside_a_hole() -> None:
    y, x = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 64), indexing="ij")
    image = torch.stack([0.2 + 0.5 * x, 0.3 + 0.4 * y, 0.5 + 0.3 * x * y])[None].double()
    masks = torch.zeros(1, 1, 64, 64, dtype=torch.bool)
    masks[..., 28:36, 20:30] = True
    out = PyramidInpainter()(image, masks)
    error = (out - image).abs()[masks.expand_as(image)]
    assert error.max() < 0.02  # a smooth ramp of slope 0.5 per image width


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="smoothing_sweeps"):
        PyramidInpainter(smoothing_sweeps=-1)
    with pytest.raises(TypeError, match="smoothing_sweeps"):
        PyramidInpainter(smoothing_sweeps=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_size"):
        PyramidInpainter(min_size=0)
    with pytest.raises(TypeError, match="compile"):
        PyramidInpainter(compile=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="masks"):
        PyramidInpainter()(torch.rand(1, 3, 8, 8), torch.zeros(1, 1, 8, 8))
    with pytest.raises(TypeError, match="floating"):
        PyramidInpainter()(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), torch.zeros(1, 1, 8, 8) > 0)


def test_repr_names_the_options() -> None:
    text = repr(PyramidInpainter(smoothing_sweeps=2, dilation=1))
    assert "smoothing_sweeps=2" in text and "dilation=1" in text and "compile=False" in text


# -- no data-dependent work ---------------------------------------------------------------------


class _OpCounter(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


def _ops(images: torch.Tensor, masks: torch.Tensor) -> list[str]:
    with _OpCounter() as counter:
        push_pull_fill(images, masks)
    return counter.ops


def test_same_operations_whatever_the_mask() -> None:
    images = torch.rand(2, 3, 64, 48)
    empty = torch.zeros(2, 1, 64, 48, dtype=torch.bool)
    full = torch.ones_like(empty)
    scattered = torch.rand(2, 1, 64, 48) > 0.5
    reference_ops = _ops(images, scattered)
    assert _ops(images, empty) == reference_ops
    assert _ops(images, full) == reference_ops
    assert _ops(images[:1], scattered[:1]) == reference_ops  # nor on the batch size
    assert not any("nonzero" in op or "item" in op for op in reference_ops)


# -- against OpenCV on the real retina photograph ------------------------------------------------


def _retina(size: int) -> torch.Tensor:
    img = cv2.resize(retina(), (size, size), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0


def _blob_masks(n: int, size: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    masks = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        for _ in range(8):
            cy, cx = rng.integers(size // 5, 4 * size // 5, 2)
            radius = int(rng.integers(size // 64, size // 24))
            cv2.circle(masks[i], (int(cx), int(cy)), radius, 1, -1)
    return torch.from_numpy(masks.astype(bool))[:, None]


def test_in_mask_error_is_no_worse_than_navier_stokes_on_retina() -> None:
    images = _retina(256).expand(4, -1, -1, -1)
    masks = _blob_masks(4, 256, seed=0)

    def mae(out: torch.Tensor) -> float:
        return float((out - images).abs()[masks.expand_as(images)].mean())

    pyramid = mae(PyramidInpainter()(images, masks))
    navier_stokes = mae(NavierStokesInpainter(radius=3, value_range=(0, 1))(images, masks))
    assert pyramid < 0.95 * navier_stokes  # measured: 0.90
    assert pyramid < 0.5 * mae(torch.where(masks, images.mean(), images))  # far from a flat fill


# -- options and use in the loop ----------------------------------------------------------------


def test_compile_option_runs_the_fill_through_torch_compile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compiled: list[object] = []

    def fake_compile(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        compiled.append(fn)
        return lambda *args: fn(*args) + 0  # a distinct callable, same result

    monkeypatch.setattr(torch, "compile", fake_compile)
    images, masks, _ = random_case(5, 2, 3, 20, 24, 0.3, False)
    out = PyramidInpainter(compile=True)(images, masks)
    assert compiled == [push_pull_fill]
    torch.testing.assert_close(out, PyramidInpainter()(images, masks), rtol=0, atol=0)


class _ReluNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 1, 3)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).amax(dim=(2, 3))


def test_in_the_loop_channels_last_images_give_the_same_result_and_stay_channels_last() -> None:
    torch.manual_seed(0)
    model = _ReluNet().double().eval()
    images = _retina(48).double().expand(2, -1, -1, -1).contiguous()
    images[1] = images[1].flip(-1)

    def run(x: torch.Tensor, m: nn.Module) -> AugmentationResult:
        explainer = IterativeAugmentation(
            GuidedBackprop(m), threshold=-1e30, inpainter=PyramidInpainter(), max_iter=3
        )
        return explainer.explain(x, target=0)

    plain = run(images, model)
    last = run(
        images.contiguous(memory_format=torch.channels_last),
        copy.deepcopy(model).to(memory_format=torch.channels_last),
    )
    assert plain.iterations.tolist() == [3, 3]
    assert last.inpainted.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(last.augmented, plain.augmented, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(last.inpainted, plain.inpainted, rtol=1e-9, atol=1e-12)
    changed = (plain.inpainted != images).any(dim=1)
    assert changed.any() and not changed.all()  # the masked evidence, and only some pixels

"""Fuzzing the public Python API with hypothesis: every call returns a well-formed result or
raises ``ValueError``/``TypeError`` naming the problem; any other exception is a bug.

Covered: ``IterativeAugmentation`` (construction and ``explain``: shapes, dtypes, devices,
targets, thresholds, ``alpha``, ``max_iter``), ``otsu_threshold``, the inpainters (Navier-Stokes,
Telea, pyramid), ``reduce_attribution`` and ``froc``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from _helpers.core import BlobScore
from captum.attr import GuidedBackprop, Saliency
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from captum_iterative import (
    IterativeAugmentation,
    NavierStokesInpainter,
    StopReason,
    TeleaInpainter,
    otsu_threshold,
    reduce_attribution,
)
from captum_iterative.evaluation import froc
from captum_iterative.inpaint.pyramid import PyramidInpainter

DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
DTYPES = [
    torch.float16,
    torch.bfloat16,
    torch.float32,
    torch.float64,
    torch.int64,
    torch.uint8,
    torch.bool,
]
#: Odd values for number-like arguments.
ODD_NUMBERS = [
    math.nan,
    math.inf,
    -math.inf,
    0,
    0.0,
    -1,
    -0.5,
    0.5,
    1,
    3,
    1e300,
    10**30,
    True,
    False,
    "0.5",
    None,
    [1],
    torch.tensor(0.5),
    torch.tensor([0.5, 1.0]),
    np.float32(0.25),
]
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "30")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def outcome(call: Callable[[], Any]) -> Any:
    """The result of ``call``, or None when it raised ``ValueError``/``TypeError``."""
    try:
        return call()
    except (ValueError, TypeError) as error:
        assert str(error), "an error without a message"
        return None


class TinyReLUNet(nn.Module):
    """Conv + ReLU + max-pool + linear: a model GuidedBackprop hooks, with two outputs.

    Any channel count is accepted (the channel mean feeds the convolution), so that errors seen
    by the fuzzing come from the API under test, not from the model.
    """

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # volumes (N, C, D, H, W), which the loop accepts, are read as (N, 1, D * H, W)
        gray = x.float().mean(dim=1, keepdim=True).flatten(2, -2)
        return self.head(self.pool(self.relu(self.conv(gray))).flatten(1))


class AnyRank(nn.Module):
    """A 2-D model that also takes volumes (N, C, D, H, W), read as (N, C, D * H, W)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.flatten(2, -2))


def check_result(result: Any, inputs: torch.Tensor, max_iter: int) -> None:
    n, spatial = inputs.shape[0], tuple(inputs.shape[2:])
    assert result.augmented.shape == result.initial.shape == (n, 1, *spatial)
    assert result.augmented.is_floating_point()
    assert bool(torch.isfinite(result.augmented).all()) and bool(
        torch.isfinite(result.initial).all()
    )
    assert result.augmented.device == inputs.device
    assert result.inpainted.shape == inputs.shape and result.inpainted.dtype == inputs.dtype
    assert result.iterations.dtype == torch.int64 and result.iterations.shape == (n,)
    assert int(result.iterations.min()) >= 0 and int(result.iterations.max()) <= max_iter
    assert len(result.scores) == len(result.stop_reason) == n
    for scores, iterations, reason in zip(
        result.scores, result.iterations.tolist(), result.stop_reason, strict=True
    ):
        assert scores.dtype == torch.float64 and scores.shape == (iterations + 1,)
        assert isinstance(reason, StopReason) and reason is not StopReason.RUNNING


# -- IterativeAugmentation ------------------------------------------------------------------


@given(
    threshold=st.sampled_from(ODD_NUMBERS),
    alpha=st.sampled_from(ODD_NUMBERS),
    max_iter=st.sampled_from(ODD_NUMBERS),
)
@FUZZ
def test_loop_settings(threshold: Any, alpha: Any, max_iter: Any) -> None:
    model = BlobScore().double().eval()

    def build() -> IterativeAugmentation:
        return IterativeAugmentation(
            Saliency(model), threshold, alpha=alpha, max_iter=max_iter, inpainter=_mean_fill
        )

    explainer = outcome(build)
    if explainer is None:
        return
    assert math.isfinite(explainer.threshold) and explainer.alpha > 0
    assert isinstance(explainer.max_iter, int) and explainer.max_iter >= 1
    if explainer.max_iter > 50:
        # accepted (an int bound is the user's choice), but with a threshold below every score
        # the loop would really run 10**30 times: the construction is what is checked here
        return
    images = torch.rand(2, 3, 12, 12, dtype=torch.float64)
    result = outcome(lambda: explainer.explain(images))
    if result is not None:
        check_result(result, images, explainer.max_iter)


def _mean_fill(images: torch.Tensor, masks: torch.Tensor, valid: Any = None) -> torch.Tensor:
    """A fast inpainter for the fuzzing: masked pixels take the image's mean."""
    mean = images.mean(dim=tuple(range(2, images.dim())), keepdim=True).expand_as(images)
    return torch.where(masks, mean, images)


@st.composite
def image_batches(draw: st.DrawFn) -> torch.Tensor:
    rank = draw(st.sampled_from([4, 4, 4, 3, 5, 2]))
    dims = [draw(st.integers(0, 3))] if rank >= 4 else []
    if rank >= 4:
        dims.append(draw(st.sampled_from([1, 3, 3, 4])))
    dims += [draw(st.integers(1, 14)) for _ in range(min(rank, 4) - len(dims))]
    dims += [2] * (rank - len(dims))
    dtype = draw(st.sampled_from(DTYPES))
    device = draw(st.sampled_from(DEVICES))
    values = torch.rand(dims, dtype=torch.float64) * draw(st.sampled_from([1.0, 255.0]))
    if draw(st.booleans()) and values.numel():
        values.view(-1)[0] = draw(st.sampled_from([math.nan, math.inf, 0.0]))
    if dtype == torch.bool:
        return (values > 0.5).to(device)
    if not dtype.is_floating_point:
        values = torch.nan_to_num(values, nan=0.0, posinf=0.0)
    return values.to(dtype=dtype, device=device)


TARGETS = st.sampled_from(
    [None, 0, 1, 5, -1, True, "0", 0.5, [0], [0, 1, 0], (0,), "all", "tensor", "bad-tensor"]
)


@given(inputs=image_batches(), target=TARGETS, reuse=st.booleans(), guided=st.booleans())
@FUZZ
def test_explain_inputs_and_targets(
    inputs: torch.Tensor, target: Any, reuse: bool, guided: bool
) -> None:
    model = TinyReLUNet().to(inputs.device).eval()
    method = GuidedBackprop(model) if guided else Saliency(model)
    n = inputs.shape[0] if inputs.dim() else 0
    if target == "all":
        target = [i % 2 for i in range(n)]
    elif target == "tensor":
        target = torch.zeros(n, dtype=torch.long, device=inputs.device)
    elif target == "bad-tensor":
        target = torch.zeros(n + 1, dtype=torch.long)
    explainer = IterativeAugmentation(
        method, 0.0, max_iter=3, inpainter=_mean_fill, reuse_forward=reuse
    )
    result = outcome(lambda: explainer.explain(inputs, target=target))
    if result is not None:
        check_result(result, inputs, 3)


@given(inputs=image_batches())
@FUZZ
def test_valid_masks(inputs: torch.Tensor) -> None:
    model = AnyRank(BlobScore().double()).eval().to(inputs.device)
    explainer = IterativeAugmentation(Saliency(model), -1.0, max_iter=2, inpainter=_mean_fill)
    shape = tuple(inputs.shape)
    if len(shape) in (4, 5):
        valid = torch.rand(shape[0], 1, *shape[2:]) > 0.3
    else:
        valid = torch.ones(shape, dtype=torch.bool)
    result = outcome(lambda: explainer.explain(inputs, valid=valid.to(inputs.device)))
    if result is not None:
        check_result(result, inputs, 2)


# -- otsu_threshold -------------------------------------------------------------------------


@given(maps=image_batches(), bins=st.sampled_from([256, 2, 1, 0, -3, 2.5, True, "256", 4096]))
@FUZZ
def test_otsu_threshold(maps: torch.Tensor, bins: Any) -> None:
    if maps.dim() == 4:
        maps = maps[:, :1]
    thresholds = outcome(lambda: otsu_threshold(maps, bins=bins))
    if thresholds is None:
        return
    assert thresholds.shape == (maps.shape[0],)
    for row, value in zip(maps.double().flatten(1), thresholds.double().tolist(), strict=True):
        if bool(torch.isfinite(row).all()):
            assert float(row.min()) <= value <= float(row.max())
        else:
            assert math.isnan(value)


# -- inpainters -----------------------------------------------------------------------------

INPAINTERS = [
    NavierStokesInpainter(radius=3),
    TeleaInpainter(radius=2, value_range=(0.0, 1.0)),
    PyramidInpainter(),
    NavierStokesInpainter(radius=1, dilation=1),
]


@given(
    images=image_batches(),
    inpainter=st.sampled_from(INPAINTERS),
    mask_kind=st.sampled_from(["ok", "broadcast", "uint8", "wrong-size", "empty", "full"]),
    with_valid=st.booleans(),
)
@FUZZ
def test_inpainters(images: torch.Tensor, inpainter: Any, mask_kind: str, with_valid: bool) -> None:
    if images.dim() == 4:
        n, _, h, w = images.shape
    else:
        n, h, w = 1, 4, 4
    rng = torch.Generator().manual_seed(0)
    masks = torch.rand(n, 1, h, w, generator=rng) > 0.6
    if mask_kind == "broadcast":
        masks = masks[:1]
    elif mask_kind == "uint8":
        masks = masks.to(torch.uint8)
    elif mask_kind == "wrong-size":
        masks = torch.zeros(n, 1, h + 1, w, dtype=torch.bool)
    elif mask_kind == "empty":
        masks = torch.zeros_like(masks)
    elif mask_kind == "full":
        masks = torch.ones_like(masks)
    valid = (torch.rand(n, 1, h, w, generator=rng) > 0.2) if with_valid else None
    masks = masks.to(images.device)
    valid = None if valid is None else valid.to(images.device)
    snapshot = images.clone()
    out = outcome(lambda: inpainter(images, masks, valid))
    assert torch.equal(images.nan_to_num(), snapshot.nan_to_num())  # never modified in place
    if out is None:
        return
    assert out.shape == images.shape and out.dtype == images.dtype
    assert out.device == images.device
    changed = ~(out.nan_to_num() == images.nan_to_num())
    allowed = masks.expand_as(images).to(torch.bool)
    if inpainter.dilation:
        allowed = torch.ones_like(allowed)
    if valid is not None:
        allowed = allowed & valid.expand_as(images)
    assert not bool((changed & ~allowed).any()), "a pixel outside the mask changed"
    if bool(torch.isfinite(images).all()):
        assert bool(torch.isfinite(out).all())


# -- reduce_attribution ---------------------------------------------------------------------


@given(
    attribution=image_batches(),
    size=st.sampled_from([(12, 12), (5, 7), (0, 3), (-1, 4), 12, (12,), ("12", "12"), None]),
    reduction=st.sampled_from(["abs_max", "abs_sum", "sum", "max", "mean", "median", 3, None]),
)
@FUZZ
def test_reduce_attribution(attribution: torch.Tensor, size: Any, reduction: Any) -> None:
    maps = outcome(lambda: reduce_attribution(attribution, size, reduction))
    if maps is None:
        return
    assert maps.shape == (attribution.shape[0], 1, *size)
    assert maps.is_floating_point()


# -- froc -----------------------------------------------------------------------------------


@st.composite
def froc_cases(draw: st.DrawFn) -> tuple[Any, Any]:
    n = draw(st.integers(0, 3))
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.int32, np.uint8, np.bool_, object]))
    rng = np.random.default_rng(draw(st.integers(0, 99)))
    maps = [rng.random((h, w)).astype(dtype) for _ in range(n)]
    if maps and draw(st.booleans()):
        maps[0] = maps[0].astype(np.float64)
        maps[0].flat[0] = draw(st.sampled_from([np.nan, np.inf, -np.inf, 0.0]))
    masks = [rng.random((h, w)) > 0.8 for _ in range(n)]
    kind = draw(st.sampled_from(["ok", "ok", "fewer", "shape", "uint8", "tensor"]))
    if kind == "fewer" and masks:
        masks = masks[1:]
    elif kind == "shape" and masks:
        masks[0] = np.zeros((h + 1, w), dtype=bool)
    elif kind == "uint8":
        masks = [m.astype(np.uint8) for m in masks]
    elif kind == "tensor":
        maps = [torch.from_numpy(np.asarray(m, dtype=np.float32)) for m in maps]
        masks = [torch.from_numpy(m) for m in masks]
    return maps, masks


@given(
    case=froc_cases(),
    radius=st.sampled_from(ODD_NUMBERS),
    budget=st.sampled_from([10.0, 0.0, None, -1.0, math.nan, math.inf, "10"]),
    max_detections=st.sampled_from([None, 1, 0, 2.5, True]),
)
@FUZZ
def test_froc(case: tuple[Any, Any], radius: Any, budget: Any, max_detections: Any) -> None:
    maps, masks = case
    result = outcome(
        lambda: froc(maps, masks, radius, max_fps_per_image=budget, max_detections=max_detections)
    )
    if result is None:
        return
    assert result.n_images == len(maps)
    fps, sensitivity = np.asarray(result.fps_per_image), np.asarray(result.sensitivity)
    assert fps.shape == sensitivity.shape
    assert np.all(np.isfinite(fps)) and np.all(np.diff(fps) >= 0)
    if result.n_lesions == 0:  # sensitivity is 0 / 0
        assert np.all(np.isnan(sensitivity))
        return
    assert np.all((sensitivity >= 0) & (sensitivity <= 1)) and np.all(np.diff(sensitivity) >= 0)
    value = outcome(lambda: result.sensitivity_at(10.0))  # ValueError beyond the scanned budget
    assert value is None or 0.0 <= value <= 1.0


@pytest.mark.parametrize("device", DEVICES)
def test_devices_give_the_same_loop(device: str) -> None:
    """The loop on each available device matches the CPU loop (known answer across devices)."""
    model = BlobScore().double().eval()
    images = torch.rand(
        3, 3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
    )
    reference = IterativeAugmentation(
        Saliency(model), 0.0, max_iter=3, inpainter=_mean_fill
    ).explain(images)
    moved = model.to(device)
    result = IterativeAugmentation(Saliency(moved), 0.0, max_iter=3, inpainter=_mean_fill).explain(
        images.to(device)
    )
    check_result(result, images.to(device), 3)
    torch.testing.assert_close(result.augmented.cpu(), reference.augmented)
    assert result.stop_reason == reference.stop_reason


@pytest.mark.parametrize(
    ("target", "error"),
    [
        (5, ValueError),
        (-3, ValueError),
        (10**30, ValueError),
        ((5,), ValueError),
        (torch.tensor(7), ValueError),
        ([0, 5], ValueError),
        (torch.tensor([0, 9]), ValueError),
        (torch.tensor([0.0, 1.0]), TypeError),
        ([0.5, 1], TypeError),
        ([[0], [1]], TypeError),
        (("0",), TypeError),
    ],
)
def test_out_of_range_and_malformed_targets(target: Any, error: type[Exception]) -> None:
    """Regression (found by the fuzzing): these raised IndexError, RuntimeError or
    AssertionError from inside the scoring or Captum instead of a clear error."""
    model = TinyReLUNet().eval()
    explainer = IterativeAugmentation(Saliency(model), -10.0, max_iter=2, inpainter=_mean_fill)
    with pytest.raises(error, match="target"):
        explainer.explain(torch.rand(2, 3, 8, 8), target=target)


@pytest.mark.parametrize("size", [(0, 3), (-1, 4), (12,), 12, ("12", "12"), (True, 3), None])
def test_reduce_attribution_refuses_bad_sizes(size: Any) -> None:
    """Regression (found by the fuzzing): (0, 3) and (-1, 4) raised RuntimeError."""
    with pytest.raises((ValueError, TypeError), match="input_size"):
        reduce_attribution(torch.rand(2, 3, 6, 6), size)

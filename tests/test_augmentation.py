"""IterativeAugmentation: known answers, batching, stop reasons, leaks and bad input."""

from __future__ import annotations

import math
import traceback
import warnings
from collections import Counter

import cv2
import numpy as np
import pytest
import timm
import torch
from _helpers.core import BlobScore, MeanScore, blob_batch, blob_image
from captum.attr import GuidedBackprop, IntegratedGradients, LayerGradCam, Saliency
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.filters import threshold_otsu
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import captum_iterative.binarize as binarize
from captum_iterative import IterativeAugmentation, NavierStokesInpainter, PyramidInpainter

TH = 0.3


def plain_loop(model: nn.Module, image: torch.Tensor, th: float, max_iter: int, alpha: float):
    """Algorithm 1 written out for one image: Saliency, skimage Otsu, cv2 NS on 8 bits."""
    x = image[None].clone()
    with torch.no_grad():
        y = model(x).item()
    total = np.zeros(image.shape[1:])
    t = 0
    scores = [y]
    while y >= th and t < max_iter:
        t += 1
        grad = Saliency(model).attribute(x.clone().requires_grad_(), abs=True)
        m = grad[0].abs().amax(0).numpy()
        mask = m >= threshold_otsu(m)
        hwc = x[0].permute(1, 2, 0).numpy()
        lo, hi = hwc.min(), hwc.max()
        u8 = np.clip(np.rint((hwc - lo) / (hi - lo) * 255), 0, 255).astype(np.uint8)
        filled = cv2.inpaint(u8, mask.astype(np.uint8), 3, cv2.INPAINT_NS) / 255 * (hi - lo) + lo
        hwc = np.where(mask[..., None], filled, hwc)
        x = torch.from_numpy(hwc).permute(2, 0, 1)[None].to(image.dtype)
        with torch.no_grad():
            y = model(x).item()
        scores.append(y)
        total += math.exp(-alpha * t) * m
    return total, t, scores


@pytest.mark.parametrize("reuse", [False, True])
def test_matches_plain_per_image_loop(blob_model: BlobScore, reuse: bool) -> None:
    images = blob_batch()
    explainer = IterativeAugmentation(
        Saliency(blob_model), threshold=TH, max_iter=4, alpha=0.6, reuse_forward=reuse
    )
    result = explainer.explain(images)
    assert result.iterations.tolist() == [1, 2, 3, 4, 0, 2]
    assert result.stop_reason == [
        "normal",
        "normal",
        "normal",
        "max_iter",
        "not_abnormal",
        "normal",
    ]
    for i, image in enumerate(images):
        expected, steps, scores = plain_loop(blob_model, image, TH, 4, 0.6)
        assert steps == result.iterations[i].item()
        np.testing.assert_allclose(result.augmented[i, 0].numpy(), expected, atol=1e-5, rtol=0)
        np.testing.assert_allclose(result.scores[i].numpy(), scores, atol=1e-9)
    assert torch.equal(result.augmented[4], torch.zeros_like(result.augmented[4]))


def test_attribute_returns_the_augmented_maps(blob_model: BlobScore) -> None:
    images = blob_batch()
    explainer = IterativeAugmentation(Saliency(blob_model), threshold=TH, max_iter=4)
    torch.testing.assert_close(explainer.attribute(images), explainer.explain(images).augmented)


@settings(max_examples=12, deadline=None)
@given(
    st.lists(
        st.lists(st.floats(0.35, 0.95), min_size=0, max_size=5, unique=True), min_size=2, max_size=4
    ),
    st.booleans(),
)
def test_batch_equals_each_image_alone(intensities: list[list[float]], reuse: bool) -> None:
    model = BlobScore().double().eval()
    images = blob_batch(intensities)
    explainer = IterativeAugmentation(
        Saliency(model), threshold=0.3, max_iter=3, reuse_forward=reuse
    )
    together = explainer.explain(images)
    for i in range(len(intensities)):
        alone = explainer.explain(images[i : i + 1])
        torch.testing.assert_close(together.augmented[i], alone.augmented[0], atol=1e-12, rtol=0)
        assert together.iterations[i] == alone.iterations[0]
        assert together.stop_reason[i] == alone.stop_reason[0]
        torch.testing.assert_close(together.inpainted[i], alone.inpainted[0], atol=1e-12, rtol=0)


class CountingSaliency(Saliency):
    """Saliency that records how many maps it computed for each image (by image identity)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)
        self.rows = 0

    def attribute(self, inputs, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.rows += inputs.shape[0]
        return super().attribute(inputs, *args, **kwargs)


@settings(max_examples=10, deadline=None)
@given(st.integers(1, 5), st.floats(0.05, 3.0), st.booleans())
def test_never_more_than_max_iter_maps_and_weights_decay(
    max_iter: int, alpha: float, reuse: bool
) -> None:
    model = BlobScore().double().eval()
    images = blob_batch()
    inner = CountingSaliency(model)
    explainer = IterativeAugmentation(
        inner, threshold=TH, max_iter=max_iter, alpha=alpha, keep_history=True, reuse_forward=reuse
    )
    result = explainer.explain(images)
    assert int(result.iterations.max()) <= max_iter
    assert inner.rows <= max_iter * len(images)  # the loop never computes more than T maps each
    for i in range(len(images)):
        maps = result.maps[i]
        assert maps.shape[0] == result.iterations[i]
        weights = torch.exp(-alpha * torch.arange(1, maps.shape[0] + 1, dtype=torch.float64))
        assert torch.all(weights[1:] < weights[:-1])
        expected = (weights.view(-1, 1, 1, 1) * maps).sum(0)
        torch.testing.assert_close(result.augmented[i], expected)
        if maps.shape[0]:
            torch.testing.assert_close(result.initial[i], maps[0])
        assert len(result.scores[i]) == result.iterations[i] + 1
        assert result.masks[i].dtype == torch.bool


def test_explain_normal_gives_the_plain_first_map(blob_model: BlobScore) -> None:
    images = blob_batch([[], [0.2]])
    for reuse in (False, True):
        result = IterativeAugmentation(
            Saliency(blob_model), threshold=TH, explain_normal=True, reuse_forward=reuse
        ).explain(images)
        assert result.stop_reason == ["not_abnormal", "not_abnormal"]
        assert result.iterations.tolist() == [0, 0]
        first = (
            Saliency(blob_model).attribute(images.clone().requires_grad_()).amax(1, keepdim=True)
        )
        torch.testing.assert_close(result.augmented, first)
        torch.testing.assert_close(result.initial, first)
        assert torch.equal(result.inpainted, images)


def test_constant_map_stops_with_degenerate_map() -> None:
    images = torch.rand(2, 3, 16, 16)
    result = IterativeAugmentation(Saliency(MeanScore().eval()), threshold=0.0).explain(images)
    assert result.stop_reason == ["degenerate_map", "degenerate_map"]
    assert result.iterations.tolist() == [0, 0]
    assert torch.equal(result.inpainted, images)  # nothing was inpainted
    assert torch.equal(result.augmented, torch.zeros_like(result.augmented))
    assert [len(s) for s in result.scores] == [1, 1]


def test_valid_restricts_binarization_and_inpainting(blob_model: BlobScore) -> None:
    images = blob_batch([[0.9, 0.8, 0.7]])
    valid = torch.ones(1, 1, 48, 48, dtype=torch.bool)
    valid[..., :, :20] = False
    result = IterativeAugmentation(Saliency(blob_model), threshold=TH, keep_history=True).explain(
        images, valid=valid
    )
    outside = (~valid).expand_as(images)
    assert torch.equal(result.inpainted[outside], images[outside])
    assert not result.masks[0][:, :, :, :20].any()


def test_internal_batch_size_gives_identical_results(blob_model: BlobScore) -> None:
    images = blob_batch()
    full = IterativeAugmentation(Saliency(blob_model), threshold=TH, max_iter=4).explain(images)
    chunked = IterativeAugmentation(
        Saliency(blob_model), threshold=TH, max_iter=4, internal_batch_size=2
    ).explain(images)
    torch.testing.assert_close(full.augmented, chunked.augmented, atol=1e-12, rtol=0)
    assert full.stop_reason == chunked.stop_reason


class TwoHeads(nn.Module):
    """Multi-output model: column 0 = blob score, column 1 = 1 - blob score."""

    def __init__(self) -> None:
        super().__init__()
        self.blob = BlobScore().double()

    def forward(self, x: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
        s = self.blob(x)
        if scale is not None:
            s = s * scale[:, None]
        return torch.cat([s, 1 - s], dim=1)


def test_per_image_targets_and_additional_forward_args_are_sliced() -> None:
    model = TwoHeads().eval()
    images = blob_batch()
    scale = torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0, 0.1], dtype=torch.float64)
    explainer = IterativeAugmentation(Saliency(model), threshold=TH, max_iter=4)
    result = explainer.explain(images, target=[0] * 6, additional_forward_args=(scale,))
    # image 5's score is scaled below the threshold: predicted normal; the others as before
    assert result.stop_reason == [
        "normal",
        "normal",
        "normal",
        "max_iter",
        "not_abnormal",
        "not_abnormal",
    ]
    alone = explainer.explain(images[2:3], target=[0], additional_forward_args=(scale[2:3],))
    torch.testing.assert_close(result.augmented[2], alone.augmented[0])
    with pytest.raises(ValueError, match="target"):
        explainer.explain(images)  # two outputs and no target


def test_numpy_integer_targets_are_targets_and_bools_are_not() -> None:
    """The one integer rule of ``_checks.is_int`` holds for ``target`` too."""
    model = TwoHeads().eval()
    images = blob_batch()[:2]
    explainer = IterativeAugmentation(Saliency(model), threshold=TH, max_iter=2)
    expected = explainer.explain(images, target=0).augmented
    for target in (np.int64(0), [np.int32(0), 0], (np.int64(0),), [(np.int16(0),), (0,)]):
        torch.testing.assert_close(explainer.explain(images, target=target).augmented, expected)
    for target in (True, [np.bool_(False), 0], (False,)):
        with pytest.raises(TypeError, match="`target`"):
            explainer.explain(images, target=target)


def test_inner_keywords_are_passed_through() -> None:
    model = timm.create_model("test_resnet", num_classes=1).eval()
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        th = float(model(images).min()) - 1.0
    baselines = torch.zeros(2, 3, 32, 32)
    result = IterativeAugmentation(
        IntegratedGradients(model), threshold=th, max_iter=2, channel_reduction="sum"
    ).explain(images, baselines=baselines, n_steps=4)
    assert result.iterations.tolist() == [2, 2]
    layer = IterativeAugmentation(LayerGradCam(model, model.layer2), threshold=th, max_iter=1)
    with_relu = layer.explain(images, relu_attributions=True).initial
    assert (with_relu >= 0).all()


def _all_hooks(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks)
        + len(m._backward_hooks)
        + len(m._forward_pre_hooks)
        + len(getattr(m, "_backward_pre_hooks", {}))
        for m in model.modules()
    )


class FailsOnCall(nn.Module):
    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.inner = timm.create_model("test_resnet", num_classes=1)
        self.calls = 0
        self.fail_at = fail_at

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("boom")
        return self.inner(x)


@pytest.mark.parametrize("reuse", [False, True])
def test_nothing_leaks_even_when_the_model_raises(reuse: bool) -> None:
    model = FailsOnCall(fail_at=3).eval()
    images = torch.rand(2, 3, 32, 32)
    before = images.clone()
    flags = [p.requires_grad for p in model.parameters()]
    explainer = IterativeAugmentation(
        GuidedBackprop(model), threshold=-1e9, max_iter=5, reuse_forward=reuse
    )
    with pytest.raises(RuntimeError, match="boom"):
        explainer.explain(images)
    assert _all_hooks(model) == 0
    assert torch.equal(images, before) and not images.requires_grad
    assert [p.requires_grad for p in model.parameters()] == flags
    assert model.training is False


def test_model_mode_flags_and_inputs_are_left_as_they_were() -> None:
    model = timm.create_model("test_resnet", num_classes=1)
    model.train()
    model.fc.weight.requires_grad_(False)
    images = torch.rand(2, 3, 32, 32)
    before = images.clone()
    with pytest.warns(UserWarning, match="training mode"):
        IterativeAugmentation(GuidedBackprop(model), threshold=-1e9, max_iter=2).explain(images)
    assert model.training is True
    assert model.fc.weight.requires_grad is False
    assert all(
        p.requires_grad for n, p in model.named_parameters() if not n.startswith("fc.weight")
    )
    assert torch.equal(images, before)
    assert _all_hooks(model) == 0


def test_works_under_no_grad_and_inference_mode(blob_model: BlobScore) -> None:
    images = blob_batch()
    expected = IterativeAugmentation(Saliency(blob_model), threshold=TH, max_iter=4).attribute(
        images
    )
    explainer = IterativeAugmentation(Saliency(blob_model), threshold=TH, max_iter=4)
    with torch.no_grad():
        torch.testing.assert_close(explainer.attribute(images), expected)
    with torch.inference_mode():
        frozen = images.clone()
        out = explainer.attribute(frozen)
    torch.testing.assert_close(out, expected)


def test_captum_warnings_are_not_repeated_per_iteration() -> None:
    model = timm.create_model("test_resnet", num_classes=1).eval()
    images = torch.rand(2, 3, 32, 32)
    explainer = IterativeAugmentation(GuidedBackprop(model), threshold=-1e9, max_iter=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = explainer.explain(images)
    assert result.iterations.tolist() == [4, 4]
    hooks = [w for w in caught if "backward hooks on ReLU" in str(w.message)]
    assert len(hooks) == 1


def test_guided_method_on_model_without_relu_warns_once() -> None:
    model = timm.create_model("test_efficientnet", num_classes=1).eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        explainer = IterativeAugmentation(GuidedBackprop(model), threshold=-1e9, max_iter=2)
        explainer.explain(torch.rand(1, 3, 32, 32))
    relu = [w for w in caught if "no nn.ReLU" in str(w.message)]
    assert len(relu) == 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        IterativeAugmentation(GuidedBackprop(timm.create_model("test_resnet")), threshold=0.0)
    assert not [w for w in caught if "no nn.ReLU" in str(w.message)]


def test_result_lives_on_the_input_device_and_dtype(blob_model: BlobScore) -> None:
    images = blob_batch()
    result = IterativeAugmentation(Saliency(blob_model), threshold=TH, max_iter=2).explain(images)
    assert result.augmented.dtype == torch.float64 and result.inpainted.dtype == torch.float64
    assert result.iterations.dtype == torch.long
    assert result.initial_score.shape == (6,) and result.final_score.shape == (6,)


GOOD = {"threshold": 0.5}


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"attribution_method": lambda x: x}, TypeError, "attribution_method"),
        ({"threshold": float("nan")}, ValueError, "threshold"),
        ({"threshold": float("inf")}, ValueError, "threshold"),
        ({"threshold": "0.5"}, TypeError, "threshold"),
        ({"max_iter": 0}, ValueError, "max_iter"),
        ({"max_iter": 2.0}, TypeError, "max_iter"),
        ({"alpha": 0.0}, ValueError, "alpha"),
        ({"alpha": -1.0}, ValueError, "alpha"),
        ({"binarizer": "yen"}, ValueError, "binarizer"),
        ({"channel_reduction": "median"}, ValueError, "channel_reduction"),
        ({"inpainter": 3}, TypeError, "inpainter"),
        ({"internal_batch_size": 0}, ValueError, "internal_batch_size"),
        ({"reuse_forward": "sometimes"}, ValueError, "reuse_forward"),
        ({"autocast": torch.float64}, ValueError, "autocast"),
    ],
)
def test_bad_constructor_arguments(
    blob_model: BlobScore, kwargs: dict, error: type, name: str
) -> None:
    args = {"attribution_method": Saliency(blob_model), **GOOD, **kwargs}
    with pytest.raises(error, match=name):
        IterativeAugmentation(args.pop("attribution_method"), **args)


@pytest.mark.parametrize(
    ("inputs", "kwargs", "error", "name"),
    [
        (torch.rand(3, 48, 48, dtype=torch.float64), {}, ValueError, "inputs"),
        (torch.zeros(2, 3, 48, 48, dtype=torch.uint8), {}, TypeError, "inputs"),
        (np.zeros((2, 3, 48, 48)), {}, TypeError, "inputs"),
        (torch.full((2, 3, 48, 48), float("nan"), dtype=torch.float64), {}, ValueError, "inputs"),
        (torch.full((2, 3, 48, 48), float("inf"), dtype=torch.float64), {}, ValueError, "inputs"),
        (
            torch.rand(2, 3, 48, 48, dtype=torch.float64),
            {"target": [0, 0, 0]},
            ValueError,
            "target",
        ),
        (
            torch.rand(2, 3, 48, 48, dtype=torch.float64),
            {"target": torch.zeros(3)},
            ValueError,
            "target",
        ),
        (torch.rand(2, 3, 48, 48, dtype=torch.float64), {"target": "a"}, TypeError, "target"),
        (
            torch.rand(2, 3, 48, 48, dtype=torch.float64),
            {"valid": torch.ones(2, 1, 48, 48)},
            TypeError,
            "valid",
        ),
        (
            torch.rand(2, 3, 48, 48, dtype=torch.float64),
            {"valid": torch.zeros(2, 1, 48, 48, dtype=torch.bool)},
            ValueError,
            "valid",
        ),
        (
            torch.rand(2, 3, 48, 48, dtype=torch.float64),
            {"additional_forward_args": (torch.ones(3),)},
            ValueError,
            "additional_forward_args",
        ),
    ],
)
def test_bad_call_arguments(
    blob_model: BlobScore, inputs, kwargs: dict, error: type, name: str
) -> None:
    explainer = IterativeAugmentation(Saliency(blob_model), threshold=TH)
    with pytest.raises(error, match=name):
        explainer.explain(inputs, **kwargs)


def test_custom_binarizer_and_inpainter_are_used(blob_model: BlobScore) -> None:
    images = blob_batch([[0.9]])
    calls = []

    def top_pixel(maps: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
        calls.append(maps.shape)
        return maps >= maps.amax(dim=(2, 3), keepdim=True)

    explainer = IterativeAugmentation(
        Saliency(blob_model),
        threshold=TH,
        binarizer=top_pixel,
        inpainter=NavierStokesInpainter(dilation=2),
    )
    result = explainer.explain(images)
    assert calls and result.stop_reason == ["normal"]
    with pytest.raises(ValueError, match="binarizer"):
        IterativeAugmentation(Saliency(blob_model), threshold=TH, binarizer=lambda m, v: m).explain(
            images
        )


# -- host reads: the CPU view of "one device-to-host copy per iteration" ------------------------

# Operations whose result or input lives on the host and that therefore wait for a GPU: reading
# a scalar, data-dependent sizes (nonzero, boolean indexing) and tensors built from host data.
_HOST_READS = ("aten._local_scalar_dense", "aten.nonzero", "aten.masked_select", "aten.lift_fresh")


class _HostReads(TorchDispatchMode):
    """Record the operations that would synchronise a GPU, with the line that issued them."""

    def __init__(self) -> None:
        super().__init__()
        self.sites: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func)
        by_mask = name.startswith(("aten.index.", "aten.index_put")) and any(
            isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in args[1] if i is not None
        )
        if name.startswith(_HOST_READS) or by_mask:
            ours = [f for f in traceback.extract_stack() if "captum_iterative" in f.filename]
            self.sites.append(f"{ours[-1].filename}:{ours[-1].lineno}" if ours else name)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize(
    "target",
    [0, torch.tensor(0), torch.tensor([0, 0, 0]), [0, 0, 0]],
    ids=["int", "scalar-tensor", "tensor-per-image", "list-per-image"],
)
def test_loop_reads_the_host_once_per_iteration(
    blob_model: BlobScore, monkeypatch: pytest.MonkeyPatch, target: object
) -> None:
    # tests/test_gpu.py counts real CUDA synchronisations; this counts the operations that cause
    # them, on any device, so a stray torch.tensor(...) or .item() in the loop fails here too.
    # Otsu's cumulative sums go through numpy on the CPU only; count the path GPUs take.
    monkeypatch.setattr(binarize, "_cumsum", lambda values: values.cumsum(1))
    images = blob_batch([[0.9], [0.95, 0.8], [0.9, 0.85, 0.7]])
    valid = torch.ones(3, 1, 48, 48, dtype=torch.bool)
    sites = {}
    for max_iter in (1, 5):
        explainer = IterativeAugmentation(
            Saliency(blob_model), threshold=-1e30, inpainter=PyramidInpainter(), max_iter=max_iter
        )
        with _HostReads() as reads:
            result = explainer.explain(images, target=target, valid=valid)
        assert result.iterations.tolist() == [max_iter] * 3
        sites[max_iter] = Counter(reads.sites)
    extra = sites[5] - sites[1]
    assert sum(extra.values()) == 4, f"extra host reads for 4 more iterations: {dict(extra)}"
    assert all("augmentation.py" in site for site in extra), extra


def test_normalize_maps_sums_each_map_over_its_maximum() -> None:
    """normalize_maps: augmented = sum_t exp(-alpha t) M^t / max |M^t| over the field of view;
    the raw sum stays the default and M^1 stays raw."""
    images = torch.stack([blob_image([0.9, 0.8, 0.7], seed=0), blob_image([0.9], seed=1)]).double()
    valid = torch.ones(2, 1, 48, 48, dtype=torch.bool)
    valid[..., :4, :] = False
    model = BlobScore().double().eval()
    raw = IterativeAugmentation(Saliency(model), threshold=0.3, keep_history=True)
    unit = IterativeAugmentation(
        Saliency(model), threshold=0.3, keep_history=True, normalize_maps=True
    )
    a, b = raw.explain(images, valid=valid), unit.explain(images, valid=valid)
    assert a.maps is not None and b.maps is not None
    for i in range(2):
        maps = a.maps[i]
        weights = torch.exp(-0.6 * torch.arange(1, len(maps) + 1, dtype=torch.float64))
        tops = torch.where(valid[i], maps.abs(), 0).flatten(1).amax(1)
        expected = (weights.view(-1, 1, 1, 1) * maps / tops.view(-1, 1, 1, 1)).sum(0)
        torch.testing.assert_close(b.augmented[i], expected)
        torch.testing.assert_close(a.augmented[i], (weights.view(-1, 1, 1, 1) * maps).sum(0))
    torch.testing.assert_close(b.initial, a.initial)
    assert a.iterations.tolist() == b.iterations.tolist() and a.iterations.tolist()[0] > 1

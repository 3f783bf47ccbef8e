"""Every Table I method (and other Captum attributions) runs through the loop on timm models."""

from __future__ import annotations

import warnings

import pytest
import timm
import torch
from captum.attr import (
    DeepLift,
    FeatureAblation,
    GuidedBackprop,
    GuidedGradCam,
    InputXGradient,
    IntegratedGradients,
    LayerGradCam,
    NoiseTunnel,
    Occlusion,
    Saliency,
)

from captum_iterative import IterativeAugmentation

SIZE = 32
MODELS = ["test_resnet", "test_efficientnet", "test_vit"]
#: A spatial layer in the middle of each model for the Grad-CAM methods (None: not applicable,
#: the ViT's layers hold tokens, not pixels).
LAYERS = {"test_resnet": "layer2", "test_efficientnet": "blocks.2", "test_vit": None}


def make(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    kwargs = {"img_size": SIZE} if name == "test_vit" else {}
    return timm.create_model(name, num_classes=1, **kwargs).eval()


def methods(model: torch.nn.Module, name: str):
    layer = LAYERS[name]
    yield "saliency", Saliency(model), {}
    yield "guided_backprop", GuidedBackprop(model), {}
    yield "integrated_gradients", IntegratedGradients(model), {"n_steps": 4}
    if layer is not None:
        module = model.get_submodule(layer)
        yield "grad_cam", LayerGradCam(model, module), {"relu_attributions": True}
        yield "guided_grad_cam", GuidedGradCam(model, module), {}
    yield "input_x_gradient", InputXGradient(model), {}
    yield "noise_tunnel", NoiseTunnel(Saliency(model)), {"nt_samples": 2, "stdevs": 0.05}
    yield "occlusion", Occlusion(model), {"sliding_window_shapes": (3, 8, 8), "strides": (3, 8, 8)}
    if name == "test_resnet":  # DeepLift supports ReLU networks
        yield "deep_lift", DeepLift(model), {}
    yield (
        "feature_ablation",
        FeatureAblation(model),
        {
            "feature_mask": (
                torch.arange(16).view(4, 4).repeat_interleave(8, 0).repeat_interleave(8, 1)
            )[None, None]
        },
    )


CASES = [(name, label) for name in MODELS for label, _, _ in methods(make(name), name)]


@pytest.mark.parametrize(("name", "label"), CASES, ids=[f"{n}-{m}" for n, m in CASES])
def test_method_gives_finite_input_sized_maps(name: str, label: str) -> None:
    model = make(name)
    method, kwargs = next((m, k) for lbl, m, k in methods(model, name) if lbl == label)
    images = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        threshold = float(model(images).min()) - 1.0  # both images stay abnormal: 2 full steps
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer = IterativeAugmentation(
            method, threshold=threshold, max_iter=2, keep_history=True
        )
        result = explainer.explain(images, **kwargs)
    assert result.augmented.shape == (2, 1, SIZE, SIZE)
    assert torch.isfinite(result.augmented).all() and torch.isfinite(result.initial).all()
    assert result.iterations.tolist() == [2, 2] or "degenerate_map" in result.stop_reason
    for i in range(2):
        if result.iterations[i] > 0:
            assert result.augmented[i].abs().sum() > 0
            assert result.masks[i].any()


def test_gradcam_layer_maps_are_upsampled_not_cropped() -> None:
    model = make("test_resnet")
    images = torch.rand(1, 3, SIZE, SIZE)
    cam = LayerGradCam(model, model.layer2).attribute(images, relu_attributions=True)
    assert cam.shape[-1] < SIZE
    result = IterativeAugmentation(
        LayerGradCam(model, model.layer2), threshold=-1e9, max_iter=1
    ).explain(images, relu_attributions=True)
    expected = torch.nn.functional.interpolate(cam, (SIZE, SIZE), mode="bilinear")
    torch.testing.assert_close(result.initial, expected.abs())


@pytest.mark.parametrize(
    "label", ["saliency", "guided_backprop", "grad_cam", "guided_grad_cam", "input_x_gradient"]
)
def test_reused_forward_gives_identical_results(label: str) -> None:
    model = make("test_resnet").double()
    images = torch.rand(
        3, 3, SIZE, SIZE, dtype=torch.float64, generator=torch.Generator().manual_seed(2)
    )
    with torch.no_grad():
        scores = model(images)[:, 0]
    threshold = float(scores.median())  # one image normal at once, others iterate for a while
    results = []
    for reuse in (False, True):
        method, kwargs = next((m, k) for lbl, m, k in methods(model, "test_resnet") if lbl == label)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            explainer = IterativeAugmentation(
                method, threshold=threshold, max_iter=6, reuse_forward=reuse
            )
            assert explainer.reuse_forward is reuse
            results.append(explainer.explain(images, **kwargs))
    plain, reused = results
    assert plain.stop_reason == reused.stop_reason
    assert torch.equal(plain.iterations, reused.iterations)
    torch.testing.assert_close(plain.augmented, reused.augmented, rtol=0, atol=1e-12)
    for a, b in zip(plain.scores, reused.scores, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_reuse_is_automatic_only_where_the_forward_pass_matches() -> None:
    model = make("test_resnet")
    assert IterativeAugmentation(GuidedBackprop(model), threshold=0.0).reuse_forward is True
    assert IterativeAugmentation(IntegratedGradients(model), threshold=0.0).reuse_forward is False
    assert IterativeAugmentation(NoiseTunnel(Saliency(model)), threshold=0.0).reuse_forward is False
    assert IterativeAugmentation(Occlusion(model), threshold=0.0).reuse_forward is False

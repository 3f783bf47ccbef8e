"""The pytorch-grad-cam adapter (skipped without the gradcam extra)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import timm
import torch
from captum.attr import LayerGradCam

from captum_iterative import IterativeAugmentation
from captum_iterative.integrations import CAMAttribution

pytorch_grad_cam = pytest.importorskip("pytorch_grad_cam", reason="needs the gradcam extra")
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402


@pytest.fixture
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return timm.create_model("test_resnet", num_classes=3).eval()


def test_maps_are_pytorch_grad_cams_own(model: torch.nn.Module) -> None:
    x = torch.rand(2, 3, 64, 64)
    with pytorch_grad_cam.GradCAM(model=model, target_layers=[model.layer3]) as cam:
        ours = CAMAttribution(cam).attribute(x, target=[1, 2])
        theirs = cam(input_tensor=x, targets=[ClassifierOutputTarget(1), ClassifierOutputTarget(2)])
    assert ours.shape == (2, 1, 64, 64) and ours.dtype == torch.float32
    np.testing.assert_array_equal(ours[:, 0].numpy(), theirs)


def _unit_range(maps: np.ndarray) -> np.ndarray:
    """pytorch-grad-cam's per-image scaling: minus the minimum, over the maximum (+1e-7)."""
    maps = maps - maps.min(axis=(1, 2), keepdims=True)
    return maps / (1e-7 + maps.max(axis=(1, 2), keepdims=True))


def test_grad_cam_equals_captums_layer_grad_cam_scaled_and_resized(model: torch.nn.Module) -> None:
    x = torch.rand(2, 3, 64, 64)
    with pytorch_grad_cam.GradCAM(model=model, target_layers=[model.layer3]) as cam:
        ours = CAMAttribution(cam).attribute(x, target=0)
    captum = LayerGradCam(model, model.layer3).attribute(x, target=0, relu_attributions=True)
    layer = _unit_range(captum[:, 0].detach().numpy())
    resized = np.stack([cv2.resize(m, (64, 64), interpolation=cv2.INTER_LINEAR) for m in layer])
    # Same Grad-CAM; the channel weights are averaged by numpy there and by torch in Captum,
    # which differ in float32 rounding only (about 1e-6 of the unit range here).
    np.testing.assert_allclose(ours[:, 0].numpy(), _unit_range(resized), rtol=0, atol=1e-5)


@pytest.mark.parametrize("target", [0, [0, 2], torch.tensor([1, 0])])
def test_cam_objects_run_in_the_loop(model: torch.nn.Module, target: object) -> None:
    x = torch.rand(2, 3, 64, 64)
    with pytorch_grad_cam.GradCAMPlusPlus(model=model, target_layers=[model.layer3]) as cam:
        result = IterativeAugmentation(CAMAttribution(cam), threshold=-1e9, max_iter=2).explain(
            x, target=target
        )
    assert result.iterations.tolist() == [2, 2]
    assert float(result.initial.min()) >= 0.0 and float(result.initial.max()) <= 1.0
    assert not any(m._forward_hooks for m in model.modules())  # released by the with block


def test_vit_with_pytorch_grad_cams_reshape_transform() -> None:
    vit = timm.create_model("test_vit", img_size=64, num_classes=1).eval()

    def to_grid(tokens: torch.Tensor) -> torch.Tensor:
        return tokens[:, 1:].transpose(1, 2).reshape(tokens.shape[0], -1, 4, 4)

    x = torch.rand(2, 3, 64, 64)
    with pytorch_grad_cam.GradCAM(
        model=vit, target_layers=[vit.blocks[-1].norm1], reshape_transform=to_grid
    ) as cam:
        result = IterativeAugmentation(CAMAttribution(cam), threshold=-1e9, max_iter=2).explain(
            x, target=0
        )
    assert result.augmented.shape == (2, 1, 64, 64) and result.iterations.tolist() == [2, 2]


def test_bad_arguments(model: torch.nn.Module) -> None:
    with pytest.raises(TypeError, match="GradCAM"):
        CAMAttribution(LayerGradCam(model, model.layer3))
    with pytorch_grad_cam.GradCAM(model=model, target_layers=[model.layer3]) as cam:
        with pytest.raises(ValueError, match="additional_forward_args"):
            CAMAttribution(cam).attribute(torch.rand(1, 3, 64, 64), 0, (1,))

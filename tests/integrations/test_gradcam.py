"""The pytorch-grad-cam adapter (skipped without the gradcam extra)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import timm
import torch
from captum.attr import LayerGradCam

from captum_iterative import AugmentationResult, IterativeAugmentation
from captum_iterative.integrations import CAMAttribution

pytorch_grad_cam = pytest.importorskip("pytorch_grad_cam", reason="needs the gradcam extra")
from pytorch_grad_cam.utils.model_targets import (  # noqa: E402
    BinaryClassifierOutputTarget,
    ClassifierOutputSoftmaxTarget,
    ClassifierOutputTarget,
)


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


def assert_same_result(a: AugmentationResult, b: AugmentationResult) -> None:
    """Bit for bit: both results come from this process, on the same images and model."""
    for name in ("augmented", "initial", "iterations", "inpainted"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name), rtol=0, atol=0)
    for x, y in zip(a.scores, b.scores, strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    assert a.stop_reason == b.stop_reason


def test_target_none_explains_the_predicted_class_for_the_whole_loop() -> None:
    torch.manual_seed(0)
    model = timm.create_model("test_resnet", num_classes=2).eval()
    x = torch.rand(4, 3, 64, 64)
    x[2:] = x[2:] ** 4  # two darker images
    with torch.no_grad():  # a head telling the bright images (class 0) from the dark ones
        features = model.forward_head(model.forward_features(x), pre_logits=True)
        direction = features[:2].mean(dim=0) - features[2:].mean(dim=0)
        model.fc.weight.copy_(10 * torch.stack([direction, -direction]))
        model.fc.bias.copy_(-(features @ model.fc.weight.T).mean(dim=0))
        logits = model(x)
    predicted = logits.argmax(dim=1)
    assert predicted.tolist() == [0, 0, 1, 1]  # a per-image choice
    assert float((logits[:, 0] - logits[:, 1]).abs().min()) > 0.1  # far from a tie anywhere
    with pytorch_grad_cam.GradCAMPlusPlus(model=model, target_layers=[model.layer3]) as cam:
        loop = IterativeAugmentation(CAMAttribution(cam), threshold=-1e9, max_iter=3)
        # It raised "the model has 2 outputs: pass `target=`".
        chosen = loop.explain(x)
        explicit = loop.explain(x, target=predicted)
    assert_same_result(chosen, explicit)
    assert chosen.iterations.tolist() == [3, 3, 3, 3]
    # The scores are those of the predicted class of the input, at every step.
    torch.testing.assert_close(chosen.initial_score, logits.amax(dim=1).double())


def test_pytorch_grad_cams_own_targets_are_class_indices(model: torch.nn.Module) -> None:
    x = torch.rand(2, 3, 64, 64)
    with pytorch_grad_cam.GradCAMPlusPlus(model=model, target_layers=[model.layer3]) as cam:
        adapter = CAMAttribution(cam)
        loop = IterativeAugmentation(adapter, threshold=-1e9, max_iter=2)
        # They were refused: "`target` list entries must be ints, ...".
        theirs = loop.explain(x, target=[ClassifierOutputTarget(1)] * 2)
        assert_same_result(theirs, loop.explain(x, target=1))
        assert_same_result(loop.explain(x, target=ClassifierOutputTarget(2)), loop.explain(x, 2))
        mixed = loop.explain(x, target=[0, ClassifierOutputTarget(2)])
        assert_same_result(mixed, loop.explain(x, target=[0, 2]))
        assert theirs.iterations.tolist() == [2, 2]
        direct = adapter.attribute(x, target=[ClassifierOutputTarget(0), ClassifierOutputTarget(2)])
        torch.testing.assert_close(direct, adapter.attribute(x, target=[0, 2]), rtol=0, atol=0)
        for other in (ClassifierOutputSoftmaxTarget(1), BinaryClassifierOutputTarget(1)):
            name = type(other).__name__
            with pytest.raises(TypeError, match=f"{name} does not score one class column.*"):
                loop.explain(x, target=[other] * 2)
            with pytest.raises(TypeError, match="ClassifierOutputTarget"):
                adapter.attribute(x, target=other)


def test_a_cam_object_itself_is_refused_naming_cam_attribution(model: torch.nn.Module) -> None:
    x = torch.rand(1, 3, 64, 64)
    with pytorch_grad_cam.GradCAM(model=model, target_layers=[model.layer3]) as cam:
        # The message suggested forward_func=, which then failed inside pytorch-grad-cam with
        # "'int' object is not iterable".
        for kwargs in ({}, {"forward_func": model}):
            with pytest.raises(
                TypeError, match=r"GradCAM is a pytorch-grad-cam CAM object.*CAMAttribution\(cam\)"
            ):
                IterativeAugmentation(cam, threshold=0.0, **kwargs).explain(x, target=0)


def test_progress_bars_of_score_cam_are_off_inside_the_loop(
    model: torch.nn.Module, capsys: pytest.CaptureFixture[str]
) -> None:
    x = torch.rand(2, 3, 32, 32)
    with pytorch_grad_cam.ScoreCAM(model=model, target_layers=[model.layer1]) as cam:
        for progress in (False, True):
            adapter = CAMAttribution(cam, progress=True) if progress else CAMAttribution(cam)
            loop = IterativeAugmentation(adapter, threshold=-1e9, max_iter=2)
            capsys.readouterr()
            result = loop.explain(x, target=1)
            # Each bar draws its 0 % state once when it starts ("  0%|"); its later states may
            # be redrawn (on a loaded machine every update passes tqdm's mininterval), so they
            # do not count bars.
            bars = capsys.readouterr().err.count("  0%|")
            assert result.iterations.tolist() == [2, 2]
            # ScoreCAM draws one bar per image and map: 2 images x 2 maps.
            assert bars == (4 if progress else 0), bars
    import pytorch_grad_cam.score_cam as score_cam
    import tqdm

    assert score_cam.tqdm is tqdm  # given back after each call


def test_bad_arguments(model: torch.nn.Module) -> None:
    with pytest.raises(TypeError, match="GradCAM"):
        CAMAttribution(LayerGradCam(model, model.layer3))
    with pytorch_grad_cam.GradCAM(model=model, target_layers=[model.layer3]) as cam:
        with pytest.raises(ValueError, match="additional_forward_args"):
            CAMAttribution(cam).attribute(torch.rand(1, 3, 64, 64), 0, (1,))
        loop = IterativeAugmentation(CAMAttribution(cam), threshold=0.0)
        with pytest.raises(ValueError, match="additional_forward_args"):  # before any forward
            loop.explain(torch.rand(1, 3, 64, 64), additional_forward_args=(1,))

"""Captum conventions of the loop: NoiseTunnel around it, tuple inputs, target-less methods,
positional arguments, callables as explainers and token-shaped layers."""

from __future__ import annotations

import inspect

import pytest
import timm
import torch
from _helpers.core import BlobScore, blob_image
from captum.attr import (
    GuidedBackprop,
    LayerActivation,
    LayerGradCam,
    LayerGradientXActivation,
    NoiseTunnel,
    Saliency,
)
from torch import nn

from captum_iterative import IterativeAugmentation, reduce_attribution

TH = 0.3


def images() -> torch.Tensor:
    return torch.stack([blob_image(v, seed=i) for i, v in enumerate([[0.9, 0.8], [0.95], [0.2]])])


class TwoHeads(nn.Module):
    """Column 0 = blob score, column 1 = 1 - blob score."""

    def __init__(self) -> None:
        super().__init__()
        self.blob = BlobScore().double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.blob(x)
        return torch.cat([s, 1 - s], dim=1)


# -- NoiseTunnel ----------------------------------------------------------------------------------


def test_noise_tunnel_wraps_the_loop(blob_model: BlobScore) -> None:
    # Failed with AttributeError: 'function' object has no attribute '__wrapped__' (Captum's
    # wrappers call attribute.__wrapped__, which @log_usage provides).
    loop = IterativeAugmentation(Saliency(blob_model), threshold=TH, max_iter=4)
    x = images()
    smooth = NoiseTunnel(loop).attribute(x, nt_type="smoothgrad", nt_samples=3, stdevs=0.0)
    torch.testing.assert_close(smooth, loop.attribute(x))  # noiseless samples: the same maps


def test_noise_tunnel_averages_the_loop_over_noisy_copies(blob_model: BlobScore) -> None:
    loop = IterativeAugmentation(Saliency(blob_model), threshold=TH, max_iter=2)
    seen: list[torch.Tensor] = []
    explain = loop.explain

    def recording(inputs, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = explain(inputs, *args, **kwargs)
        seen.append(result.augmented)
        return result

    loop.explain = recording  # type: ignore[method-assign]
    x = images()[:2]
    torch.manual_seed(0)
    smooth = NoiseTunnel(loop).attribute(
        x, nt_type="smoothgrad", nt_samples=4, stdevs=0.01, target=[0, 0]
    )
    (maps,) = seen
    assert maps.shape == (8, 1, 48, 48)  # Captum repeats each image nt_samples times
    torch.testing.assert_close(smooth, maps.view(2, 4, 1, 48, 48).mean(1))


# -- inputs, targets and positional arguments ------------------------------------------------------


def test_one_element_tuple_inputs_give_tuple_maps(blob_model: BlobScore) -> None:
    loop = IterativeAugmentation(Saliency(blob_model), threshold=TH, max_iter=3)
    x = images()
    (maps,) = loop.attribute((x,))
    torch.testing.assert_close(maps, loop.attribute(x))
    result = loop.explain((x,))
    torch.testing.assert_close(result.augmented, maps)
    with pytest.raises(ValueError, match="additional_forward_args"):
        loop.attribute((x, x))


def test_layer_activation_takes_no_target_and_the_target_only_scores() -> None:
    model = TwoHeads().eval()
    x = images()
    layer = LayerActivation(model, model.blob.conv)
    assert "target" not in inspect.signature(layer.attribute).parameters
    first = IterativeAugmentation(layer, threshold=TH, max_iter=3).explain(x, target=0)
    # the map is the layer's activation, whatever the target
    expected = layer.attribute(x).abs()
    torch.testing.assert_close(first.initial[:2], expected[:2])
    assert first.stop_reason == ["normal", "normal", "not_abnormal"]
    # column 1 (1 - blob score) is high for the dark image only: the target changes the scores
    second = IterativeAugmentation(layer, threshold=0.8, max_iter=1).explain(x, target=1)
    assert second.stop_reason[:2] == ["not_abnormal", "not_abnormal"]
    assert second.stop_reason[2] != "not_abnormal"


def test_positional_arguments_follow_captum() -> None:
    ours = list(inspect.signature(IterativeAugmentation.attribute).parameters)[1:4]
    for method in (Saliency, GuidedBackprop, LayerGradCam):
        captum = list(inspect.signature(method.attribute).parameters)
        assert ours[:2] == captum[1:3]  # inputs, target
        assert "additional_forward_args" in captum
    assert ours == ["inputs", "target", "additional_forward_args"]
    model = TwoHeads().eval()
    x = images()
    loop = IterativeAugmentation(Saliency(model), TH, max_iter=2)
    torch.testing.assert_close(loop.attribute(x, 0), loop.attribute(x, target=0))
    positional = loop.explain(x, [0, 0, 0], None)
    assert positional.stop_reason == loop.explain(x, target=[0, 0, 0]).stop_reason


# -- callables as explainers -------------------------------------------------------------------


def test_a_plain_function_is_an_explainer(blob_model: BlobScore) -> None:
    def gradient(inputs: torch.Tensor, target: object, **kwargs: object) -> torch.Tensor:
        (grad,) = torch.autograd.grad(blob_model(inputs).sum(), inputs)
        return grad

    x = images()
    ours = IterativeAugmentation(gradient, TH, forward_func=blob_model, max_iter=4).explain(x)
    reference = IterativeAugmentation(Saliency(blob_model), TH, max_iter=4).explain(x)
    torch.testing.assert_close(ours.augmented, reference.augmented)
    assert ours.stop_reason == reference.stop_reason
    with pytest.raises(TypeError, match="forward_func="):
        IterativeAugmentation(gradient, TH)


def test_a_callable_explainer_with_its_own_score_may_see_structured_outputs() -> None:
    class Dict(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.blob = BlobScore().double()

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"score": self.blob(x)}

    model = Dict().eval()

    def gradient(inputs: torch.Tensor, target: object) -> torch.Tensor:
        return torch.autograd.grad(model(inputs)["score"].sum(), inputs)[0]

    result = IterativeAugmentation(
        gradient, TH, forward_func=model, score_fn=lambda out, t: out["score"][:, 0], max_iter=4
    ).explain(images())
    assert result.stop_reason == ["normal", "normal", "not_abnormal"]


# -- token-shaped layers -------------------------------------------------------------------------


def test_reshape_transform_maps_vit_tokens_to_pixels() -> None:
    vit = timm.create_model("test_vit", img_size=64, num_classes=1).eval()
    side = vit.patch_embed.grid_size[0]  # 4 x 4 patches of 16 px
    assert vit.num_prefix_tokens == 1

    def to_grid(tokens: torch.Tensor) -> torch.Tensor:
        patches = tokens[:, vit.num_prefix_tokens :]
        return patches.transpose(1, 2).reshape(tokens.shape[0], -1, side, side)

    layer = LayerGradientXActivation(vit, vit.blocks[-1].norm1)
    x = torch.rand(2, 3, 64, 64)
    result = IterativeAugmentation(
        layer, threshold=-1e9, max_iter=2, reshape_transform=to_grid
    ).explain(x)
    assert result.iterations.tolist() == [2, 2]
    expected = reduce_attribution(layer.attribute(x), (64, 64), reshape_transform=to_grid)
    torch.testing.assert_close(result.initial, expected)
    with pytest.raises(ValueError, match="reshape_transform"):
        IterativeAugmentation(layer, threshold=-1e9, max_iter=1).explain(x)
    with pytest.raises(ValueError, match=r"LayerGradCam.*LayerGradientXActivation"):
        IterativeAugmentation(
            LayerGradCam(vit, vit.blocks[-1].norm1), threshold=0.0, reshape_transform=to_grid
        )
    with pytest.raises(TypeError, match="reshape_transform"):
        IterativeAugmentation(layer, threshold=0.0, reshape_transform=3)  # type: ignore[arg-type]

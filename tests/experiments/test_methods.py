"""The Table I registry builds the right Captum methods and runs them through the loop."""

from __future__ import annotations

import pytest
import torch
from captum.attr import GuidedGradCam, IntegratedGradients, LayerGradCam, Saliency

from captum_iterative.experiments import (
    TABLE_I,
    MethodSpec,
    build_explainer,
    build_method,
    get_method,
    list_methods,
    register_method,
)
from captum_iterative.experiments import methods as methods_module
from captum_iterative.fundus.models import create_classifier, gradcam_layer


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_classifier("vgg_tiny").eval()


def test_table_one_order_and_captum_types(model: torch.nn.Module) -> None:
    assert TABLE_I == (
        "saliency",
        "guided_backprop",
        "integrated_gradients",
        "grad_cam",
        "guided_grad_cam",
    )
    assert isinstance(build_method("saliency", model)[0], Saliency)
    assert isinstance(build_method("integrated_gradients", model)[0], IntegratedGradients)
    cam, kwargs, _ = build_method("grad_cam", model)
    assert isinstance(cam, LayerGradCam) and cam.layer is gradcam_layer(model)
    assert kwargs == {"relu_attributions": True}
    assert isinstance(build_method("guided_grad_cam", model)[0], GuidedGradCam)


def test_explainers_run_and_use_the_method_reduction(model: torch.nn.Module) -> None:
    images = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    for name in TABLE_I:
        explainer, kwargs = build_explainer(name, model, threshold=-1e9, max_iter=2)
        assert explainer.channel_reduction is not None
        result = explainer.explain(images, **kwargs)
        assert result.iterations.tolist() == [2] or result.stop_reason == ["degenerate_map"]
        assert torch.isfinite(result.augmented).all()
    ig, _ = build_explainer("integrated_gradients", model, threshold=0.0)
    plain = build_explainer(
        "integrated_gradients", model, threshold=0.0, channel_reduction="abs_max"
    )
    assert ig.channel_reduction is not plain[0].channel_reduction


def test_returned_kwargs_are_copies_and_unknown_names_fail(model: torch.nn.Module) -> None:
    _, kwargs, spec = build_method("integrated_gradients", model)
    kwargs["n_steps"] = 1
    assert get_method("integrated_gradients").kwargs["n_steps"] == spec.kwargs["n_steps"] != 1
    with pytest.raises(
        ValueError,
        match=r"`method` must be one of \['grad_cam', 'guided_backprop', 'guided_grad_cam', "
        r"'integrated_gradients', 'saliency'\], got 'lime'",
    ):
        build_method("lime", model)


def test_list_is_sorted_and_a_spec_passes_through() -> None:
    assert list_methods() == sorted(TABLE_I)
    spec = get_method("saliency")
    assert isinstance(spec, MethodSpec) and spec.label == "Saliency"
    assert get_method(spec) is spec


def test_register_a_method_and_refuse_a_taken_name(
    model: torch.nn.Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(methods_module._METHODS, "_entries", dict(methods_module._METHODS._entries))

    @register_method("plain_saliency", label="Sal.", channel_reduction="sum")
    def plain_saliency(m: torch.nn.Module, layer: torch.nn.Module | None) -> Saliency:
        return Saliency(m)

    assert "plain_saliency" in list_methods() and list_methods() == sorted(list_methods())
    built, kwargs, spec = build_method("plain_saliency", model)
    assert isinstance(built, Saliency) and kwargs == {} and spec.channel_reduction == "sum"
    with pytest.raises(ValueError, match="method name 'saliency' is already registered"):
        register_method("saliency", label="Saliency")(plain_saliency)

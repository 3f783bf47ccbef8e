"""Explainers that are not Captum objects, and methods whose attribute takes no target."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _helpers.core import BlobScore, blob_image
from captum.attr import LayerActivation, NoiseTunnel, Saliency

from captum_iterative import IterativeAugmentation
from captum_iterative.attribution import (
    CallableAttribution,
    accepts_target,
    as_attribution,
    loop_target,
)


def test_callable_attribution_returns_tensors_on_the_inputs_device(blob_model: BlobScore) -> None:
    seen = {}

    def gradient(inputs: torch.Tensor, target: object, **kwargs: object) -> np.ndarray:
        seen.update(target=target, kwargs=kwargs, requires_grad=inputs.requires_grad)
        (grad,) = torch.autograd.grad(blob_model(inputs).sum(), inputs)
        return grad.numpy()

    explainer = CallableAttribution(gradient, blob_model)
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    with torch.no_grad():  # the callable still gets gradients
        out = explainer.attribute(x, target=0, flag=True)
    assert isinstance(out, torch.Tensor) and out.shape == x.shape
    expected = Saliency(blob_model).attribute(x.clone().requires_grad_(), abs=False)
    torch.testing.assert_close(out, expected)
    assert seen == {"target": 0, "kwargs": {"flag": True}, "requires_grad": True}
    assert "gradient" in repr(explainer)


def test_callable_attribution_refuses_other_results(blob_model: BlobScore) -> None:
    explainer = CallableAttribution(lambda x, target: [1, 2], blob_model)
    with pytest.raises(TypeError, match="tensor or a numpy array"):
        explainer.attribute(torch.rand(1, 3, 8, 8))


def test_as_attribution(blob_model: BlobScore) -> None:
    saliency = Saliency(blob_model)
    assert as_attribution(saliency, None) is saliency
    wrapped = as_attribution(lambda x, target: x, blob_model)
    assert isinstance(wrapped, CallableAttribution) and wrapped.forward_func is blob_model
    with pytest.raises(TypeError, match="forward_func="):
        as_attribution(lambda x, target: x, None)
    with pytest.raises(TypeError, match=r"Saliency\(model\)"):
        as_attribution(Saliency, blob_model)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        as_attribution(3, blob_model)  # type: ignore[arg-type]


def test_accepts_target(blob_model: BlobScore) -> None:
    assert accepts_target(Saliency(blob_model))
    assert not accepts_target(LayerActivation(blob_model, blob_model.conv))
    assert accepts_target(NoiseTunnel(Saliency(blob_model)))  # **kwargs
    assert accepts_target(CallableAttribution(lambda x, target: x, blob_model))
    loop = IterativeAugmentation(Saliency(blob_model), threshold=0.0)
    assert accepts_target(loop)


class NamedTargets(Saliency):
    """Saliency whose targets are names; the loop reads them through its ``loop_target``."""

    def __init__(self, model: BlobScore) -> None:
        super().__init__(model)
        self.calls: list[tuple[object, int]] = []

    def loop_target(self, target: object, inputs: torch.Tensor, extra: object) -> object:
        self.calls.append((target, inputs.shape[0]))
        return {"abnormal": 0}[target]  # type: ignore[index]


def test_an_explainer_may_read_the_target_once_per_call(blob_model: BlobScore) -> None:
    x = blob_batch_of_two()
    named = NamedTargets(blob_model)
    assert loop_target(Saliency(blob_model), "kept as is", x, None) == "kept as is"
    assert loop_target(named, "abnormal", x, None) == 0
    named.calls.clear()
    ours = IterativeAugmentation(named, threshold=0.3, max_iter=3).explain(x, target="abnormal")
    plain = IterativeAugmentation(Saliency(blob_model), threshold=0.3, max_iter=3).explain(x, 0)
    assert named.calls == [("abnormal", 2)]  # once, before the first step, for the whole batch
    assert ours.iterations.tolist() == plain.iterations.tolist() == [2, 1]
    torch.testing.assert_close(ours.augmented, plain.augmented, rtol=0, atol=0)


def blob_batch_of_two() -> torch.Tensor:
    return torch.stack([blob_image([0.9, 0.8], seed=0), blob_image([0.9], seed=1)])

"""Structured model outputs (ModelOutput-like, dict, tuple) and score presets in the loop."""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import pytest
import torch
from _helpers.core import BlobScore, blob_image
from captum.attr import GuidedBackprop, IntegratedGradients, Saliency
from torch import nn

from captum_iterative import IterativeAugmentation

TH = 0.3


def images() -> torch.Tensor:
    return torch.stack([blob_image(v, seed=i) for i, v in enumerate([[0.9, 0.8], [0.95], [0.2]])])


class ModelOutput(OrderedDict):
    """What HuggingFace's ``transformers.utils.ModelOutput`` is: a dict with attribute access."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as error:
            raise AttributeError(name) from error


class Logits(nn.Module):
    """Blob score and its negative as two logits."""

    def __init__(self) -> None:
        super().__init__()
        self.blob = BlobScore().double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.blob(x)
        return torch.cat([s, -s], dim=1)


class Structured(nn.Module):
    """The same logits inside a structured output, counting its forward passes."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.logits = Logits()
        self.kind = kind
        self.calls = 0

    def forward(self, x: torch.Tensor) -> Any:
        self.calls += 1
        logits = self.logits(x)
        if self.kind == "model_output":
            return ModelOutput(logits=logits, hidden=x.mean())
        if self.kind == "dict":
            return {"logits": logits, "aux": logits * 0}
        return (logits, x.mean())


OUTPUT_FNS = {
    "model_output": lambda out: out.logits,
    "dict": lambda out: out["logits"],
    "tuple": lambda out: out[0],
}


@pytest.mark.parametrize("kind", list(OUTPUT_FNS))
@pytest.mark.parametrize("method", [Saliency, GuidedBackprop, IntegratedGradients])
def test_output_fn_gives_the_results_of_the_plain_tensor_model(kind: str, method: type) -> None:
    structured = Structured(kind).eval()
    x = images()
    kwargs = {"n_steps": 4} if method is IntegratedGradients else {}
    ours = IterativeAugmentation(
        method(structured), TH, max_iter=4, output_fn=OUTPUT_FNS[kind]
    ).explain(x, target=0, **kwargs)
    plain = IterativeAugmentation(method(structured.logits), TH, max_iter=4).explain(
        x, target=0, **kwargs
    )
    torch.testing.assert_close(ours.augmented, plain.augmented)
    assert ours.stop_reason == plain.stop_reason == ["normal", "normal", "not_abnormal"]
    assert not structured._forward_hooks  # the hook is gone after the call


def test_output_fn_keeps_the_reuse_of_the_attributions_forward_pass() -> None:
    x = images()
    calls = {}
    for reuse in (True, False):
        model = Structured("model_output").eval()
        result = IterativeAugmentation(
            Saliency(model), TH, max_iter=4, reuse_forward=reuse, output_fn=OUTPUT_FNS["dict"]
        ).explain(x, target=0)
        calls[reuse] = model.calls
        assert result.iterations.tolist() == [2, 1, 0]
    # Batched forward passes: the first score, then the maps of steps 1 and 2, and without reuse
    # the scores after steps 1 and 2 (5). With reuse, step 1's map is computed from the input's
    # pass and the scores after steps 1 and 2 come from the maps' passes of steps 2 and 3 (4). A
    # hook that missed the tensor would fall back to extra scoring passes (6).
    assert calls == {True: 4, False: 5}


def test_score_fn_alone_fails_with_a_hint_at_output_fn() -> None:
    # Used to fail inside Captum with "'Out' object has no attribute 'shape'".
    model = Structured("model_output").eval()
    explainer = IterativeAugmentation(
        Saliency(model), TH, score_fn=lambda out, target: out.logits[:, 0]
    )
    with pytest.raises(TypeError, match=r"output_fn=lambda out: out\.logits"):
        explainer.explain(images(), target=0)
    with pytest.raises(TypeError, match="output_fn"):
        IterativeAugmentation(Saliency(model), TH).explain(images(), target=0)


def test_output_fn_needs_a_module_and_a_tensor() -> None:
    model = Structured("dict").eval()
    with pytest.raises(TypeError, match=r"nn\.Module"):
        IterativeAugmentation(
            Saliency(lambda x: model(x)["logits"]), TH, output_fn=OUTPUT_FNS["dict"]
        )
    explainer = IterativeAugmentation(
        Saliency(model), TH, output_fn=lambda out: out["aux"][0, 0].item()
    )
    with pytest.raises(TypeError, match="`output_fn` must return a tensor"):
        explainer.explain(images(), target=0)
    assert not model._forward_hooks


def test_score_presets_put_the_threshold_in_their_units() -> None:
    model = Logits().eval()
    x = images()
    with torch.no_grad():
        logits = model(x)
    probability = torch.softmax(logits, dim=1)[:, 0]
    # With logits (s, -s) the softmax probability of column 0 is sigmoid(2 s), so the softmax
    # loop at threshold p is the raw-score loop at threshold logit(p) / 2.
    p = 0.65
    result = IterativeAugmentation(Saliency(model), p, score="softmax", max_iter=4).explain(
        x, target=0
    )
    torch.testing.assert_close(result.initial_score, probability.double())
    raw = IterativeAugmentation(Saliency(model), math.log(p / (1 - p)) / 2, max_iter=4).explain(
        x, target=0
    )
    assert result.stop_reason == raw.stop_reason == ["normal", "normal", "not_abnormal"]
    torch.testing.assert_close(result.augmented, raw.augmented)
    sigmoid = IterativeAugmentation(Saliency(model), 0.5, score="sigmoid", max_iter=1).explain(
        x, target=1
    )
    torch.testing.assert_close(sigmoid.initial_score, torch.sigmoid(logits[:, 1]).double())
    assert sigmoid.stop_reason == ["not_abnormal"] * 3  # sigmoid(-s) < 0.5 for every s > 0
    with pytest.raises(ValueError, match="score"):
        IterativeAugmentation(Saliency(model), 0.5, score="probability")
    with pytest.raises(ValueError, match="either"):
        IterativeAugmentation(Saliency(model), 0.5, score="softmax", score_fn=lambda o, t: o[:, 0])

"""Score presets, score_fn resolution and the output_fn forward hook."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from captum_iterative import outputs
from captum_iterative.outputs import (
    default_score,
    get_score,
    list_scores,
    output_hook,
    register_score,
    resolve_score_fn,
    sigmoid_score,
    softmax_score,
)

LOGITS = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])


def test_presets_known_answers() -> None:
    torch.testing.assert_close(get_score("logit")(LOGITS, 1), torch.tensor([-1.0, 3.0]))
    torch.testing.assert_close(
        get_score("sigmoid")(LOGITS, [0, 2]), torch.sigmoid(torch.tensor([2.0, -2.0]))
    )
    probabilities = torch.softmax(LOGITS, dim=1)
    torch.testing.assert_close(get_score("softmax")(LOGITS, 1), probabilities[:, 1])
    per_image = softmax_score(LOGITS, torch.tensor([0, 1]))
    torch.testing.assert_close(per_image, torch.stack([probabilities[0, 0], probabilities[1, 1]]))
    single = torch.tensor([[0.3], [-1.2]])
    torch.testing.assert_close(sigmoid_score(single, None), torch.sigmoid(single[:, 0]))


def test_softmax_refuses_a_single_output() -> None:
    with pytest.raises(ValueError, match='score="sigmoid"'):
        softmax_score(torch.tensor([[0.3], [0.1]]), 0)


def test_score_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    assert list_scores() == ["logit", "sigmoid", "softmax"]
    assert get_score("logit") is default_score
    assert get_score(softmax_score) is softmax_score
    with pytest.raises(
        ValueError,
        match=r"`score` must be one of \['logit', 'sigmoid', 'softmax'\] or a callable, "
        r"got 'probability'",
    ):
        get_score("probability")
    with pytest.raises(TypeError, match="`score`"):
        get_score(3)  # type: ignore[arg-type]
    monkeypatch.setattr(outputs._SCORES, "_entries", dict(outputs._SCORES._entries))

    @register_score("first")
    def first(output: torch.Tensor, target: object) -> torch.Tensor:
        return output[:, 0]

    assert get_score("first") is first and resolve_score_fn("first", None) is first
    assert list_scores() == ["first", "logit", "sigmoid", "softmax"]
    with pytest.raises(ValueError, match="score name 'logit' is already registered"):
        register_score("logit")(first)


def test_resolve_score_fn() -> None:
    assert resolve_score_fn(None, None) is default_score
    assert resolve_score_fn("softmax", None) is softmax_score

    def custom(output: torch.Tensor, target: object) -> torch.Tensor:
        return output[:, 0]

    assert resolve_score_fn(None, custom) is custom
    with pytest.raises(ValueError, match="either"):
        resolve_score_fn("softmax", custom)
    with pytest.raises(ValueError, match="score"):
        resolve_score_fn("probability", None)
    with pytest.raises(TypeError, match="score_fn"):
        resolve_score_fn(None, 3)  # type: ignore[arg-type]


def test_default_score_on_a_structured_output_hints_at_output_fn() -> None:
    with pytest.raises(TypeError, match=r"output_fn=lambda out: out\.logits"):
        default_score({"logits": LOGITS}, 0)  # type: ignore[arg-type]


@dataclass
class Output:
    logits: torch.Tensor


class Structured(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> Output:
        return Output(self.linear(x))


def test_output_hook_replaces_the_output_inside_the_block_only() -> None:
    model = Structured()
    x = torch.rand(4, 3)
    with output_hook([model, model], lambda out: out.logits):
        inside = model(x)
        assert len(model._forward_hooks) == 1  # the same module is hooked once
    assert isinstance(inside, torch.Tensor)
    torch.testing.assert_close(inside, model.linear(x))
    assert isinstance(model(x), Output) and not model._forward_hooks


def test_output_hook_is_removed_when_the_block_raises_and_checks_its_result() -> None:
    model = Structured()
    with pytest.raises(RuntimeError, match="boom"), output_hook([model], lambda out: out.logits):
        raise RuntimeError("boom")
    assert not model._forward_hooks
    with pytest.raises(TypeError, match="output_fn"), output_hook([model], lambda out: out):
        model(torch.rand(1, 3))
    assert not model._forward_hooks

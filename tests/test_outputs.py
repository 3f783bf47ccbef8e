"""Score presets, score_fn resolution and the output_fn forward hook."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from captum_iterative.outputs import (
    SCORES,
    default_score,
    get_score_fn,
    output_hook,
    sigmoid_score,
    softmax_score,
)

LOGITS = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])


def test_presets_known_answers() -> None:
    torch.testing.assert_close(SCORES["logit"](LOGITS, 1), torch.tensor([-1.0, 3.0]))
    torch.testing.assert_close(
        SCORES["sigmoid"](LOGITS, [0, 2]), torch.sigmoid(torch.tensor([2.0, -2.0]))
    )
    probabilities = torch.softmax(LOGITS, dim=1)
    torch.testing.assert_close(SCORES["softmax"](LOGITS, 1), probabilities[:, 1])
    per_image = softmax_score(LOGITS, torch.tensor([0, 1]))
    torch.testing.assert_close(per_image, torch.stack([probabilities[0, 0], probabilities[1, 1]]))
    single = torch.tensor([[0.3], [-1.2]])
    torch.testing.assert_close(sigmoid_score(single, None), torch.sigmoid(single[:, 0]))


def test_softmax_refuses_a_single_output() -> None:
    with pytest.raises(ValueError, match='score="sigmoid"'):
        softmax_score(torch.tensor([[0.3], [0.1]]), 0)


def test_get_score_fn() -> None:
    assert get_score_fn(None, None) is default_score
    assert get_score_fn("softmax", None) is softmax_score

    def custom(output: torch.Tensor, target: object) -> torch.Tensor:
        return output[:, 0]

    assert get_score_fn(None, custom) is custom
    with pytest.raises(ValueError, match="either"):
        get_score_fn("softmax", custom)
    with pytest.raises(ValueError, match="score"):
        get_score_fn("probability", None)
    with pytest.raises(TypeError, match="score_fn"):
        get_score_fn(None, 3)  # type: ignore[arg-type]


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

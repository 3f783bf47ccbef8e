"""Tests of the grading losses: known answers, where each grade's loss is smallest, the registry."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from _helpers.train import train_run
from hypothesis import given
from hypothesis import strategies as st

from captum_iterative.fundus.losses import AllThresholdLoss, get_grade_loss


def _by_hand(z: float, y: int, max_grade: int) -> float:
    """The all-threshold logistic loss of one image, term by term."""
    total = 0.0
    for k in range(max_grade):
        sign = 1.0 if y > k else -1.0
        total += math.log1p(math.exp(-sign * (z - (k + 0.5))))
    return total


@given(
    st.lists(
        st.tuples(st.floats(-6, 10, allow_nan=False), st.integers(0, 4)), min_size=1, max_size=8
    )
)
def test_all_threshold_loss_equals_the_sum_over_thresholds(pairs: list[tuple[float, int]]) -> None:
    scores = torch.tensor([z for z, _ in pairs], dtype=torch.float64)
    grades = torch.tensor([y for _, y in pairs], dtype=torch.float64)
    expected = sum(_by_hand(z, y, 4) for z, y in pairs) / len(pairs)
    assert float(AllThresholdLoss(4)(scores, grades)) == pytest.approx(expected, rel=1e-12)


def test_each_grade_is_cheapest_near_itself() -> None:
    # The loss of grade y is smallest inside (y - 1/2, y + 1/2] for the inner grades, exactly at
    # the middle grade (the thresholds are symmetric about it), and the minimiser grows with y.
    z = torch.linspace(-3, 7, 10001, dtype=torch.float64)
    loss = AllThresholdLoss(4)
    best = []
    for y in range(5):
        values = torch.stack([loss(v.reshape(1), torch.tensor([float(y)])) for v in z])
        best.append(float(z[values.argmin()]))
    assert best == sorted(best)
    for y in (1, 2, 3):
        assert y - 0.5 < best[y] <= y + 0.5
    assert best[2] == pytest.approx(2.0, abs=1e-3)
    assert best[0] == -3.0 and best[4] == 7.0  # the end grades only push outwards


def test_registry() -> None:
    scores, grades = torch.tensor([0.5, 2.0]), torch.tensor([0.0, 3.0])
    assert float(get_grade_loss("mse")(scores, grades)) == pytest.approx((0.25 + 1.0) / 2)
    assert isinstance(get_grade_loss("all_threshold", 3), AllThresholdLoss)
    with pytest.raises(ValueError, match="`loss`"):
        get_grade_loss("hinge")
    with pytest.raises(ValueError, match="`max_grade`"):
        AllThresholdLoss(0)


def test_training_with_the_ordinal_loss_records_it(tmp_path: Path) -> None:
    result = train_run(tmp_path / "m.pt", epochs=1, loss="all_threshold")
    best = torch.load(result.checkpoint, weights_only=True)  # type: ignore[attr-defined]
    last = torch.load(result.last_checkpoint, weights_only=True)  # type: ignore[attr-defined]
    assert best["loss"] == "all_threshold"
    assert last["train_config"]["loss"] == "all_threshold"
    assert math.isfinite(result.metrics["val_loss"])  # type: ignore[attr-defined]

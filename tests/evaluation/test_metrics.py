"""Tests of captum_iterative.evaluation.metrics: hand-computed answers and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score, recall_score, roc_auc_score, roc_curve

from captum_iterative.evaluation import (
    OperatingPoint,
    classification_report,
    quadratic_kappa,
    roc_auc,
    roc_closest_to_corner,
    sensitivity_specificity,
)


def test_roc_auc_hand_computed() -> None:
    # 4 positive-negative pairs, 3 ordered correctly
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert roc_auc(np.array([True, False]), torch.tensor([0.2, 0.9])) == 0.0


def test_closest_to_corner_on_separable_data_lies_between_classes() -> None:
    labels = [0, 0, 0, 1, 1]
    scores = [0.1, 0.3, 0.45, 0.7, 0.9]
    point = roc_closest_to_corner(labels, scores)
    assert isinstance(point, OperatingPoint)
    assert 0.45 < point.threshold <= 0.7
    assert (point.sensitivity, point.specificity) == (1.0, 1.0)


def test_closest_to_corner_keeps_collinear_points() -> None:
    # ROC points (0, .5) -> (.25, .75) -> (.5, 1) are collinear; the middle one, at the tie
    # score 0.6, is the closest to (0, 1) (distance 0.354 against 0.5).
    labels = [1, 1, 1, 0, 1, 0, 0, 0]
    scores = [0.9, 0.8, 0.6, 0.6, 0.4, 0.4, 0.2, 0.1]
    assert 0.6 not in roc_curve(labels, scores)[2]  # scikit-learn's default drops it
    assert roc_closest_to_corner(labels, scores) == (0.6, 0.75, 0.75)


def test_closest_to_corner_never_returns_the_infinite_threshold() -> None:
    # inverted scores: nothing beats distance 1; the all-positive point replaces +inf
    point = roc_closest_to_corner([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9])
    assert point == (0.1, 1.0, 0.0)


@settings(max_examples=80, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.booleans(), st.integers(0, 6)), min_size=2, max_size=25).filter(
        lambda p: len({label for label, _ in p}) == 2
    )
)
# a tie between (FPR, 1 - TPR) = (1/3, 0) and (0, 1/3) that differs in the last bit
@example(pairs=[(False, 0), (False, 0), (False, 1), (True, 1), (True, 2), (True, 2)])
def test_closest_to_corner_equals_brute_force(pairs: list[tuple[bool, int]]) -> None:
    labels = np.array([label for label, _ in pairs])
    scores = np.array([score for _, score in pairs], dtype=float)

    def distance(t: float) -> float:
        se = (scores[labels] >= t).mean()
        sp = (scores[~labels] < t).mean()
        return math.hypot(1 - sp, 1 - se)

    candidates = sorted(set(scores.tolist()), reverse=True)
    best = min(distance(t) for t in candidates)
    point = roc_closest_to_corner(labels, scores)
    assert point.threshold in candidates
    assert distance(point.threshold) == pytest.approx(best)
    first_best = next(t for t in candidates if distance(t) == pytest.approx(best))
    assert point.threshold == first_best
    assert (point.sensitivity, point.specificity) == pytest.approx(
        sensitivity_specificity(labels, scores, point.threshold)
    )


def test_metrics_take_tensors_of_any_float_dtype() -> None:
    # bfloat16 scores come from loops run under autocast; numpy has no bfloat16
    labels = torch.tensor([0, 0, 1, 1, 1])
    scores = torch.tensor([0.1, 0.6, 0.4, 0.7, 0.5])
    expected = roc_auc(labels.numpy(), scores.numpy())
    assert roc_auc(labels, scores.to(torch.bfloat16)) == expected
    assert roc_auc(labels, scores.double()) == expected


def test_sensitivity_specificity_hand_computed() -> None:
    labels = [0, 0, 1, 1, 1]
    scores = [0.1, 0.6, 0.4, 0.7, 0.5]
    # score >= 0.5 is positive: TP = 2 (0.7, 0.5), FN = 1, FP = 1 (0.6), TN = 1
    assert sensitivity_specificity(labels, scores, 0.5) == (2 / 3, 0.5)
    predicted = np.array(scores) >= 0.5
    assert sensitivity_specificity(labels, scores, 0.5)[0] == recall_score(labels, predicted)
    assert sensitivity_specificity(labels, scores, math.inf) == (0.0, 1.0)


def test_quadratic_kappa_hand_computed() -> None:
    # O off-diagonal: one (2, 3) -> 1; E = r c^T / 3 -> sum (i - j)^2 E = 21 / 3 = 7
    assert quadratic_kappa([0, 1, 2], [0, 1, 3]) == pytest.approx(6 / 7)
    # weights over all grades 0..4: grades 0, 1, 4 are unevenly spaced -> 1 - 18 / 25.5
    assert quadratic_kappa([0, 1, 4, 4], [0, 4, 1, 4]) == pytest.approx(5 / 17)
    assert cohen_kappa_score([0, 1, 4, 4], [0, 4, 1, 4], weights="quadratic") != pytest.approx(
        5 / 17
    )


def test_quadratic_kappa_rounds_half_up_and_clips() -> None:
    truth = [0, 1, 2, 3, 4, 0, 2]
    continuous = [0.49, 1.5, 2.5, 3.7, 5.2, -0.6, 1.49]
    expected = [0, 2, 3, 4, 4, 0, 1]
    assert quadratic_kappa(truth, continuous) == pytest.approx(
        cohen_kappa_score(truth, expected, weights="quadratic", labels=list(range(5)))
    )
    assert quadratic_kappa(torch.tensor([0, 1, 3]), torch.tensor([0.2, 2.6, 9.0]), max_grade=3) == (
        pytest.approx(
            cohen_kappa_score([0, 1, 3], [0, 3, 3], weights="quadratic", labels=[0, 1, 2, 3])
        )
    )


def test_quadratic_kappa_undefined_is_nan() -> None:
    with pytest.warns(UserWarning):
        assert math.isnan(quadratic_kappa([2, 2], [2.1, 1.8]))


def test_classification_report_matches_the_parts() -> None:
    grades = np.array([0, 1, 2, 3, 4, 0, 2, 1, 0, 3])
    scores = np.array([0.2, 1.7, 1.4, 3.2, 3.9, 0.1, 2.2, 0.9, 1.6, 2.6])
    threshold = roc_closest_to_corner(grades >= 2, scores).threshold
    report = classification_report(grades, scores, threshold)
    se, sp = sensitivity_specificity(grades >= 2, scores, threshold)
    assert report["auc"] == roc_auc_score(grades >= 2, scores)
    assert (report["sensitivity"], report["specificity"]) == (se, sp)
    assert report["kappa"] == quadratic_kappa(grades, scores)
    assert report["threshold"] == threshold and report["referable_grade"] == 2
    assert report["n_images"] == 10
    assert (report["n_referable"], report["n_non_referable"]) == (5, 5)
    assert report["tp"] + report["fn"] == 5 and report["tn"] + report["fp"] == 5
    assert report["tp"] == round(se * 5) and report["tn"] == round(sp * 5)
    amd = classification_report(np.minimum(grades, 3), scores, 1.5, max_grade=3)
    assert amd["kappa"] == quadratic_kappa(np.minimum(grades, 3), scores, max_grade=3)


def test_invalid_inputs_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="one class"):
        roc_auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="one class"):
        roc_closest_to_corner([0, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="entries"):
        roc_auc([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="binary"):
        roc_auc([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="NaN"):
        roc_auc([0, 1], [0.1, float("nan")])
    with pytest.raises(ValueError, match="one-dimensional"):
        roc_auc([[0, 1]], [[0.1, 0.2]])
    with pytest.raises(ValueError, match="threshold"):
        sensitivity_specificity([0, 1], [0.1, 0.2], float("nan"))
    with pytest.raises(ValueError, match="true_grades"):
        quadratic_kappa([0, 5], [0, 4])
    with pytest.raises(ValueError, match="true_grades"):
        quadratic_kappa([0, 1.5], [0, 1])
    with pytest.raises(ValueError, match="pred_grades"):
        quadratic_kappa([0, 1], [0, float("inf")])
    with pytest.raises(ValueError, match="entries"):
        quadratic_kappa([0, 1], [0])
    with pytest.raises(ValueError, match="one class"):
        classification_report([0, 1, 1], [0.1, 0.2, 0.3], 0.5)

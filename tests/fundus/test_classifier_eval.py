"""Classifier evaluation (``fundus.classifier_eval``): th_pred by ROC, metrics, datasets."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from _helpers.train import SIZE, VAL_GRADES, DotsDataset, val_images
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score, roc_auc_score, roc_curve
from torch.utils.data import Dataset

from captum_iterative.fundus.checkpoint import load_classifier
from captum_iterative.fundus.classifier_eval import (
    evaluate_classifier,
    predict,
    referable_metrics,
)
from captum_iterative.fundus.types import FundusSample


def test_th_pred_is_roc_point_closest_to_corner(trained: tuple[Path, object]) -> None:
    out, result = trained
    model, info = load_classifier(out)
    scores = predict(model, val_images())
    labels = np.asarray(VAL_GRADES) >= 2
    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=False)
    distance = np.where(np.isfinite(thresholds), np.hypot(fpr, 1 - tpr), np.inf)
    expected = thresholds[np.argmin(distance)]
    assert info.th_pred == pytest.approx(expected)
    assert result.th_pred == info.th_pred
    assert info.metrics["auc"] == pytest.approx(roc_auc_score(labels, scores))
    best = max(result.history, key=lambda h: h["auc"])
    assert result.metrics["auc"] == best["auc"]


def test_referable_metrics_known_answer() -> None:
    grades = np.array([0, 0, 1, 1, 2, 3, 4, 4])
    metrics = referable_metrics(grades.astype(float), grades)
    assert metrics == {
        "auc": 1.0,
        "th_pred": 2.0,
        "sensitivity": 1.0,
        "specificity": 1.0,
        "kappa": 1.0,
    }
    with pytest.raises(ValueError, match="one class"):
        referable_metrics([0.1, 0.2], [0, 1])
    with pytest.raises(ValueError, match="entries"):
        referable_metrics([0.1, 0.2], [0, 1, 2])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 4), st.floats(-1, 5)), min_size=2, max_size=30).filter(
        lambda pairs: len({g >= 2 for g, _ in pairs}) == 2
    )
)
@example(
    [(0, 0.0), (0, 0.0), (0, 1.0), (2, 1.0), (2, 2.0), (2, 2.0)]
)  # a tie, (1/3, 0) vs (0, 1/3)
def test_referable_metrics_match_sklearn(pairs: list[tuple[int, float]]) -> None:
    grades = np.array([g for g, _ in pairs])
    scores = np.array([s for _, s in pairs])
    metrics = referable_metrics(scores, grades)
    labels = grades >= 2
    fpr, tpr, thr = roc_curve(labels, scores, drop_intermediate=False)

    def squared_distance(i: int) -> Fraction:  # exact: counts, not rounded rates
        positive = scores >= thr[i]
        fp, fn = int((positive & ~labels).sum()), int((~positive & labels).sum())
        return Fraction(fp, int((~labels).sum())) ** 2 + Fraction(fn, int(labels.sum())) ** 2

    finite = [i for i in range(len(thr)) if np.isfinite(thr[i])]
    closest = min(squared_distance(i) for i in finite)
    best = next(i for i in finite if squared_distance(i) == closest)  # thresholds decrease
    assert metrics["auc"] == pytest.approx(roc_auc_score(labels, scores))
    assert metrics["th_pred"] == thr[best]
    assert metrics["sensitivity"] == pytest.approx(tpr[best])
    assert metrics["specificity"] == pytest.approx(1 - fpr[best])
    stages = np.clip(np.floor(scores + 0.5), 0, 4)
    kappa = cohen_kappa_score(grades, stages, weights="quadratic", labels=range(5))
    assert metrics["kappa"] == pytest.approx(kappa, nan_ok=True)


def test_evaluate_labels_lesions_at_native_resolution(trained: tuple[Path, object]) -> None:
    out, _ = trained
    model, info = load_classifier(out)
    base = DotsDataset([0] * 6, seed=4, size=2 * SIZE)

    class Lesions(Dataset[FundusSample]):
        def __len__(self) -> int:
            return len(base)

        def __getitem__(self, index: int) -> FundusSample:
            sample = base[index]
            mask = np.zeros(sample.image.shape[:2], bool)
            if index % 2:
                mask[1, 1] = True  # one odd pixel: gone after 2x nearest downsampling
            return sample._replace(grade=None, masks={"microaneurysms": mask})

    def halve(sample: FundusSample) -> FundusSample:
        masks = {k: m[::2, ::2] for k, m in sample.masks.items()}
        return sample._replace(image=np.ascontiguousarray(sample.image[::2, ::2]), masks=masks)

    metrics = evaluate_classifier(model, info, Lesions(), transform=halve, progress=False)
    assert metrics["n_images"] == 6 and metrics["n_positive"] == 3
    images = torch.stack(
        [torch.from_numpy(halve(base[i]).image.transpose(2, 0, 1).copy()) for i in range(6)]
    )
    scores = predict(model, images)
    labels = np.arange(6) % 2 == 1
    assert metrics["auc"] == pytest.approx(roc_auc_score(labels, scores))
    assert metrics["n_predicted_positive"] == int((scores >= info.th_pred).sum())
    assert metrics["sensitivity"] == pytest.approx((scores[labels] >= info.th_pred).mean())

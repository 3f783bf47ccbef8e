"""Tests of the localization tables' plain-language summary."""

from __future__ import annotations

import math

from captum_iterative.experiments import LocalizationReport, gain_summary


def _report(rows: list[tuple[str, str, float, float]]) -> LocalizationReport:
    table = [
        {
            "lesion_type": t,
            "method": m,
            "initial": a,
            "augmented": b,
            "relative_increase": (b - a) / a if a else math.nan,
            "n_images": 3,
            "n_lesions": 5,
        }
        for t, m, a, b in rows
    ]
    return LocalizationReport(table, {}, {}, [], [], {}, {"config": {"fps": 10}})


def test_gain_summary_names_what_gained_and_what_lost() -> None:
    report = _report(
        [
            ("hemorrhages", "guided_backprop", 0.30, 0.40),
            ("microaneurysms", "guided_backprop", 0.50, 0.47),
            ("hard_exudates", "guided_backprop", 0.20, 0.203),
            ("soft_exudates", "guided_backprop", 0.0, math.nan),
            ("average", "guided_backprop", 0.25, 0.30),
            ("hemorrhages", "grad_cam", 0.10, 0.10),
            ("average", "grad_cam", 0.10, 0.10),
        ]
    )
    assert gain_summary(report) == [
        "GBP: average 0.25 -> 0.30 (+20.0 %); better on hemorrhages; "
        "worse on microaneurysms (-0.03); unchanged on hard exudates",
        "Grad-CAM: average 0.10 -> 0.10 (+0.0 %); unchanged on hemorrhages",
    ]

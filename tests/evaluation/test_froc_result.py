"""The FROC result (``evaluation.froc_result``): reading the curve, plot, summary."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers.froc import canvas

from captum_iterative.evaluation import (
    froc,
)


def test_sensitivity_at_accepts_sequences() -> None:
    m_a, mask_a = canvas()
    mask_a[4, 4] = True
    m_a[4, 4] = 4.0
    m_b, mask_b = canvas()
    m_b[10, 10] = 5.0
    result = froc([m_a, m_b], [mask_a, mask_b], radius=1.0)
    values = result.sensitivity_at([0.0, 0.5, 10.0])
    assert isinstance(values, np.ndarray)
    assert values.tolist() == [0.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="fps"):
        result.sensitivity_at(-1.0)
    with pytest.raises(ValueError, match="fps"):
        result.sensitivity_at(float("nan"))


def test_plot_summary_and_repr() -> None:
    m_a, mask_a = canvas()
    mask_a[4, 4] = True
    m_a[4, 4] = 4.0
    m_b, mask_b = canvas()
    m_b[10, 10] = 5.0
    result = froc([m_a, m_b], [mask_a, mask_b], radius=1.0)
    ax = result.plot(label="map")
    assert ax.get_xscale() == "log"
    assert ax.get_xlim() == pytest.approx((0.1, 10.0))
    line = ax.get_lines()[0]
    assert line.get_label() == "map"
    assert line.get_ydata()[-1] == pytest.approx(result.sensitivity[-1])
    assert ax.get_legend() is not None
    text = result.summary()
    assert "2 images, 1 lesions" in text and "TP" in text
    assert "n_lesions=1" in repr(result)

"""Inpainters by name (``inpaint.registry``): what each name builds, and errors."""

from __future__ import annotations

import pytest
import torch

from captum_iterative.experiments import ExperimentConfig, make_inpainter
from captum_iterative.inpaint import (
    INPAINTERS,
    NavierStokesInpainter,
    PyramidInpainter,
    TeleaInpainter,
    get_inpainter,
    register_inpainter,
)


@pytest.mark.parametrize(
    ("name", "cls"),
    [("ns", NavierStokesInpainter), ("telea", TeleaInpainter), ("pyramid", PyramidInpainter)],
)
def test_each_name_builds_its_inpainter(name: str, cls: type) -> None:
    inpainter = get_inpainter(name, 5.0, value_range=(0.0, 1.0))
    assert type(inpainter) is cls
    if cls is not PyramidInpainter:
        assert (inpainter.radius, inpainter.value_range) == (5.0, (0.0, 1.0))


def test_a_named_inpainter_fills_like_the_class() -> None:
    """``get_inpainter("ns", 3, value_range=(0, 1))`` is the runner's inpainter, bit for bit
    (same process, same OpenCV kernels)."""
    torch.manual_seed(0)
    images = torch.rand(2, 3, 24, 24)
    masks = torch.zeros(2, 1, 24, 24, dtype=torch.bool)
    masks[:, :, 8:14, 9:15] = True
    named = get_inpainter("ns", 3.0, value_range=(0.0, 1.0))(images, masks)
    direct = NavierStokesInpainter(3.0, value_range=(0.0, 1.0))(images, masks)
    assert torch.equal(named, direct)
    via_config = make_inpainter(ExperimentConfig(inpainter="ns"))(images, masks)
    assert torch.equal(via_config, direct)


def test_unknown_and_repeated_names() -> None:
    with pytest.raises(
        ValueError, match=r"`inpainter` must be one of \['ns', 'pyramid', 'telea'\]"
    ):
        get_inpainter("biharmonic")
    with pytest.raises(ValueError, match="already registered"):
        register_inpainter("ns", lambda radius, value_range: PyramidInpainter())
    with pytest.raises(ValueError, match="`inpainter` must be one of"):
        ExperimentConfig(inpainter="biharmonic")


def test_a_registered_inpainter_is_available_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(INPAINTERS, "smooth", lambda radius, value_range: PyramidInpainter(1))
    assert get_inpainter("smooth").smoothing_sweeps == 1
    assert ExperimentConfig(inpainter="smooth").inpainter == "smooth"

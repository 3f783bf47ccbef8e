"""Inpainters by name (``inpaint.registry``): what each name builds, and errors."""

from __future__ import annotations

import pytest
import torch

from captum_iterative.experiments import ExperimentConfig, make_inpainter
from captum_iterative.inpaint import (
    NavierStokesInpainter,
    PyramidInpainter,
    TeleaInpainter,
    get_inpainter,
    list_inpainters,
    register_inpainter,
    registry,
)


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Names registered by the test are gone after it."""
    monkeypatch.setattr(registry._INPAINTERS, "_entries", dict(registry._INPAINTERS._entries))


@pytest.mark.parametrize(
    ("name", "cls"),
    [("ns", NavierStokesInpainter), ("telea", TeleaInpainter), ("pyramid", PyramidInpainter)],
)
def test_each_name_builds_its_inpainter(name: str, cls: type) -> None:
    inpainter = get_inpainter(name, radius=5.0, value_range=(0.0, 1.0))
    assert type(inpainter) is cls
    if cls is not PyramidInpainter:
        assert (inpainter.radius, inpainter.value_range) == (5.0, (0.0, 1.0))


def test_a_named_inpainter_fills_like_the_class() -> None:
    """``get_inpainter("ns", radius=3, value_range=(0, 1))`` is the runner's inpainter, bit for bit
    (same process, same OpenCV kernels)."""
    torch.manual_seed(0)
    images = torch.rand(2, 3, 24, 24)
    masks = torch.zeros(2, 1, 24, 24, dtype=torch.bool)
    masks[:, :, 8:14, 9:15] = True
    named = get_inpainter("ns", radius=3.0, value_range=(0.0, 1.0))(images, masks)
    direct = NavierStokesInpainter(3.0, value_range=(0.0, 1.0))(images, masks)
    assert torch.equal(named, direct)
    via_config = make_inpainter(ExperimentConfig(inpainter="ns"))(images, masks)
    assert torch.equal(via_config, direct)


def test_unknown_and_repeated_names() -> None:
    with pytest.raises(
        ValueError,
        match=r"`inpainter` must be one of \['ns', 'pyramid', 'telea'\] or an inpainter, "
        r"got 'biharmonic'",
    ):
        get_inpainter("biharmonic")
    with pytest.raises(ValueError, match="inpainter name 'ns' is already registered"):
        register_inpainter("ns")(lambda radius=3.0, value_range=None: PyramidInpainter())
    with pytest.raises(ValueError, match="`inpainter` must be one of"):
        ExperimentConfig(inpainter="biharmonic")
    with pytest.raises(TypeError, match="`inpainter`"):
        get_inpainter(3)  # type: ignore[arg-type]


def test_list_is_sorted() -> None:
    assert list_inpainters() == ["ns", "pyramid", "telea"]


def test_an_inpainter_object_passes_through() -> None:
    inpainter = PyramidInpainter()
    assert get_inpainter(inpainter) is inpainter
    with pytest.raises(ValueError, match="options"):
        get_inpainter(inpainter, radius=5.0)


@pytest.mark.usefixtures("scratch_registry")
def test_a_registered_inpainter_is_available_by_name() -> None:
    @register_inpainter("smooth")
    def smooth(radius: float = 3.0, value_range: object = None) -> PyramidInpainter:
        return PyramidInpainter(1)

    assert get_inpainter("smooth").smoothing_sweeps == 1
    assert list_inpainters() == ["ns", "pyramid", "smooth", "telea"]
    assert ExperimentConfig(inpainter="smooth").inpainter == "smooth"
    assert register_inpainter("smooth")(smooth) is smooth  # the same object again is no change
    with pytest.raises(ValueError, match="already registered"):
        register_inpainter("smooth")(PyramidInpainter)

"""Inpainters by name: a small registry, like :func:`~captum_iterative.binarize.get_binarizer`.

Each entry is a factory ``(radius, value_range) -> Inpainter``:

- ``"ns"``: :class:`~captum_iterative.inpaint.NavierStokesInpainter` (the paper's);
- ``"telea"``: :class:`~captum_iterative.inpaint.TeleaInpainter`;
- ``"pyramid"``: :class:`~captum_iterative.inpaint.PyramidInpainter` (on the images' device;
  it has no radius and needs no value range).

Add one with :func:`register_inpainter`.
"""

from __future__ import annotations

from collections.abc import Callable

from captum_iterative.inpaint.base import Inpainter
from captum_iterative.inpaint.opencv import NavierStokesInpainter, TeleaInpainter
from captum_iterative.inpaint.pyramid import PyramidInpainter

__all__ = ["INPAINTERS", "InpainterFactory", "get_inpainter", "register_inpainter"]

#: ``factory(radius, value_range) -> Inpainter``.
InpainterFactory = Callable[[float, "tuple[float, float] | None"], Inpainter]

#: Inpainter name -> factory.
INPAINTERS: dict[str, InpainterFactory] = {
    "ns": lambda radius, value_range: NavierStokesInpainter(radius, value_range=value_range),
    "telea": lambda radius, value_range: TeleaInpainter(radius, value_range=value_range),
    "pyramid": lambda radius, value_range: PyramidInpainter(),
}


def register_inpainter(name: str, factory: InpainterFactory) -> None:
    """Add ``factory`` under ``name`` (a name already taken raises ``ValueError``)."""
    if name in INPAINTERS:
        raise ValueError(f"inpainter name {name!r} is already registered")
    if not callable(factory):
        raise TypeError(f"`factory` must be callable, got {type(factory).__name__}")
    INPAINTERS[name] = factory


def get_inpainter(
    name: str, radius: float = 3.0, *, value_range: tuple[float, float] | None = None
) -> Inpainter:
    """A new inpainter by name.

    Args:
        name (str): a key of :data:`INPAINTERS`: ``"ns"``, ``"telea"`` or ``"pyramid"``.
        radius (float, optional): radius of the OpenCV inpainters. Default: 3.0.
        value_range (tuple[float, float], optional): ``(lo, hi)`` of the images' scale for the
            OpenCV inpainters, e.g. ``(0, 1)``. Default: None (each image's own range).

    Returns:
        Inpainter

    Raises:
        ValueError: an unknown ``name``.

    Examples::

        >>> get_inpainter("telea", 5.0, value_range=(0.0, 1.0)).radius
        5.0
        >>> sorted(INPAINTERS)
        ['ns', 'pyramid', 'telea']
    """
    if name not in INPAINTERS:
        raise ValueError(f"`inpainter` must be one of {sorted(INPAINTERS)}, got {name!r}")
    return INPAINTERS[name](radius, value_range)

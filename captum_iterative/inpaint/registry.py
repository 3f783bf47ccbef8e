"""Inpainters by name: a registry of factories, of the package's one registry shape.

Each entry is a factory called with the keywords given to :func:`get_inpainter` (``radius`` and
``value_range`` for the built-in ones, which is what the experiments pass for every name):

- ``"ns"``: :class:`~captum_iterative.inpaint.NavierStokesInpainter` (the paper's);
- ``"telea"``: :class:`~captum_iterative.inpaint.TeleaInpainter`;
- ``"pyramid"``: :class:`~captum_iterative.inpaint.PyramidInpainter` (on the images' device;
  it has no radius and needs no value range, and ignores both).

Add one with the decorator :func:`register_inpainter`; :func:`list_inpainters` lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from captum_iterative._registry import Registry
from captum_iterative.inpaint.base import Inpainter
from captum_iterative.inpaint.opencv import NavierStokesInpainter, TeleaInpainter
from captum_iterative.inpaint.pyramid import PyramidInpainter

__all__ = ["InpainterFactory", "get_inpainter", "list_inpainters", "register_inpainter"]

#: ``factory(**options) -> Inpainter``; the built-in factories take ``radius`` (float) and
#: ``value_range`` (``(lo, hi)`` or None).
InpainterFactory = Callable[..., Inpainter]
_F = TypeVar("_F", bound=InpainterFactory)

_INPAINTERS: Registry[InpainterFactory] = Registry("inpainter", "inpainter")


def register_inpainter(name: str) -> Callable[[_F], _F]:
    """Decorator adding an inpainter factory (or class) under ``name``.

    The factory is called with the keywords given to :func:`get_inpainter`; to be usable by
    name in the experiments (``ExperimentConfig(inpainter=...)``, ``--inpainter``) it must accept
    ``radius`` and ``value_range``.

    Raises:
        ValueError: ``name`` already holds another factory.

    Examples::

        >>> @register_inpainter("smooth")
        ... def smooth(radius=3.0, value_range=None):
        ...     return PyramidInpainter(smoothing_sweeps=1)
    """
    return _INPAINTERS.register(name)


def list_inpainters() -> list[str]:
    """Names accepted by :func:`get_inpainter`, sorted (``["ns", "pyramid", "telea"]``)."""
    return _INPAINTERS.names()


@register_inpainter("ns")
def _navier_stokes(
    radius: float = 3.0, value_range: tuple[float, float] | None = None
) -> NavierStokesInpainter:
    return NavierStokesInpainter(radius, value_range=value_range)


@register_inpainter("telea")
def _telea(radius: float = 3.0, value_range: tuple[float, float] | None = None) -> TeleaInpainter:
    return TeleaInpainter(radius, value_range=value_range)


@register_inpainter("pyramid")
def _pyramid(
    radius: float = 3.0, value_range: tuple[float, float] | None = None
) -> PyramidInpainter:
    return PyramidInpainter()


def get_inpainter(name: str | Inpainter, **options: Any) -> Inpainter:
    """A new inpainter by name, or an inpainter passed through.

    Args:
        name (str or Inpainter): a name of :func:`list_inpainters` (``"ns"``, ``"telea"``,
            ``"pyramid"``), or an inpainter (any callable), returned as it is.
        **options: keywords of the factory. The built-in ones take ``radius`` (float, radius of
            the OpenCV inpainters; default 3.0) and ``value_range`` (``(lo, hi)`` of the images'
            scale for the OpenCV inpainters, e.g. ``(0, 1)``; default None, each image's own
            range).

    Returns:
        Inpainter

    Raises:
        ValueError: an unknown ``name`` (the message lists the known ones), or options with an
            inpainter passed through.
        TypeError: neither a string nor a callable.

    Examples::

        >>> get_inpainter("telea", radius=5.0, value_range=(0.0, 1.0)).radius
        5.0
        >>> list_inpainters()
        ['ns', 'pyramid', 'telea']
    """
    if isinstance(name, str):
        return _INPAINTERS.get(name, " or an inpainter")(**options)
    if not callable(name):
        raise TypeError(f"`inpainter` must be a string or a callable, got {type(name).__name__}")
    if options:
        raise ValueError(
            f"options {sorted(options)} apply to an inpainter built by name, not to one passed "
            "as an object"
        )
    return name

"""Tables by number of spatial dimensions (2 for images, 3 for volumes)."""

from __future__ import annotations

__all__ = ["LINEAR_MODES"]

#: The linear mode of :func:`torch.nn.functional.interpolate` by number of spatial dimensions:
#: layer maps are upsampled (``reduce.py``) and pyramid levels refined (``inpaint/pyramid.py``)
#: with it.
LINEAR_MODES: dict[int, str] = {2: "bilinear", 3: "trilinear"}

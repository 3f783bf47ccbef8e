r"""Push-pull pyramid inpainting in torch: batched, on the images' device, no host transfer.

A coarse-to-fine fill in the spirit of the push-pull interpolation of Gortler et al. ("The
Lumigraph", SIGGRAPH 1996):

1. **Pull.** The known pixels (``weight = ~mask & valid``) are pre-multiplied by their weight, and
   ``value * weight`` and ``weight`` are reduced together with the separable binomial filter
   ``[1, 3, 3, 1] / 8`` at stride 2 (zero padding, so the output is ``ceil(side / 2)`` and the
   padding carries no weight), level after level until both sides are at most ``min_size``. A
   side that is already at most ``min_size`` is not filtered any more (stride 1 along it).
2. **Top.** At the coarsest level the value is the weighted mean ``sum / weight`` where the level
   has weight; where it has none, the mean of all known pixels of the image, per channel.
3. **Push.** From coarse to fine, each level keeps its own normalised value ``sum / weight``
   where it has weight and takes ``up``, the bilinear upsampling of the coarser result (factor 2,
   ``align_corners=False``, which matches the half-pixel offset of the even-length filter),
   where it has none. Then ``smoothing_sweeps`` 4-neighbour Jacobi sweeps (replicated border)
   relax the pixels of the level that hold no weight, which removes the blockiness of the
   upsampled coarse values. At full resolution the weights are 0 or 1, so the known pixels keep
   their exact value and the sweeps relax the masked pixels (inside ``valid``) only.

Volumes ``(N, C, D, H, W)`` are filled the same way in 3-D: the separable filter along the three
axes, trilinear upsampling, and 6-neighbour Jacobi sweeps.

The number of levels and every tensor shape depend only on ``(H, W)``: there is no data-dependent
Python control flow and no host synchronisation, so the fill runs asynchronously on a GPU and can
be compiled with :func:`torch.compile` (``compile=True``).

An image with no known pixel inside ``valid`` (everything masked) is filled with the mean of its
pixels inside ``valid`` (of the whole image when ``valid`` is None), per channel: a flat fill that
removes the masked evidence.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from captum_iterative._checks import check_non_negative_int, check_positive_int
from captum_iterative._spatial import LINEAR_MODES
from captum_iterative.inpaint.base import Inpainter

__all__ = ["PyramidInpainter", "push_pull_fill"]


def _binomial_taps(dtype: torch.dtype, device: torch.device) -> Tensor:
    """The pull filter ``[1, 3, 3, 1] / 8`` (4,), built on ``device`` by fills.

    A fill, unlike ``torch.tensor(...)``, copies nothing from the host, so it never synchronises
    a GPU.
    """
    taps = torch.full((4,), 3.0 / 8.0, dtype=dtype, device=device)
    taps[0::3].fill_(1.0 / 8.0)  # a view's fill_: no scalar tensor is lifted from the host
    return taps


def _level_shapes(shape: tuple[int, ...], min_size: int) -> list[tuple[int, ...]]:
    """Sizes of the pyramid levels, finest first: halve (rounding up) each side above min_size."""
    shapes = [shape]
    while any(side > min_size for side in shape):
        shape = tuple(-(-side // 2) if side > min_size else side for side in shape)
        shapes.append(shape)
    return shapes


#: Convolution by number of spatial dimensions.
_CONV = {2: F.conv2d, 3: F.conv3d}


def _pull(stack: Tensor, size: tuple[int, ...], taps: Tensor) -> Tensor:
    """One pull step: filter and subsample ``stack`` (N, K, *sides) to ``size``.

    Each halved axis is zero-padded by 1 before and ``1 + side % 2`` after, so output pixel ``j``
    is centred on input position ``2 j + 0.5`` and the new side is ``ceil(side / 2)``; an axis
    that keeps its size is not filtered.
    """
    sides = stack.shape[2:]
    halve = [new != old for new, old in zip(size, sides, strict=True)]
    one = taps.new_ones(1)
    factors = [taps if h else one for h in halve]
    kernel = factors[0]
    for factor in factors[1:]:
        kernel = kernel[..., None] * factor
    channels = stack.shape[1]
    padding: tuple[int, ...] = ()
    for side, h in zip(reversed(sides), reversed(halve), strict=True):  # F.pad: last axis first
        padding += (1, 1 + side % 2) if h else (0, 0)
    return _CONV[len(sides)](
        F.pad(stack, padding),
        kernel.expand(channels, 1, *kernel.shape),
        stride=tuple(1 + h for h in halve),
        groups=channels,
    )


def _push(coarse: Tensor, size: tuple[int, ...]) -> Tensor:
    """(Bi/tri)linear upsampling of ``coarse`` (N, C, *sides) by 2 along each halved axis.

    With ``align_corners=False`` a factor of 2 maps coarse pixel ``j`` to fine position
    ``2 j + 0.5``, where :func:`_pull` centred it; the extra last row/column of an odd side is
    cropped.
    """
    sides = coarse.shape[2:]
    # consecutive levels differ along at least one axis
    scale = tuple(2.0 if new != old else 1.0 for new, old in zip(size, sides, strict=True))
    up = F.interpolate(
        coarse, scale_factor=scale, mode=LINEAR_MODES[len(sides)], align_corners=False
    )
    return up[(slice(None), slice(None), *(slice(0, side) for side in size))]


def _relax(value: Tensor, holes: Tensor, sweeps: int) -> Tensor:
    """``sweeps`` Jacobi sweeps: ``holes`` pixels take the mean of their axis neighbours.

    4 neighbours for images (N, C, h, w), 6 for volumes (N, C, d, h, w). The border is replicated
    (a zero-flux boundary). Returns a new tensor.
    """
    dims = value.dim() - 2
    inner = slice(1, -1)
    for _ in range(sweeps):
        padded = F.pad(value, (1, 1) * dims, mode="replicate")
        terms = []
        for axis in range(dims):
            for shifted in (slice(None, -2), slice(2, None)):
                index = [inner] * dims
                index[axis] = shifted
                terms.append(padded[(slice(None), slice(None), *index)])
        mean = terms[0] + terms[1]
        for term in terms[2:]:
            mean += term
        mean *= 1.0 / (2 * dims)
        value = torch.where(holes, mean, value)
    return value


def push_pull_fill(
    images: Tensor,
    masks: Tensor,
    valid: Tensor | None = None,
    smoothing_sweeps: int = 3,
    min_size: int = 4,
) -> Tensor:
    r"""Push-pull pyramid fill of the masked pixels (the computation of :class:`PyramidInpainter`).

    No argument checks and no write-back: every pixel of the result holds the pyramid's value
    (known pixels their own value). Use :class:`PyramidInpainter` unless you compose or compile
    this function yourself.

    Args:
        images (Tensor): ``(N, C, H, W)`` floating-point images.
        masks (Tensor): ``(N, 1, H, W)`` bool, ``True`` where pixels are unknown.
        valid (Tensor, optional): ``(N, 1, H, W)`` bool; pixels outside it are not used as data.
            Default: None (every pixel is valid).
        smoothing_sweeps (int, optional): Jacobi sweeps per level. Default: 3.
        min_size (int, optional): the pyramid stops when both sides are at most this size.
            Default: 4.

    Returns:
        Tensor: ``(N, C, H, W)`` filled images in ``images``' dtype (computed in float32, or
        float64 for float64 images).
    """
    dtype = torch.promote_types(images.dtype, torch.float32)
    x = images.to(dtype)
    known = ~masks if valid is None else ~masks & valid
    weight = known.to(dtype)
    channels = x.shape[1]
    tiny = torch.finfo(dtype).tiny
    taps = _binomial_taps(dtype, x.device)
    shapes = _level_shapes(tuple(x.shape[2:]), min_size)
    space = tuple(range(2, x.dim()))

    levels = [torch.cat([x * weight, weight], dim=1)]
    for size in shapes[1:]:
        levels.append(_pull(levels[-1], size, taps))

    total = levels[0].sum(dim=space, keepdim=True)
    known_mean = total[:, :channels] / total[:, channels:].clamp_min(tiny)
    if valid is None:
        region_mean = x.mean(dim=space, keepdim=True)
    else:
        inside = valid.to(dtype)
        region_mean = (x * inside).sum(dim=space, keepdim=True) / inside.sum(
            dim=space, keepdim=True
        ).clamp_min(1.0)
    value = torch.where(total[:, channels:] > 0, known_mean, region_mean)

    top = len(levels) - 1
    for index in range(top, 0, -1):
        level_sum, level_weight = levels[index][:, :channels], levels[index][:, channels:]
        has_data = level_weight > 0
        coarse = value if index == top else _push(value, shapes[index])
        value = torch.where(has_data, level_sum / level_weight.clamp_min(tiny), coarse)
        value = _relax(value, ~has_data, smoothing_sweeps)
    # Full resolution: the weights are 0 or 1, so the known pixels keep their value exactly.
    coarse = value if top == 0 else _push(value, shapes[0])
    value = torch.where(known, x, coarse)
    value = _relax(value, masks if valid is None else masks & valid, smoothing_sweeps)
    return value.to(images.dtype)


class PyramidInpainter(Inpainter):
    r"""Push-pull pyramid inpainting on the images' device (GPU friendly, batched).

    Fills images ``(N, C, H, W)`` and volumes ``(N, C, D, H, W)``. See the module documentation
    for the algorithm. Every batch of a given ``(H, W)`` is filled
    by the same sequence of tensor operations whatever its masks, a number that grows with the
    ``L`` pull levels (``L = 7`` at 512 x 512) and ``smoothing_sweeps`` (operation counts and
    timings: ``docs/performance.md``, measured by ``benchmarks/``). Nothing is copied to the host
    and nothing waits for the device.

    Args:
        smoothing_sweeps (int, optional): 4-neighbour (6 for volumes) Jacobi sweeps on the
            unknown pixels of every level after the push. Default: 3.
        min_size (int, optional): the pyramid stops when every side is at most this size.
            Default: 4.
        dilation (int, optional): see :class:`~captum_iterative.inpaint.Inpainter`. Default: 0.
        compile (bool, optional): run the fill through :func:`torch.compile` (compiled on the
            first call for each input shape). Default: False.

    Examples::

        >>> inpainter = PyramidInpainter()
        >>> images = torch.rand(2, 3, 64, 64)
        >>> masks = torch.zeros(2, 1, 64, 64, dtype=torch.bool)
        >>> masks[:, :, 20:30, 20:30] = True
        >>> out = inpainter(images, masks)      # (2, 3, 64, 64); only the squares changed
    """

    spatial_dims = (2, 3)

    def __init__(
        self,
        smoothing_sweeps: int = 3,
        min_size: int = 4,
        dilation: int = 0,
        compile: bool = False,
    ) -> None:
        super().__init__(dilation=dilation)
        self.smoothing_sweeps = check_non_negative_int(smoothing_sweeps, "smoothing_sweeps")
        self.min_size = check_positive_int(min_size, "min_size")
        if not isinstance(compile, bool):
            raise TypeError(f"`compile` must be a bool, got {type(compile).__name__}")
        self.compile = compile
        self._fill_fn: Callable[..., Tensor] = (
            torch.compile(push_pull_fill) if compile else push_pull_fill
        )

    def _fill(self, images: Tensor, masks: Tensor, valid: Tensor | None) -> Tensor:
        return self._fill_fn(images, masks, valid, self.smoothing_sweeps, self.min_size)

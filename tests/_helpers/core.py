"""Toy score models and blob images shared across the suite (``_helpers.core``; importable
because pytest puts tests/ on sys.path)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn


class BlobScore(nn.Module):
    """Score = strongest response of a fixed Gaussian blob filter on the channel mean.

    The gradient of the max is the filter footprint around the strongest blob, so each map of the
    loop shows one blob; once it is inpainted the score drops to the next blob's response. Images
    with more bright blobs therefore need more iterations.
    """

    def __init__(self, sigma: float = 1.2, size: int = 7) -> None:
        super().__init__()
        r = torch.arange(size, dtype=torch.float64) - size // 2
        g = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
        kernel = (g / g.sum())[None, None]
        self.conv = nn.Conv2d(1, 1, size, padding=size // 2, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(kernel)
        self.conv.weight.requires_grad_(False)
        self.pool = nn.AdaptiveMaxPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gray = x.mean(dim=1, keepdim=True)
        return self.pool(self.conv(gray.to(self.conv.weight.dtype))).flatten(1).to(x.dtype)


def blob_image(intensities: list[float], size: int = 48, seed: int = 0) -> torch.Tensor:
    """(3, size, size) float64 image: dark textured background with 3x3 bright blobs."""
    rng = np.random.default_rng(seed)
    img = 0.1 + 0.02 * rng.random((size, size, 3))
    cells = [(y, x) for y in range(6, size - 6, 9) for x in range(6, size - 6, 9)]
    order = rng.permutation(len(cells))
    for value, k in zip(intensities, order, strict=False):
        y, x = cells[k]
        img[y - 1 : y + 2, x - 1 : x + 2, :] = value * np.array([1.0, 0.9, 0.8])
    return torch.from_numpy(img).permute(2, 0, 1).contiguous()


#: Blob intensities of the images of :func:`blob_batch`, and what the loop makes of them at the
#: threshold 0.3 of the loop tests.
INTENSITIES = [
    [0.9],  # one blob: normal after 1 map
    [0.95, 0.8],  # 2 maps
    [0.9, 0.85, 0.7],  # 3 maps
    [0.9, 0.88, 0.86, 0.84, 0.82, 0.8],  # hits max_iter
    [],  # predicted normal at the start
    [0.92, 0.6],  # 2 maps
]


def blob_batch(intensities: list[list[float]] = INTENSITIES) -> torch.Tensor:
    """``(N, 3, 48, 48)`` float64 :func:`blob_image` of each list of blob intensities."""
    return torch.stack([blob_image(v, seed=i) for i, v in enumerate(intensities)])


class MeanScore(nn.Module):
    """Score = mean pixel value: its gradient is constant, so every map is degenerate."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(1, 2, 3))[:, None]


class BlobScore3d(nn.Module):
    """:class:`BlobScore` for volumes: strongest response of a 3-D Gaussian on the channel mean."""

    def __init__(self, sigma: float = 1.2, size: int = 7) -> None:
        super().__init__()
        r = torch.arange(size, dtype=torch.float64) - size // 2
        g = torch.exp(
            -(r[:, None, None] ** 2 + r[None, :, None] ** 2 + r[None, None, :] ** 2)
            / (2 * sigma**2)
        )
        self.conv = nn.Conv3d(1, 1, size, padding=size // 2, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_((g / g.sum())[None, None])
        self.conv.weight.requires_grad_(False)
        self.pool = nn.AdaptiveMaxPool3d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gray = x.mean(dim=1, keepdim=True)
        return self.pool(self.conv(gray.to(self.conv.weight.dtype))).flatten(1).to(x.dtype)


#: Centres of the blob cells of :func:`blob_volume` (side 24).
VOLUME_CELLS = [(z, y, x) for z in (6, 17) for y in (6, 17) for x in (6, 17)]


def blob_volume(intensities: list[float], size: int = 24, seed: int = 0) -> torch.Tensor:
    """(2, size, size, size) float64 volume: dark textured background with 3x3x3 bright blobs.

    Blob ``k`` (intensity ``intensities[k]``) sits at ``VOLUME_CELLS[k]``.
    """
    rng = np.random.default_rng(seed)
    vol = 0.1 + 0.02 * rng.random((2, size, size, size))
    for value, (z, y, x) in zip(intensities, VOLUME_CELLS, strict=False):
        vol[:, z - 1 : z + 2, y - 1 : y + 2, x - 1 : x + 2] = value
    return torch.from_numpy(vol)


def usage_error_of(main: Callable[[list[str]], object], argv: list[str], capsys: Any) -> str:
    """The one-line usage error of an entry point ``main(argv)`` that exits with status 2.

    Every entry point of the project (``captum-iterative``, ``python -m
    captum_iterative.fundus.train``, the examples) reports a usage error as one line
    ``PROG: error: MESSAGE`` on stderr and exit status 2; this returns that line.
    """
    capsys.readouterr()
    try:
        main(argv)
    except SystemExit as stop:
        code = stop.code
    else:
        raise AssertionError(f"{argv} did not exit")
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line and ": warning: " not in line]
    assert code == 2, (code, err)
    assert len(lines) == 1 and ": error: " in lines[0], err
    return lines[0]

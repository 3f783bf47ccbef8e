"""CUDA: the pyramid and the loop stay on the device and wait for it once per iteration.

Run with ``pytest -m gpu``; every test is skipped without CUDA.
"""

from __future__ import annotations

import contextlib
import warnings
from collections import Counter
from collections.abc import Iterator

import pytest
import torch
from captum.attr import GuidedBackprop
from torch import nn

import captum_iterative.augmentation as augmentation
from captum_iterative import IterativeAugmentation
from captum_iterative.inpaint.pyramid import PyramidInpainter

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]

SYNC_MESSAGE = "called a synchronizing CUDA operation"


def _case(
    n: int = 3, size: int = 96, dtype: torch.dtype = torch.float32, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 3, size, size, generator=g).to(dtype)
    masks = torch.rand(n, 1, size, size, generator=g) > 0.7
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    disc = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 <= (0.45 * size) ** 2
    return images, masks, disc.expand(n, 1, size, size).clone()


@contextlib.contextmanager
def _count_syncs() -> Iterator[list[str]]:
    """Record the location of every synchronising CUDA call made inside the block."""
    sites: list[str] = []
    previous = torch.cuda.get_sync_debug_mode()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            yield sites
        finally:
            torch.cuda.set_sync_debug_mode(previous)
    sites += [f"{w.filename}:{w.lineno}" for w in caught if SYNC_MESSAGE in str(w.message)]


class _SmallReluNet(nn.Module):
    """Conv-ReLU-pool layers (nn.ReLU modules, as GuidedBackprop needs) and one output."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.head = nn.Linear(16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


def _explainer(model: nn.Module, max_iter: int, **kwargs: object) -> IterativeAugmentation:
    return IterativeAugmentation(
        GuidedBackprop(model),
        threshold=-1e30,  # below every score: each image computes max_iter maps
        inpainter=PyramidInpainter(),
        max_iter=max_iter,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pyramid_on_cuda_matches_cpu(dtype: torch.dtype) -> None:
    images, masks, valid = _case(dtype=dtype)
    cpu = PyramidInpainter()(images, masks, valid)
    cuda = PyramidInpainter()(images.cuda(), masks.cuda(), valid.cuda())
    assert cuda.device.type == "cuda" and cuda.dtype == dtype
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(cuda.cpu(), cpu, rtol=0, atol=tol)


@pytest.mark.parametrize("dilation", [0, 2])
def test_pyramid_makes_no_host_sync(dilation: int) -> None:
    images, masks, valid = (t.cuda() for t in _case())
    inpainter = PyramidInpainter(dilation=dilation)
    inpainter(images, masks, valid)  # warm-up outside the checked region
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = inpainter(images, masks, valid)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert out.shape == images.shape


@pytest.mark.parametrize("dilation", [0, 1])
def test_pyramid_fills_volumes_on_cuda_without_host_sync(dilation: int) -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.rand(2, 2, 20, 24, 28, generator=g)
    masks = torch.rand(2, 1, 20, 24, 28, generator=g) > 0.7
    inpainter = PyramidInpainter(dilation=dilation)
    cpu = inpainter(images, masks)
    images, masks = images.cuda(), masks.cuda()
    inpainter(images, masks)  # warm-up outside the checked region
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = inpainter(images, masks)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.testing.assert_close(out.cpu(), cpu, rtol=0, atol=1e-5)


def test_compiled_pyramid_matches_eager_on_cuda() -> None:
    images, masks, valid = (t.cuda() for t in _case(n=2, size=64))
    eager = PyramidInpainter()(images, masks, valid)
    compiled = PyramidInpainter(compile=True)(images, masks, valid)
    torch.testing.assert_close(compiled, eager, rtol=0, atol=1e-5)


def test_loop_waits_for_the_device_once_per_iteration(monkeypatch: pytest.MonkeyPatch) -> None:
    # The loop shows each distinct warning once; let every sync warning through to count it.
    monkeypatch.setattr(augmentation, "_deduplicated_warnings", contextlib.nullcontext)
    torch.manual_seed(0)
    model = _SmallReluNet().cuda().eval()
    images, _, valid = (t.cuda() for t in _case(n=4, size=64))
    warm = _explainer(model, max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warm.explain(images, target=0, valid=valid)
    torch.cuda.synchronize()
    counts, sites = {}, {}
    for max_iter in (1, 5):
        explainer = _explainer(model, max_iter=max_iter)
        with _count_syncs() as found:
            result = explainer.explain(images, target=0, valid=valid)
        assert result.iterations.tolist() == [max_iter] * 4
        counts[max_iter], sites[max_iter] = len(found), found
    extra = Counter(sites[5])
    extra.subtract(Counter(sites[1]))
    assert counts[5] - counts[1] == 4, (
        f"{counts[5] - counts[1]} synchronisations for 4 extra iterations; extra ones by site: "
        f"{ {site: k for site, k in extra.items() if k} }; all sites of one iteration: {sites[1]}"
    )


def test_loop_on_cuda_matches_cpu() -> None:
    torch.manual_seed(0)
    model = _SmallReluNet().double().eval()
    images, _, valid = _case(n=3, size=48, dtype=torch.float64)
    cpu = _explainer(model, max_iter=3).explain(images, target=0, valid=valid)
    model_cuda = model.cuda()
    cuda = _explainer(model_cuda, max_iter=3).explain(images.cuda(), target=0, valid=valid.cuda())
    assert cuda.augmented.device.type == "cuda"
    assert cuda.iterations.tolist() == cpu.iterations.tolist()
    torch.testing.assert_close(cuda.augmented.cpu(), cpu.augmented, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(cuda.inpainted.cpu(), cpu.inpainted, rtol=1e-6, atol=1e-9)


def test_bfloat16_autocast_and_channels_last_loop_on_cuda() -> None:
    torch.manual_seed(0)
    model = _SmallReluNet().cuda().eval().to(memory_format=torch.channels_last)
    images, _, valid = (t.cuda() for t in _case(n=2, size=64))
    images = images.contiguous(memory_format=torch.channels_last)
    result = _explainer(model, max_iter=3, autocast=torch.bfloat16).explain(
        images, target=0, valid=valid
    )
    assert result.augmented.dtype == torch.float32
    assert torch.isfinite(result.augmented).all()
    assert result.iterations.tolist() == [3, 3]
    assert result.inpainted.is_contiguous(memory_format=torch.channels_last)

"""The batch path on the images' device (``fundus.preprocess.batch``), against the host path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _helpers.preprocess import FundusFactory, to_batch

from captum_iterative.fundus.preprocess import (
    fov_mask,
    preprocess_batch,
    preprocess_fundus,
)


def _agreement(host: np.ndarray, device: torch.Tensor) -> tuple[float, float]:
    diff = np.abs(device.permute(1, 2, 0).cpu().numpy() - host.astype(np.float32))
    return float((diff <= 1).mean()), float(diff.max())


@pytest.mark.parametrize("enhance", [True, False])
@pytest.mark.parametrize("method", ["red", "lab"])
def test_batch_path_agrees_with_host_path(
    make_fundus: FundusFactory, retina: np.ndarray, enhance: bool, method: str
) -> None:
    images = [
        retina,  # shrink 480 -> 256
        make_fundus(300, 420, radius=160),  # clipped disc, padded to a square
        make_fundus(150, 150, centre=(70, 80), radius=60),  # enlarged 121 -> 256
    ]
    for image in images:
        host = preprocess_fundus(image, 256, enhance=enhance, fov_method=method)
        batch, fov = preprocess_batch(to_batch(image), 256, enhance=enhance, fov_method=method)
        within_one, _ = _agreement(host.image, batch[0])
        assert within_one >= 0.999, within_one
        assert (fov[0, 0].numpy() == host.fov).mean() >= 0.999


def test_batch_of_several_images_equals_single_calls(make_fundus: FundusFactory) -> None:
    images = np.stack([make_fundus(200, 240, radius=r, seed=r) for r in (70, 95, 110)])
    batch = torch.from_numpy(images).permute(0, 3, 1, 2)
    together, fov = preprocess_batch(batch, 128)
    assert together.shape == (3, 3, 128, 128) and together.dtype == torch.float32
    assert fov.shape == (3, 1, 128, 128) and fov.dtype == torch.bool
    for index in range(3):
        alone, _ = preprocess_batch(batch[index : index + 1], 128)
        assert torch.equal(together[index], alone[0])


def test_batch_accepts_float_input_and_given_fov(make_fundus: FundusFactory) -> None:
    image = make_fundus(160, 160, radius=70)
    fov = torch.from_numpy(fov_mask(image))[None]
    as_uint8, fov_uint8 = preprocess_batch(to_batch(image), 64, fov=fov)
    as_float, fov_float = preprocess_batch(to_batch(image).double(), 64, fov=fov[:, None])
    assert torch.equal(as_uint8, as_float) and torch.equal(fov_uint8, fov_float)
    assert as_float.min() >= 0 and as_float.max() <= 255
    assert torch.equal(as_float, as_float.round())


@pytest.mark.parametrize(
    ("images", "kwargs", "error", "match"),
    [
        (np.zeros((1, 3, 8, 8), np.uint8), {}, TypeError, "images"),
        (torch.zeros(3, 8, 8, dtype=torch.uint8), {}, ValueError, "images"),
        (torch.zeros(1, 4, 8, 8, dtype=torch.uint8), {}, ValueError, "images"),
        (torch.zeros(1, 3, 8, 8, dtype=torch.int32), {}, TypeError, "images"),
        (torch.zeros(1, 3, 8, 8), {"fov": torch.ones(1, 8, 8)}, TypeError, "fov"),
        (
            torch.zeros(1, 3, 8, 8),
            {"fov": torch.ones(2, 8, 8, dtype=torch.bool)},
            ValueError,
            "fov",
        ),
        (torch.zeros(1, 3, 8, 8), {}, ValueError, "field of view"),
    ],
)
def test_batch_rejects_bad_input(images: object, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        preprocess_batch(images, 4, **kwargs)  # type: ignore[arg-type]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_batch_on_cuda_equals_cpu(retina: np.ndarray, make_fundus: FundusFactory) -> None:
    images = torch.from_numpy(np.stack([retina, make_fundus(480, 480, radius=230)]))
    images = images.permute(0, 3, 1, 2)
    on_cpu, fov_cpu = preprocess_batch(images, 512)
    on_gpu, fov_gpu = preprocess_batch(images.cuda(), 512)
    assert on_gpu.device.type == "cuda" and fov_gpu.device.type == "cuda"
    assert torch.equal(fov_cpu, fov_gpu.cpu())
    assert ((on_cpu - on_gpu.cpu()).abs() <= 1).float().mean() >= 0.999

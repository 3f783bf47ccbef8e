"""Volumes with a MONAI network: the loop on (N, 1, D, H, W) scans with several bright blobs.

Needs the ``monai`` extra (``pip install -e ".[monai]"``). It

1. draws synthetic volumes (24^3 voxels of smooth noise) in which abnormal ones hold one to three
   Gaussian blobs of different brightness, and trains MONAI's ``Classifier`` (a small 3-D
   residual CNN) for a few hundred steps on the CPU to tell them apart;
2. sets ``th_pred`` at the validation ROC point closest to the corner;
3. explains the abnormal test volumes with Captum's ``Saliency`` inside ``IterativeAugmentation``,
   inpainting with the 3-D ``PyramidInpainter`` (OpenCV's inpainters are 2-D), masks grown by
   one voxel;
4. prints, per number of blobs, how many blobs the Otsu mask of the initial map and of the
   augmented map covers: the augmented map finds the fainter blobs the first map misses.

    python examples/volume_monai.py            # about 15 s on 2 CPU cores
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from captum.attr import Saliency
from monai.networks.nets import Classifier
from torch import nn

from captum_iterative import IterativeAugmentation, PyramidInpainter, binarize_otsu
from captum_iterative.evaluation import roc_closest_to_corner

SIDE = 24
#: Masks grown by one voxel before inpainting, so that a blob's faint rim goes with it.
DILATION = 1


def draw_volumes(
    n: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor, list[list[tuple[int, int, int]]]]:
    """``n`` volumes ``(n, 1, 24, 24, 24)``, labels ``(n,)`` and the blob centres of each."""
    grid = np.stack(np.meshgrid(*[np.arange(SIDE)] * 3, indexing="ij"), axis=-1)
    volumes, labels, centres = [], [], []
    for _ in range(n):
        noise = rng.normal(0.0, 0.05, (SIDE, SIDE, SIDE))
        volume = 0.2 + np.real(np.fft.ifftn(np.fft.fftn(noise) * _low_pass()))
        blobs: list[tuple[int, int, int]] = []
        if rng.random() < 0.5:
            for _ in range(rng.integers(1, 4)):
                centre = tuple(int(c) for c in rng.integers(4, SIDE - 4, 3))
                brightness = rng.uniform(0.35, 1.0)
                squared = ((grid - np.array(centre)) ** 2).sum(-1)
                volume += brightness * np.exp(-squared / (2 * 1.5**2))
                blobs.append(centre)
        volumes.append(volume)
        labels.append(float(bool(blobs)))
        centres.append(blobs)
    stacked = torch.from_numpy(np.stack(volumes)[:, None]).float()
    return stacked, torch.tensor(labels), centres


def _low_pass() -> np.ndarray:
    frequencies = np.fft.fftfreq(SIDE)
    f2 = sum(np.meshgrid(*[frequencies**2] * 3, indexing="ij"))
    return np.exp(-f2 / (2 * 0.08**2)) * 6.0


def train(model: nn.Module, steps: int, rng: np.random.Generator) -> None:
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    model.train()
    for step in range(steps):
        x, y, _ = draw_volumes(16, rng)
        loss = loss_fn(model(x)[:, 0], y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 100 == 0 or step == steps - 1:
            print(f"step {step:4d}  loss {loss.item():.3f}")
    model.eval()


def covered(maps: torch.Tensor, centres: list[list[tuple[int, int, int]]]) -> list[int]:
    """Per volume, how many blob centres lie inside the Otsu mask of its map."""
    masks = binarize_otsu(maps)
    return [sum(bool(masks[i, 0][c]) for c in blobs) for i, blobs in enumerate(centres)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=400, help="training steps (default: 400)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--volumes", type=int, default=48, help="test volumes (default: 48)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    model = Classifier(
        in_shape=(1, SIDE, SIDE, SIDE), classes=1, channels=(8, 16, 32), strides=(2, 2, 2)
    )
    train(model, args.steps, rng)

    x_val, y_val, _ = draw_volumes(64, rng)
    with torch.no_grad():
        th_pred = roc_closest_to_corner(y_val.numpy(), model(x_val)[:, 0].numpy()).threshold
    print(f"th_pred = {th_pred:.3f}")

    x, y, centres = draw_volumes(args.volumes, rng)
    abnormal = y.bool()
    x, centres = x[abnormal], [c for c, a in zip(centres, abnormal.tolist(), strict=True) if a]
    explainer = IterativeAugmentation(
        Saliency(model), th_pred, inpainter=PyramidInpainter(dilation=DILATION), max_iter=6
    )
    result = explainer.explain(x, abs=True)
    initial, augmented = covered(result.initial, centres), covered(result.augmented, centres)
    print(f"{len(centres)} abnormal volumes; maps per volume: {result.iterations.tolist()}")
    print("blobs | volumes | blobs in the initial mask | in the augmented mask")
    for k in (1, 2, 3):
        rows = [i for i, c in enumerate(centres) if len(c) == k]
        if rows:
            total = k * len(rows)
            first = sum(initial[i] for i in rows)
            second = sum(augmented[i] for i in rows)
            print(f"{k:5d} | {len(rows):7d} | {first:3d} of {total:3d} | {second:3d} of {total:3d}")


if __name__ == "__main__":
    main()

"""Painting lesions with their masks (``fundus.synthetic.canvas``): every masked lesion is visible
in the image."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from _helpers.synthetic import DARK, MODES
from skimage.measure import label

from captum_iterative.fundus.synthetic import (
    generate_fundus,
)


@pytest.mark.parametrize("mode", ["dr", "amd"])
def test_lesions_are_visible_where_masked(mode: str) -> None:
    """Every masked lesion differs from the ring of retina around it in the green channel:
    red lesions and pigment darker, exudates, drusen and atrophy brighter. At 512 px, the size
    whose DiaretDB1 contrasts the generator copies (the faintest microaneurysms darken green by
    about 5 %, less than the retina's texture varies at 128 px)."""
    _, top = MODES[mode]
    checked = 0
    kernel = np.ones((3, 3), np.uint8)
    for seed in range(8):
        f = generate_fundus(seed, 512, mode=mode, grade=1 + seed % top)
        lesions = np.logical_or.reduce([*f.masks.values(), *f.extra_masks.values()])
        green = f.image[..., 1].astype(np.float64)
        for t, mask in f.masks.items():
            labels = label(mask, connectivity=2)
            for i in range(1, labels.max() + 1):
                comp = labels == i
                ring = cv2.dilate(comp.view(np.uint8), kernel, iterations=2).astype(bool)
                ring &= ~lesions & ~f.vessels & f.fov
                if ring.sum() < 4:
                    continue
                delta = green[comp].mean() - green[ring].mean()
                assert (delta < 0) if t in DARK else (delta > 0), (t, seed, i, delta)
                checked += 1
    assert checked > 50

"""Shared fixtures: a hand-built blob detector with known behaviour, and small real images."""

from __future__ import annotations

import os

import cv2
import pytest
import torch
from _helpers.core import BlobScore
from hypothesis import settings
from skimage.data import retina

# CI runs the property tests on hypothesis's fixed per-test seeds (a red CI run is then a bug in
# the change, not a new draw); local runs draw new examples each time, as hypothesis defaults to.
settings.register_profile("ci", derandomize=True, print_blob=True)
#: The profiles HYPOTHESIS_PROFILE may name ("default" is hypothesis's own).
PROFILES = ("default", "ci")


def pytest_configure(config: pytest.Config) -> None:
    name = os.environ.get("HYPOTHESIS_PROFILE", "default")
    if name not in PROFILES:
        raise pytest.UsageError(
            f"HYPOTHESIS_PROFILE={name!r} is not a hypothesis profile of this test suite; "
            f"choose one of {', '.join(PROFILES)} (unset means default)"
        )
    settings.load_profile(name)


@pytest.fixture
def blob_model() -> BlobScore:
    return BlobScore().double().eval()


@pytest.fixture(scope="session")
def retina_small() -> torch.Tensor:
    """scikit-image's real retina photograph at 96x96, float32 (1, 3, 96, 96) in [0, 1]."""
    img = cv2.resize(retina(), (96, 96), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0

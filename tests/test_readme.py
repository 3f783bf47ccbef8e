"""The README's first snippet runs as written, on a small model and made-up validation data."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
import timm
import torch

README = Path(__file__).parents[1] / "README.md"


def test_first_snippet_chooses_th_pred_on_a_validation_set_and_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = re.findall(r"^```python\n(.*?)^```$", README.read_text(), flags=re.M | re.S)[0]
    assert "roc_closest_to_corner(val_labels, val_scores)" in code  # how to choose th_pred
    torch.manual_seed(0)
    model = timm.create_model("test_resnet", num_classes=2).eval()
    val_labels = torch.arange(20) % 2
    val_images = (
        torch.rand(20, 3, 32, 32) * torch.where(val_labels == 1, 0.3, 1.0)[:, None, None, None]
    )
    names = {"model": model, "val_images": val_images, "val_labels": val_labels}
    names["images"] = val_images[:3].clone()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Captum's hook note is not what is tested
        exec(compile(code, "README.md", "exec"), names)
    with torch.no_grad():
        scores = model(val_images)[:, 0]
    # th_pred is one of the validation scores, and the loop used it
    assert float(names["th_pred"]) in scores.tolist()
    assert names["result"].threshold == names["th_pred"]
    assert names["maps"].shape == (3, 1, 32, 32)
    assert capsys.readouterr().out.startswith("image  iterations  stop reason")

"""examples/fundus_dr.py, the flagship example: which classifier it uses by default for each
dataset, and a short synthetic run end to end."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from captum_iterative.fundus import SHIPPED_CHECKPOINTS, load_shipped_classifier

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "fundus_dr.py"


@pytest.fixture(scope="module")
def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fundus_dr_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Stop(Exception):
    """Raised by the stand-in runner once it has seen what the example passes it."""


def _classifier_of(example: ModuleType, argv: list[str], monkeypatch: Any) -> dict:
    seen: dict = {}

    def fake_run(dataset, model, threshold, out, config, **kwargs):  # type: ignore[no-untyped-def]
        seen.update(threshold=threshold, size=kwargs["size"], **kwargs["classifier"])
        raise _Stop

    monkeypatch.setattr(example, "run_localization", fake_run)
    with pytest.raises(_Stop):
        example.run(example.build_parser().parse_args(argv))
    return seen


def test_every_dataset_has_a_shipped_default(example: ModuleType) -> None:
    assert set(example.DEFAULT_CLASSIFIER) == set(example.DATASETS)
    assert set(example.DEFAULT_CLASSIFIER.values()) <= set(SHIPPED_CHECKPOINTS)


def test_synthetic_default_uses_the_synthetic_checkpoint(
    example: ModuleType, monkeypatch: Any, tmp_path: Path
) -> None:
    seen = _classifier_of(example, ["--out", str(tmp_path), "--images", "1"], monkeypatch)
    info = load_shipped_classifier("synthetic")[1]
    assert seen["checkpoint"] == "shipped:synthetic"
    assert (seen["threshold"], seen["size"], seen["arch"]) == (
        info.th_pred,
        info.input_size,
        info.arch,
    )


@pytest.mark.realdata
def test_diaretdb1_default_is_the_512_px_dr600_classifier(
    example: ModuleType, monkeypatch: Any, tmp_path: Path
) -> None:
    root = os.environ.get("DIARETDB1_ROOT")
    if not root:
        pytest.skip("DIARETDB1_ROOT is not set")
    argv = ["--dataset", "diaretdb1", "--root", root, "--out", str(tmp_path)]
    seen = _classifier_of(example, argv, monkeypatch)
    info = load_shipped_classifier("dr600")[1]
    assert seen["checkpoint"] == "shipped:dr600"
    assert seen["size"] == 512 == info.input_size
    assert seen["threshold"] == info.th_pred and seen["metrics"] == info.metrics


@pytest.mark.slow
def test_short_synthetic_run_writes_its_report(example: ModuleType, tmp_path: Path) -> None:
    argv = ["--images", "5", "--methods", "saliency", "--max-iter", "2", "--quiet"]
    example.main([*argv, "--out", str(tmp_path)])
    settings = json.loads((tmp_path / "settings.json").read_text())
    assert settings["images"] == 5
    assert settings["classifier"]["checkpoint"] == "shipped:synthetic"
    for name in ("table.md", "table.csv", "per_image.csv", "loop_steps.png"):
        assert (tmp_path / name).is_file(), name
    assert 1 <= settings["mean_iterations"]["saliency"] <= 2


def test_quick_is_few_images_and_two_methods_on_the_synthetic_default(
    example: ModuleType, monkeypatch: Any, tmp_path: Path
) -> None:
    seen: dict = {}

    def fake_run(dataset, model, threshold, out, config, **kwargs):  # type: ignore[no-untyped-def]
        seen.update(n=len(dataset), methods=config.methods)
        raise _Stop

    monkeypatch.setattr(example, "run_localization", fake_run)
    with pytest.raises(_Stop):
        example.main(["--quick", "--out", str(tmp_path)])
    assert seen == {"n": 8, "methods": ("guided_backprop", "grad_cam")}
    with pytest.raises(_Stop):  # an explicit choice wins over --quick's
        example.main(["--quick", "--images", "3", "--methods", "saliency", "--out", str(tmp_path)])
    assert seen == {"n": 3, "methods": ("saliency",)}
    with pytest.raises(SystemExit) as exit_info:
        example.main(["--quick", "--dataset", "diaretdb1", "--root", str(tmp_path)])
    assert exit_info.value.code == 2


def test_the_loop_figure_shows_the_image_with_the_most_maps(
    example: ModuleType, monkeypatch: Any, tmp_path: Path
) -> None:
    from types import SimpleNamespace

    runs = {"a": (1, "normal"), "b": (20, "max_iter"), "c": (20, "normal"), "d": (5, "normal")}
    monkeypatch.setattr(
        example,
        "load_explanation",
        lambda path: SimpleNamespace(iterations=runs[path.name][0], stop_reason=runs[path.name][1]),
    )
    # load_explanation sees the path explanation_path gave, named after the image.
    monkeypatch.setattr(example, "explanation_path", lambda cache, method, i: cache / i)
    for name in runs:
        (tmp_path / name).touch()
    assert example.loop_figure_image(["a", "b", "c", "d"], tmp_path) == "c"  # 20 maps, ended
    assert example.loop_figure_image(["a", "b", "d"], tmp_path) == "b"  # most maps
    assert example.loop_figure_image(["a", "d"], tmp_path) == "d"
    assert example.loop_figure_image([], tmp_path) is None
    assert example.loop_figure_image(["x"], tmp_path / "none") == "x"  # method not run

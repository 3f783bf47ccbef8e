"""The localization runner: outputs, caching, and agreement with a direct FROC computation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _helpers.experiments import sample

from captum_iterative import IterativeAugmentation
from captum_iterative.evaluation import froc, scale_radius
from captum_iterative.experiments import (
    ExperimentConfig,
    build_explainer,
    explanation_path,
    load_explanation,
    make_inpainter,
    prepare_images,
    run_localization,
)
from captum_iterative.fundus.models import create_classifier

SIZE = 64


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_classifier("vgg_tiny").eval()


CONFIG = dict(
    methods=("saliency", "guided_backprop", "grad_cam"),
    max_iter=2,
    batch_size=2,
)


def test_run_writes_tables_curves_overlays_and_settings(tmp_path: Path, model) -> None:
    data = [sample(s) for s in range(3)]
    report = run_localization(
        data, model, -1e9, tmp_path, ExperimentConfig(**CONFIG), size=SIZE, progress=False
    )
    for name in (
        "table.md",
        "table.csv",
        "per_image.csv",
        "settings.json",
        "scores.json",
        *(f"overlays_{method}.png" for method in CONFIG["methods"]),
    ):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "froc_hemorrhages.png").exists() and (
        tmp_path / "froc_hard_exudates.png"
    ).exists()
    rows = [r for r in report.table if r["lesion_type"] == "hemorrhages"]
    assert [r["method"] for r in rows] == list(CONFIG["methods"])
    for r in report.table:
        assert r["lesion_type"] == "hard_exudates" or 0.0 <= r["augmented"] <= 1.0
    settings = json.loads((tmp_path / "settings.json").read_text())
    assert settings["referable"] == 3 and settings["input_size"] == SIZE
    assert settings["froc_radius_px"] == pytest.approx(scale_radius(7.0, size=SIZE))
    assert {"torch", "captum", "timm"} <= set(settings["versions"])
    assert "| GBP |" in (tmp_path / "table.md").read_text()
    # the average row is the mean over lesion types (hard exudates have no lesion: nan, skipped)
    avg = report.value("average", "saliency", "augmented")
    assert avg == pytest.approx(report.value("hemorrhages", "saliency", "augmented"))


def test_table_matches_a_direct_froc_of_the_cached_maps(tmp_path: Path, model) -> None:
    data = [sample(s) for s in range(3)]
    config = ExperimentConfig(**CONFIG)
    report = run_localization(data, model, -1e9, tmp_path, config, size=SIZE, progress=False)
    prepared = prepare_images(data, SIZE, progress=False)
    for kind in ("initial", "augmented"):
        maps = [
            getattr(
                load_explanation(explanation_path(tmp_path / "cache", "guided_backprop", p.id)),
                kind,
            )
            for p in prepared
        ]
        direct = froc(
            maps,
            [p.masks["hemorrhages"] for p in prepared],
            scale_radius(7.0, size=SIZE),
            fovs=[p.fov for p in prepared],
        )
        assert report.value("hemorrhages", "guided_backprop", kind) == direct.sensitivity_at(10.0)


def test_cached_maps_are_reused_until_the_settings_change(
    tmp_path: Path, model, monkeypatch
) -> None:
    data = [sample(s) for s in range(2)]
    config = ExperimentConfig(**CONFIG)
    first = run_localization(data, model, -1e9, tmp_path, config, size=SIZE, progress=False)

    def fail(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("recomputed a cached map")

    with monkeypatch.context() as patch:
        patch.setattr(IterativeAugmentation, "explain", fail)
        again = run_localization(data, model, -1e9, tmp_path, config, size=SIZE, progress=False)
    assert json.dumps(again.table) == json.dumps(first.table)  # NaN-safe equality
    changed = ExperimentConfig(**{**CONFIG, "max_iter": 1})
    with monkeypatch.context() as patch:
        patch.setattr(IterativeAugmentation, "explain", fail)
        with pytest.raises(AssertionError, match="recomputed"):
            run_localization(data, model, -1e9, tmp_path, changed, size=SIZE, progress=False)


def test_cached_maps_of_another_model_threshold_or_image_are_recomputed(
    tmp_path: Path, model, monkeypatch
) -> None:
    data = [sample(s) for s in range(2)]
    config = ExperimentConfig(**{**CONFIG, "methods": ("guided_backprop",)})
    run_localization(data, model, -1e9, tmp_path, config, size=SIZE, progress=False)
    torch.manual_seed(1)
    other = create_classifier("vgg_tiny").eval()
    calls = []
    original = IterativeAugmentation.explain

    def counting(self, inputs, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(inputs.shape[0])
        return original(self, inputs, *args, **kwargs)

    monkeypatch.setattr(IterativeAugmentation, "explain", counting)
    run_localization(data, other, -1e9, tmp_path, config, size=SIZE, progress=False)
    assert sum(calls) == 2
    # The maps on disk are now the other model's.
    prepared = prepare_images(data, SIZE, progress=False)
    cached = load_explanation(explanation_path(tmp_path / "cache", "guided_backprop", "img0"))
    explainer, kwargs = build_explainer(
        "guided_backprop", other, -1e9, inpainter=make_inpainter(config), max_iter=2
    )
    valid = torch.from_numpy(prepared[0].fov)[None, None]
    expected = explainer.explain(prepared[0].image[None], valid=valid, **kwargs)
    reference = expected.initial[0, 0].numpy()
    scale = float(np.abs(reference).max())
    np.testing.assert_allclose(cached.initial, reference, rtol=1e-4, atol=1e-5 * scale)
    calls.clear()
    run_localization(data, other, -1e8, tmp_path, config, size=SIZE, progress=False)
    assert sum(calls) == 2
    calls.clear()
    run_localization(data, other, -1e8, tmp_path, config, size=SIZE + 8, progress=False)
    assert sum(calls) == 2
    calls.clear()
    run_localization(data, other, -1e8, tmp_path, config, size=SIZE + 8, progress=False)
    assert sum(calls) == 0


def test_only_referable_images_are_explained(tmp_path: Path, model) -> None:
    data = [sample(s) for s in range(2)]
    with pytest.raises(ValueError, match="referable"):
        run_localization(
            data, model, 1e9, tmp_path, ExperimentConfig(**CONFIG), size=SIZE, progress=False
        )
    report = run_localization(
        data,
        model,
        1e9,
        tmp_path,
        ExperimentConfig(**CONFIG, referable_only=False),
        size=SIZE,
        progress=False,
    )
    assert report.referable == ["img0", "img1"]


def test_captum_warnings_are_shown_once_per_run(tmp_path: Path, model, recwarn) -> None:
    # Guided backpropagation warns on every call; with two maps per image and two batches the
    # loop calls it several times, and the run shows the warning once.
    config = ExperimentConfig(methods=("guided_backprop",), max_iter=2, batch_size=1)
    run_localization(
        [sample(s) for s in range(3)],
        model,
        -1e9,
        tmp_path,
        config,
        size=SIZE,
        progress=False,
    )
    hooks = [w for w in recwarn.list if "Setting backward hooks" in str(w.message)]
    assert len(hooks) == 1

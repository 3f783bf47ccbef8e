"""``captum-iterative explain`` (``cli.explain``): folders, datasets, outputs, per-image failures."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from _helpers.cli import FAST, SIZE, arch_args, draw_fundus, run_cli, write_fundus_images
from PIL import Image

from captum_iterative.cli import MANIFEST, OUTPUT_MARKER
from captum_iterative.cli._outputs import header_height
from captum_iterative.experiments import build_explainer, load_explanation
from captum_iterative.fundus.models import create_classifier
from captum_iterative.fundus.preprocess import preprocess_fundus, to_tensor
from captum_iterative.inpaint import NavierStokesInpainter
from captum_iterative.io import read_image


def test_explain_folder_writes_maps_overlays_and_manifest(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, stdout, err = run_cli(
        ["explain", workspace["images"], *arch_args(workspace), *FAST, "--out", out], capsys
    )
    assert code == 0, err
    assert "4 done, 0 skipped, 0 failed" in stdout
    names = sorted(p.name for p in (out / "guided_backprop").iterdir())
    assert names == [f"img{k}.{ext}" for k in range(4) for ext in ("npz", "png")]
    for k in range(4):
        exp = load_explanation(out / "guided_backprop" / f"img{k}.npz")
        assert exp.image_id == f"img{k}" and exp.method == "guided_backprop"
        assert exp.initial.shape == exp.augmented.shape == (SIZE, SIZE)
        assert 1 <= exp.iterations <= 2 and exp.scores.shape == (exp.iterations + 1,)
        assert exp.threshold == -1000.0 and exp.alpha == pytest.approx(0.6)
        assert exp.meta["source"] == str((workspace["images"] / f"img{k}.png").resolve())
        assert len(exp.meta["bbox"]) == 4 and exp.meta["cache_key"]
        png = read_image(out / "guided_backprop" / f"img{k}.png")
        assert png.shape == (header_height(SIZE) + SIZE, 3 * SIZE + 8, 3)  # under labels
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["totals"] | {"seconds_per_image": None} == {
        "images": 4,
        "done": 4,
        "skipped": 0,
        "failed": 0,
        "not_reached": 0,
        "seconds_per_image": None,
        "temporary_files_removed": 0,
        "stop_reasons": {"max_iter": 4},
    }
    assert manifest["world_size"] == 1 and manifest["backend"] is None
    assert manifest["failures"] == []
    listing = "\n".join(
        f"img{k}\t{(workspace['images'] / f'img{k}.png').resolve()}" for k in range(4)
    )
    assert manifest["images"]["sha256"] == hashlib.sha256(listing.encode()).hexdigest()
    assert (
        manifest["classifier"]["sha256"]
        == hashlib.sha256(workspace["weights"].read_bytes()).hexdigest()
    )
    assert set(manifest["versions"]) >= {"torch", "captum", "timm"}
    assert [p.name for p in out.rglob(".*")] == [OUTPUT_MARKER]  # no temporary file left


def test_explain_maps_equal_the_python_api(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Known answer: the CLI's maps are the loop run by hand on the preprocessed image."""
    out = tmp_path / "out"
    code, _, err = run_cli(
        [
            *("explain", workspace["images"] / "img2.png", *arch_args(workspace, -5.0), *FAST),
            *("--out", out, "--methods", "saliency,guided_backprop"),
        ],
        capsys,
    )
    assert code == 0, err
    model = create_classifier("vgg_tiny")
    model.load_state_dict(torch.load(workspace["weights"]))
    model.eval()
    pre = preprocess_fundus(read_image(workspace["images"] / "img2.png"), SIZE)
    x = to_tensor(pre.image)[None]
    valid = torch.from_numpy(pre.fov)[None, None]
    for method in ("saliency", "guided_backprop"):
        explainer, kwargs = build_explainer(
            method,
            model,
            -5.0,
            inpainter=NavierStokesInpainter(3, value_range=(0.0, 1.0)),
            max_iter=2,
            alpha=0.6,
        )
        expected = explainer.explain(x, valid=valid, **kwargs)
        got = load_explanation(out / method / "img2.npz")
        np.testing.assert_array_equal(got.initial, expected.initial[0, 0].numpy())
        np.testing.assert_array_equal(got.augmented, expected.augmented[0, 0].numpy())
        assert got.iterations == int(expected.iterations[0])
        assert got.stop_reason == expected.stop_reason[0]


def test_images_predicted_normal_get_zero_maps(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, _, err = run_cli(
        [
            "explain",
            workspace["images"] / "img0.png",
            *arch_args(workspace, 1000.0),
            *FAST,
            "--out",
            out,
        ],
        capsys,
    )
    assert code == 0, err
    exp = load_explanation(out / "guided_backprop" / "img0.npz")
    assert exp.stop_reason == "not_abnormal" and exp.iterations == 0
    assert not exp.augmented.any() and not exp.initial.any()


def test_checkpoint_supplies_threshold_and_size(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from captum_iterative.fundus.checkpoint import load_classifier

    _, info = load_classifier(workspace["checkpoint"])
    out = tmp_path / "out"
    code, _, err = run_cli(
        [
            *("explain", workspace["images"], "--checkpoint", workspace["checkpoint"]),
            *("--max-iter", "2", "--device", "cpu", "--no-progress", "--out", out),
        ],
        capsys,
    )
    assert code == 0, err
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["settings"]["size"] == info.input_size == SIZE
    assert manifest["settings"]["threshold"] == info.th_pred
    exp = load_explanation(out / "guided_backprop" / "img1.npz")
    assert exp.threshold == info.th_pred
    assert (exp.stop_reason == "not_abnormal") == (exp.scores[0] < info.th_pred)


def test_default_classifier_is_the_shipped_checkpoint(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from captum_iterative.fundus.checkpoint import load_default_classifier

    try:
        _, info = load_default_classifier()
    except FileNotFoundError:
        pytest.skip("no shipped checkpoint in this checkout")
    out = tmp_path / "out"
    code, _, err = run_cli(
        ["explain", workspace["images"] / "img0.png", *FAST, "--out", out], capsys
    )
    assert code == 0, err
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["classifier"]["checkpoint"] == "shipped default checkpoint"
    assert manifest["classifier"]["arch"] == info.arch
    assert manifest["settings"]["threshold"] == info.th_pred


def test_bad_images_fail_alone_and_are_recorded(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = tmp_path / "images"
    good = write_fundus_images(images, 2)
    whole = good[0].read_bytes()
    (images / "truncated.png").write_bytes(whole[: len(whole) // 2])
    (images / "text.jpg").write_text("this is not a JPEG")
    assert cv2.imwrite(str(images / "black.png"), np.zeros((40, 40, 3), np.uint8))
    rgb = draw_fundus(7)
    assert cv2.imwrite(str(images / "grey.png"), rgb[..., 0])
    assert cv2.imwrite(str(images / "deep.png"), (rgb[..., ::-1].astype(np.uint16) * 257))
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 9, np.uint8)]), "RGBA").save(
        images / "alpha.png"
    )
    out = tmp_path / "out"
    code, stdout, err = run_cli(
        ["explain", images, *arch_args(workspace), *FAST, "--out", out, "--batch-size", "3"],
        capsys,
    )
    assert code == 1
    assert "5 done, 0 skipped, 3 failed" in stdout
    failures = {f["image_id"]: f for f in json.loads((out / MANIFEST).read_text())["failures"]}
    assert sorted(failures) == ["black", "text", "truncated"]
    assert "truncated" in failures["truncated"]["error"]
    assert "text.jpg" in failures["text"]["error"]
    assert "field of view" in failures["black"]["error"]
    assert all(f["stage"] == "read" and f["rank"] == 0 for f in failures.values())
    for name in sorted(failures):
        assert f"captum-iterative: warning: {name}:" in err
    assert "Traceback" not in err
    done = sorted(p.stem for p in (out / "guided_backprop").glob("*.npz"))
    assert done == ["alpha", "deep", "grey", "img0", "img1"]
    assert [p.name for p in out.rglob(".*")] == [OUTPUT_MARKER]
    # The documented conversion: the 16-bit copy of an 8-bit image gives that image's maps.
    eight = tmp_path / "eight"
    eight.mkdir()
    assert cv2.imwrite(str(eight / "deep.png"), rgb[..., ::-1])
    code, _, err = run_cli(
        ["explain", eight, *arch_args(workspace), *FAST, "--out", tmp_path / "out8"], capsys
    )
    assert code == 0, err
    deep16 = load_explanation(out / "guided_backprop" / "deep.npz")
    deep8 = load_explanation(tmp_path / "out8" / "guided_backprop" / "deep.npz")
    np.testing.assert_allclose(deep16.augmented, deep8.augmented, rtol=1e-5, atol=1e-9)
    assert deep16.iterations == deep8.iterations


def test_no_preprocess_needs_model_sized_images(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = tmp_path / "images"
    images.mkdir()
    pre = preprocess_fundus(draw_fundus(3), SIZE)
    assert cv2.imwrite(str(images / "ready.png"), pre.image[..., ::-1])
    assert cv2.imwrite(str(images / "raw.png"), draw_fundus(4)[..., ::-1])
    out = tmp_path / "out"
    code, stdout, _ = run_cli(
        ["explain", images, *arch_args(workspace), *FAST, "--out", out, "--no-preprocess"],
        capsys,
    )
    assert code == 1 and "1 done, 0 skipped, 1 failed" in stdout
    (failure,) = json.loads((out / MANIFEST).read_text())["failures"]
    assert failure["image_id"] == "raw" and "needs 64x64" in failure["error"]
    exp = load_explanation(out / "guided_backprop" / "ready.npz")
    assert exp.meta["preprocessed"] is False and "bbox" not in exp.meta


def test_dataset_mask_of_another_size_fails_that_image(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = tmp_path / "images"
    write_fundus_images(images, 3)
    masks = tmp_path / "masks"
    masks.mkdir()
    for k in range(3):
        shape = (90, 110) if k != 1 else (45, 55)
        Image.fromarray(np.zeros(shape, np.uint8)).save(masks / f"img{k}.png")
    out = tmp_path / "out"
    code, stdout, err = run_cli(
        [
            *("explain", "--dataset", "folder", "--root", images),
            *("--dataset-option", f'masks={{"hemorrhages": "{masks}"}}'),
            *arch_args(workspace),
            *FAST,
            *("--out", out),
        ],
        capsys,
    )
    assert code == 1, err
    assert "2 done, 0 skipped, 1 failed" in stdout
    (failure,) = json.loads((out / MANIFEST).read_text())["failures"]
    assert failure["image_id"] == "img1" and "img1.png" in failure["error"]
    assert "shape" in failure["error"]
    assert failure["source"] == "folder:img1"

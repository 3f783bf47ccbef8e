"""The command line: explain on folders and datasets, resume/overwrite, bad input, evaluate, bench.

Commands run in-process through ``captum_iterative.cli.main`` on tiny drawn fundus images (64 px
model input, ``vgg_tiny``, at most 2 maps per image) so the whole module stays fast on 2 cores.
"""

from __future__ import annotations

import hashlib
import json
import os
import textwrap
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from captum_iterative.cli import MANIFEST, _explain_run, build_parser, main
from captum_iterative.experiments import build_explainer, load_explanation
from captum_iterative.fundus.models import create_classifier
from captum_iterative.fundus.preprocess import preprocess_fundus, to_tensor
from captum_iterative.fundus.train import train_classifier
from captum_iterative.fundus.types import FundusSample
from captum_iterative.inpaint import NavierStokesInpainter
from captum_iterative.io import read_image

SIZE = 64
FAST = ["--size", str(SIZE), "--max-iter", "2", "--device", "cpu", "--no-progress"]


def draw_fundus(seed: int, height: int = 90, width: int = 110) -> np.ndarray:
    """``(height, width, 3)`` uint8 RGB: an orange disc on black with bright and dark spots."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.uint8)
    centre, radius = (width // 2, height // 2), min(height, width) // 2 - 4
    cv2.circle(image, centre, radius, (180, 90, 40), -1)
    for colour in [(250, 230, 150)] * 3 + [(90, 20, 10)] * 2:
        y, x = rng.integers(-radius // 2, radius // 2, 2)
        cv2.circle(image, (centre[0] + int(x), centre[1] + int(y)), 3, colour, -1)
    noisy = image.astype(np.int16) + rng.integers(-4, 5, image.shape)
    inside = np.hypot(*(np.mgrid[:height, :width] - np.array(centre[::-1])[:, None, None]))
    noisy[inside > radius] = 0
    return np.clip(noisy, 0, 255).astype(np.uint8)


def write_fundus_images(folder: Path, count: int, first_seed: int = 0) -> list[Path]:
    """``count`` drawn fundus images ``img<k>.png`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(count):
        path = folder / f"img{k}.png"
        assert cv2.imwrite(str(path), draw_fundus(first_seed + k)[..., ::-1])
        paths.append(path)
    return paths


def save_weights(path: Path, arch: str = "vgg_tiny", seed: int = 0) -> Path:
    """A random-initialised classifier's state dict, as ``--weights`` takes it."""
    torch.manual_seed(seed)
    torch.save(create_classifier(arch).state_dict(), path)
    return path


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``(exit status, stdout, stderr)`` of ``captum-iterative *args``."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("captum-iterative: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Four images, a vgg_tiny state dict and a fundus.train checkpoint (64 px)."""
    root = tmp_path_factory.mktemp("cli")
    write_fundus_images(root / "images", 4)
    save_weights(root / "weights.pt")
    save_weights(root / "resnet.pt", arch="test_resnet")
    rng = np.random.default_rng(0)

    def sample(i: int) -> FundusSample:
        image = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
        return FundusSample(image, i % 5, {}, np.ones((SIZE, SIZE), bool), f"s{i}")

    train_classifier(
        [sample(i) for i in range(6)],
        [sample(10 + i) for i in range(5)],
        "vgg_tiny",
        epochs=1,
        batch_size=4,
        input_size=SIZE,
        augment=False,
        out=root / "checkpoint.pt",
        progress=False,
    )
    return {
        "root": root,
        "images": root / "images",
        "weights": root / "weights.pt",
        "resnet": root / "resnet.pt",
        "checkpoint": root / "checkpoint.pt",
    }


def arch_args(ws: dict[str, Path], threshold: float = -1000.0) -> list[str]:
    return ["--arch", "vgg_tiny", "--weights", str(ws["weights"]), "--threshold", str(threshold)]


def npz_equal(a: Path, b: Path) -> bool:
    with np.load(a) as x, np.load(b) as y:
        return x.files == y.files and all(np.array_equal(x[k], y[k]) for k in x.files)


# -- help -----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["explain", "evaluate", "bench"])
def test_help_states_every_option_and_its_default(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli([command, "--help"], capsys)
    assert code == 0
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    parser = subparsers.choices[command]
    options = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    assert options
    for action in options:
        assert action.option_strings[0] in out
        assert action.help and "default" in action.help, action.option_strings


# -- explain on a folder --------------------------------------------------------------------


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
        assert png.shape == (SIZE, 3 * SIZE + 8, 3)
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["totals"] | {"seconds_per_image": None} == {
        "images": 4,
        "done": 4,
        "skipped": 0,
        "failed": 0,
        "seconds_per_image": None,
        "leftovers_removed": 0,
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
    assert not list(out.rglob(".*"))  # no temporary file left


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
    from captum_iterative.fundus.train import load_classifier

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
    from captum_iterative.fundus.train import load_default_classifier

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


# -- existing outputs, resume, overwrite ----------------------------------------------------


def test_existing_outputs_are_never_replaced_without_a_flag(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["explain", workspace["images"], *arch_args(workspace), *FAST, "--out", out]
    assert run_cli(args, capsys)[0] == 0
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, "already holds 9 output file(s)", "--resume", "--overwrite")
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before


def test_resume_after_a_killed_run(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A killed run leaves missing outputs and stray temporary files; --resume completes it."""
    out, ref = tmp_path / "out", tmp_path / "ref"
    base = ["explain", workspace["images"], *arch_args(workspace), *FAST]
    assert run_cli([*base, "--out", ref], capsys)[0] == 0
    assert run_cli([*base, "--out", out], capsys)[0] == 0
    folder = out / "guided_backprop"
    (folder / "img1.npz").unlink()  # killed before the maps were saved
    (folder / "img2.png").unlink()  # killed between the maps and the overlay
    (folder / "img3.npz").unlink()
    (folder / "img3.png").unlink()
    (folder / ".img3.k2j3h.tmp.npz").write_bytes(b"half a file")
    (out / ".manifest.x1.tmp.json").write_bytes(b"{")
    kept = {p: p.stat().st_mtime_ns for p in folder.iterdir()}

    code, stdout, err = run_cli([*base, "--out", out, "--resume"], capsys)
    assert code == 0, err
    assert "3 done, 1 skipped, 0 failed" in stdout
    assert sorted(p.name for p in out.rglob(".*")) == []
    # The overlay of recomputed maps is redrawn (img1.png), so it always shows its .npz.
    for path, mtime in kept.items():
        if path.exists() and not path.name.startswith(".") and path.name != "img1.png":
            assert path.stat().st_mtime_ns == mtime, f"{path.name} was rewritten"
    assert (folder / "img1.png").stat().st_mtime_ns != kept[folder / "img1.png"]
    for k in range(4):
        assert npz_equal(folder / f"img{k}.npz", ref / "guided_backprop" / f"img{k}.npz")
        assert (folder / f"img{k}.png").read_bytes() == (
            ref / "guided_backprop" / f"img{k}.png"
        ).read_bytes()
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["totals"]["leftovers_removed"] == 2
    assert manifest["settings"]["resume"] is True


def test_overwrite_replaces_outputs(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    base = ["explain", workspace["images"] / "img0.png", *arch_args(workspace), *FAST]
    assert run_cli([*base, "--out", out], capsys)[0] == 0
    target = out / "guided_backprop" / "img0.npz"
    target.write_bytes(b"stale")
    code, stdout, err = run_cli([*base, "--out", out, "--overwrite"], capsys)
    assert code == 0, err
    assert "1 done" in stdout
    assert load_explanation(target).image_id == "img0"


def test_batch_size_changes_floats_at_rounding_level_only(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each image is explained independently of its batch; only float rounding may differ."""
    base = ["explain", workspace["images"], *arch_args(workspace, -5.0), *FAST]
    assert run_cli([*base, "--out", tmp_path / "one"], capsys)[0] == 0
    assert run_cli([*base, "--out", tmp_path / "three", "--batch-size", "3"], capsys)[0] == 0
    for k in range(4):
        one = load_explanation(tmp_path / "one" / "guided_backprop" / f"img{k}.npz")
        three = load_explanation(tmp_path / "three" / "guided_backprop" / f"img{k}.npz")
        assert (one.iterations, one.stop_reason) == (three.iterations, three.stop_reason)
        scale = float(np.abs(one.augmented).max())
        np.testing.assert_allclose(one.augmented, three.augmented, rtol=1e-5, atol=1e-6 * scale)
        np.testing.assert_allclose(one.initial, three.initial, rtol=1e-5, atol=1e-6 * scale)
        np.testing.assert_allclose(one.scores, three.scores, rtol=1e-5, atol=1e-9)


def test_deterministic_flag_keeps_cpu_results_and_restores_torch(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["explain", workspace["images"] / "img3.png", *arch_args(workspace), *FAST]
    assert run_cli([*base, "--out", tmp_path / "plain"], capsys)[0] == 0
    assert run_cli([*base, "--out", tmp_path / "det", "--deterministic"], capsys)[0] == 0
    assert not torch.are_deterministic_algorithms_enabled()
    assert npz_equal(
        tmp_path / "plain/guided_backprop/img3.npz", tmp_path / "det/guided_backprop/img3.npz"
    )
    manifest = json.loads((tmp_path / "det" / MANIFEST).read_text())
    assert manifest["settings"]["deterministic"] is True


def test_a_failing_image_in_a_batch_fails_alone(
    workspace: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When the loop raises on a batch, its images are retried one by one."""
    original = _explain_run.ExplainRun.explain

    def explain_or_fail(self: Any, method: str, items: Any, loaded: Any) -> Any:
        if any(item.id == "img1" for item in items):
            raise RuntimeError("simulated failure on img1")
        return original(self, method, items, loaded)

    monkeypatch.setattr(_explain_run.ExplainRun, "explain", explain_or_fail)
    out = tmp_path / "out"
    code, stdout, err = run_cli(
        [
            "explain",
            workspace["images"],
            *arch_args(workspace),
            *FAST,
            "--out",
            out,
            "--batch-size",
            "2",
        ],
        capsys,
    )
    assert code == 1
    assert "3 done, 0 skipped, 1 failed" in stdout
    (failure,) = json.loads((out / MANIFEST).read_text())["failures"]
    assert failure["image_id"] == "img1" and failure["stage"] == "explain"
    assert failure["error"] == "RuntimeError: simulated failure on img1"
    assert "captum-iterative: warning: img1 (guided_backprop): RuntimeError" in err
    assert sorted(p.stem for p in (out / "guided_backprop").glob("*.npz")) == [
        "img0",
        "img2",
        "img3",
    ]


# -- bad images: recorded per image, the others complete ------------------------------------


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
    assert not list(out.rglob(".*"))
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


# -- usage errors: one line, exit status 2 --------------------------------------------------


def test_empty_folder(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    code, _, err = run_cli(
        ["explain", tmp_path / "empty", *arch_args(workspace), *FAST, "--out", tmp_path / "o"],
        capsys,
    )
    assert_one_line_error(code, err, "no image file in folder", "empty")
    assert not (tmp_path / "o").exists()


def test_output_folder_not_writable(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the output folder should go")
    code, _, err = run_cli(
        ["explain", workspace["images"], *arch_args(workspace), *FAST, "--out", blocker / "out"],
        capsys,
    )
    assert_one_line_error(code, err, "is not writable")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    code, _, err = run_cli(
        ["explain", workspace["images"], *arch_args(workspace), *FAST, "--out", locked],
        capsys,
    )
    assert_one_line_error(code, err, "is not writable")


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--arch", "vgg16_paper"], "holds a 'vgg_tiny' model, not the requested 'vgg16_paper'"),
        (["--weights", "w.pt"], "not both"),
    ],
)
def test_checkpoint_of_another_architecture(
    workspace: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    fragment: str,
) -> None:
    code, _, err = run_cli(
        [
            *("explain", workspace["images"], "--checkpoint", workspace["checkpoint"]),
            *extra,
            *FAST,
            *("--out", tmp_path / "o"),
        ],
        capsys,
    )
    assert_one_line_error(code, err, fragment)


def test_weights_of_another_architecture(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        [
            *("explain", workspace["images"], "--arch", "vgg_tiny"),
            *("--weights", workspace["resnet"], "--threshold", "0"),
            *FAST,
            *("--out", tmp_path / "o"),
        ],
        capsys,
    )
    assert_one_line_error(code, err, "do not fit --arch vgg_tiny", "missing key")


@pytest.mark.parametrize("content", [b"", b"garbage bytes, not a checkpoint", b"PK\x03\x04xx"])
def test_unreadable_checkpoint(
    workspace: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes,
) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(content)
    code, _, err = run_cli(
        ["explain", workspace["images"], "--checkpoint", bad, *FAST, "--out", tmp_path / "o"],
        capsys,
    )
    assert_one_line_error(code, err, "cannot use checkpoint", "bad.pt")


def test_foreign_state_dict_as_checkpoint(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        [
            *("explain", workspace["images"], "--checkpoint", workspace["weights"]),
            *FAST,
            *("--out", tmp_path / "o"),
        ],
        capsys,
    )
    assert_one_line_error(code, err, "not a captum_iterative classifier checkpoint")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--max-iter", "0"], "argument --max-iter: expected a positive integer"),
        (["--alpha", "-1"], "argument --alpha: expected a positive number"),
        (["--threshold", "nan"], "argument --threshold: expected a finite number"),
        (["--methods", "saliency,lime"], "unknown method(s) lime"),
        (["--inpainter", "magic"], "invalid choice: 'magic'"),
        (["--resume", "--overwrite"], "not allowed with argument"),
        (["--dataset-option", "split"], "expected KEY=VALUE"),
        (["--device", "tpu"], "--device: unknown device 'tpu'"),
    ],
)
def test_bad_options(
    workspace: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    fragment: str,
) -> None:
    code, _, err = run_cli(
        ["explain", workspace["images"], *arch_args(workspace), "--out", tmp_path / "o", *args],
        capsys,
    )
    assert_one_line_error(code, err, fragment)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ([], "nothing to explain"),
        (["missing.png"], "input not found: missing.png"),
        (["notes.txt"], "unsupported image format '.txt'"),
        (["--dataset", "nosuch", "--root", "."], "unknown dataset 'nosuch'"),
        (["--dataset", "diaretdb1", "--root", "nowhere"], "--dataset diaretdb1"),
        (["x.png", "--arch", "vgg_tiny", "--threshold", "0"], "--arch needs --weights"),
        (["x.png", "--weights", "w.pt"], "--weights needs --arch"),
        (["x.png", "--dataset", "folder"], "image files/folders or --dataset, not both"),
    ],
)
def test_bad_inputs(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    fragment: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("text")
    code, _, err = run_cli(["explain", *args, "--out", tmp_path / "o", "--no-progress"], capsys)
    assert_one_line_error(code, err, fragment)


def test_dataset_root_from_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DIARETDB1_ROOT", raising=False)
    code, _, err = run_cli(["explain", "--dataset", "diaretdb1", "--out", tmp_path], capsys)
    assert_one_line_error(
        code,
        err,
        "--dataset diaretdb1 needs --root PATH or the DIARETDB1_ROOT environment variable",
    )
    monkeypatch.setenv("DIARETDB1_ROOT", str(tmp_path / "elsewhere"))
    code, _, err = run_cli(["explain", "--dataset", "diaretdb1", "--out", tmp_path], capsys)
    assert_one_line_error(code, err, str(tmp_path / "elsewhere"))


# -- evaluate -------------------------------------------------------------------------------


def _lesion_folder_dataset(tmp_path: Path) -> list[object]:
    """Three fundus images with one hard exudate each, as ``--dataset folder`` options."""
    images = tmp_path / "images"
    write_fundus_images(images, 3)
    masks = tmp_path / "masks"
    masks.mkdir()
    for k in range(3):
        mask = np.zeros((90, 110), np.uint8)
        cv2.circle(mask, (40 + 10 * k, 45), 4, 255, -1)
        Image.fromarray(mask).save(masks / f"img{k}.png")
    data: list[object] = ["--dataset", "folder", "--root", images]
    return [*data, "--dataset-option", f'masks={{"hard_exudates": "{masks}"}}']


def _explain_lesion_folder(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[list[object], Path]:
    """``explain`` the lesion folder into ``<report>/cache``; returns its options and report."""
    data = _lesion_folder_dataset(tmp_path)
    report = tmp_path / "report"
    code, _, err = run_cli(
        ["explain", *data, *arch_args(workspace), *FAST, "--out", report / "cache"], capsys
    )
    assert code == 0, err
    return data, report


def test_evaluate_scores_the_maps_of_explain(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """explain --dataset into <report>/cache, then evaluate reuses those maps unchanged."""
    data, report = _explain_lesion_folder(workspace, tmp_path, capsys)
    cached = {p: p.stat().st_mtime_ns for p in (report / "cache").rglob("*.npz")}
    code, stdout, err = run_cli(
        ["evaluate", *data, *arch_args(workspace), *FAST, "--out", report], capsys
    )
    assert code == 0, err
    assert "hard exudates" in stdout and "GBP" in stdout
    assert {p: p.stat().st_mtime_ns for p in (report / "cache").rglob("*.npz")} == cached
    for name in ("table.md", "table.csv", "settings.json", "froc_hard_exudates.png"):
        assert (report / name).is_file(), name
    settings = json.loads((report / "settings.json").read_text())
    assert settings["referable"] == 3 and settings["dataset"] == "folder"


@pytest.mark.parametrize("change", [["--threshold", "-999"], ["--size", str(SIZE + 8)]])
def test_evaluate_recomputes_maps_of_another_threshold_or_input(
    workspace: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: list[str],
) -> None:
    """Maps that explain made for another threshold or input size are not scored as they are."""
    data, report = _explain_lesion_folder(workspace, tmp_path, capsys)
    cached = {p: load_explanation(p).meta for p in (report / "cache").rglob("*.npz")}
    code, _, err = run_cli(
        ["evaluate", *data, *arch_args(workspace), *FAST, *change, "--out", report], capsys
    )
    assert code == 0, err
    for path, meta in cached.items():
        now = load_explanation(path).meta
        assert now["cache_key"] == meta["cache_key"]
        assert (now["model_key"], now["input_key"]) != (meta["model_key"], meta["input_key"])


def test_evaluate_needs_a_dataset(
    workspace: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["evaluate", *arch_args(workspace), "--out", tmp_path], capsys)
    assert_one_line_error(code, err, "evaluate needs --dataset")


# -- bench ----------------------------------------------------------------------------------


def test_bench_runs_scripts_with_passed_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scripts = tmp_path / "benchmarks"
    scripts.mkdir()
    (scripts / "bench_loop.py").write_text(
        textwrap.dedent(
            """
            import json, sys
            print(json.dumps({"argv": sys.argv[1:], "images_per_s": 12.5}))
            """
        )
    )
    (scripts / "bench_inpaint.py").write_text("import sys\nprint('broken')\nsys.exit(3)\n")
    (scripts / "bench_synthetic.py").write_text("print('synthetic')\n")
    results = tmp_path / "results.json"
    code, stdout, err = run_cli(
        ["bench", "--benchmarks", scripts, "--out", results, "--", "--size", "64"], capsys
    )
    assert code == 1, err
    assert '"images_per_s": 12.5' in stdout and "failed: bench_inpaint.py" in stdout
    record = json.loads(results.read_text())
    loop, inpaint, synthetic = record["runs"]
    assert synthetic["stdout"] == "synthetic\n"
    assert json.loads(loop["stdout"]) == {"argv": ["--size", "64"], "images_per_s": 12.5}
    assert (loop["returncode"], inpaint["returncode"]) == (0, 3)
    assert inpaint["stdout"] == "broken\n"
    code, _, _ = run_cli(
        ["bench", "--benchmarks", scripts, "--suite", "loop", "--out", results], capsys
    )
    assert code == 0 and len(json.loads(results.read_text())["runs"]) == 1


def test_bench_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["bench", "--suite", "nope"], capsys)
    assert_one_line_error(code, err, "unknown benchmark(s) nope")
    code, _, err = run_cli(["bench", "--benchmarks", tmp_path], capsys)
    assert_one_line_error(code, err, "benchmark script(s) not found")

"""Tests of classifier training, ROC threshold selection, checkpoints and resume."""

from __future__ import annotations

import hashlib
import json
from fractions import Fraction
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import usage_error_of
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score, roc_auc_score, roc_curve
from torch.utils.data import Dataset, WeightedRandomSampler

from captum_iterative.fundus.models import FundusClassifier
from captum_iterative.fundus.train import (
    InitWeights,
    balanced_sample_weights,
    default_augmentation,
    evaluate_classifier,
    load_classifier,
    load_default_classifier,
    main,
    predict,
    referable_metrics,
    train_classifier,
)
from captum_iterative.fundus.types import FundusSample

SIZE = 64


class DotsDataset(Dataset[FundusSample]):
    """Grey discs with ``3 * grade`` dark dots: a graded toy fundus set."""

    def __init__(self, grades: list[int], seed: int, size: int = SIZE) -> None:
        self.grades = grades
        self.seed = seed
        self.size = size

    def __len__(self) -> int:
        return len(self.grades)

    def __getitem__(self, index: int) -> FundusSample:
        rng = np.random.default_rng([self.seed, index])
        yy, xx = np.mgrid[: self.size, : self.size]
        c = (self.size - 1) / 2
        fov = (yy - c) ** 2 + (xx - c) ** 2 <= (0.45 * self.size) ** 2
        image = np.full((self.size, self.size, 3), 128, np.uint8)
        image[fov] = (200, 120, 80)
        grade = self.grades[index]
        for y, x in rng.integers(self.size // 4, 3 * self.size // 4, size=(3 * grade, 2)):
            image[y - 1 : y + 2, x - 1 : x + 2] = (40, 10, 10)
        return FundusSample(image, grade, {}, fov, f"dots{index:03d}")


TRAIN_GRADES = [0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 3, 4]
VAL_GRADES = [0, 0, 0, 1, 1, 2, 3, 4]


def _train(out: Path, epochs: int, **kwargs: object) -> object:
    options = {
        "epochs": epochs,
        "batch_size": 4,
        "lr": 1e-3,
        "input_size": SIZE,
        "out": out,
        "progress": False,
        "seed": 3,
    }
    options.update(kwargs)
    return train_classifier(
        DotsDataset(TRAIN_GRADES, seed=0),
        DotsDataset(VAL_GRADES, seed=1),
        "vgg_tiny",
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("run") / "model.pt"
    return out, _train(out, epochs=2)


def _val_images() -> torch.Tensor:
    data = DotsDataset(VAL_GRADES, seed=1)
    return torch.stack(
        [torch.from_numpy(data[i].image.transpose(2, 0, 1).copy()) for i in range(len(data))]
    )


def test_checkpoint_restores_the_model(trained: tuple[Path, object]) -> None:
    out, result = trained
    assert result.checkpoint == out and out.is_file()
    assert result.last_checkpoint.is_file()
    assert [int(h["epoch"]) for h in result.history] == [1, 2]
    model, info = load_classifier(out)
    assert not model.training
    assert info.arch == "vgg_tiny" and info.input_size == SIZE and info.epoch == result.best_epoch
    scores = predict(model, _val_images())
    assert scores.shape == (len(VAL_GRADES),)
    restored = referable_metrics(scores, VAL_GRADES)
    for key in ("auc", "th_pred", "sensitivity", "specificity", "kappa"):
        assert restored[key] == info.metrics[key], key
    again, _ = load_classifier(out)
    x = _val_images().float() / 255
    with torch.no_grad():
        assert torch.equal(model(x), again(x))
    assert sorted(p.name for p in out.parent.iterdir()) == ["model.last.pt", "model.pt"]


def test_th_pred_is_roc_point_closest_to_corner(trained: tuple[Path, object]) -> None:
    out, result = trained
    model, info = load_classifier(out)
    scores = predict(model, _val_images())
    labels = np.asarray(VAL_GRADES) >= 2
    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=False)
    distance = np.where(np.isfinite(thresholds), np.hypot(fpr, 1 - tpr), np.inf)
    expected = thresholds[np.argmin(distance)]
    assert info.th_pred == pytest.approx(expected)
    assert result.th_pred == info.th_pred
    assert info.metrics["auc"] == pytest.approx(roc_auc_score(labels, scores))
    best = max(result.history, key=lambda h: h["auc"])
    assert result.metrics["auc"] == best["auc"]


def test_resume_continues_the_epoch_count(tmp_path: Path) -> None:
    straight = _train(tmp_path / "a" / "m.pt", epochs=2)
    _train(tmp_path / "b" / "m.pt", epochs=1)
    resumed = _train(tmp_path / "b" / "m.pt", epochs=2, resume=True)
    assert [int(h["epoch"]) for h in resumed.history] == [1, 2]
    last = torch.load(resumed.last_checkpoint, weights_only=True)
    assert last["epoch"] == 2
    reference = torch.load(straight.last_checkpoint, weights_only=True)
    for key, value in reference["state_dict"].items():
        torch.testing.assert_close(last["state_dict"][key], value, rtol=1e-5, atol=1e-6)
    assert resumed.history[1]["train_loss"] == pytest.approx(
        straight.history[1]["train_loss"], rel=1e-5
    )


def test_resume_errors(tmp_path: Path, trained: tuple[Path, object]) -> None:
    with pytest.raises(FileNotFoundError, match="resume"):
        _train(tmp_path / "none.pt", epochs=1, resume=True)
    out, _ = trained
    with pytest.raises(ValueError, match="vgg_tiny"):
        train_classifier(
            DotsDataset(TRAIN_GRADES, 0),
            DotsDataset(VAL_GRADES, 1),
            "test_resnet",
            epochs=3,
            batch_size=4,
            input_size=SIZE,
            out=out,
            resume=True,
            progress=False,
        )


def test_init_checkpoint_sets_the_starting_weights(
    tmp_path: Path, trained: tuple[Path, object]
) -> None:
    out, _ = trained
    init = InitWeights("checkpoint", out)
    source = torch.load(out, weights_only=True)["state_dict"]
    built = init.build("vgg_tiny", {"num_outputs": 1}).state_dict()
    assert built.keys() == source.keys()
    assert all(torch.equal(built[k], v) for k, v in source.items())
    # With lr = 1e-9 Adam moves each weight by about 1e-9 per step (at most a few times that),
    # and an epoch here is 3 steps: a run started from the checkpoint ends within 1e-7 of it,
    # one started from random weights does not (vgg_tiny has no batch-norm statistics).
    tuned = _train(tmp_path / "a" / "m.pt", epochs=1, lr=1e-9, init=init)
    scratch = _train(tmp_path / "b" / "m.pt", epochs=1, lr=1e-9)
    tuned_state = torch.load(tuned.checkpoint, weights_only=True)["state_dict"]
    scratch_state = torch.load(scratch.checkpoint, weights_only=True)["state_dict"]
    for key, value in source.items():
        torch.testing.assert_close(tuned_state[key], value, rtol=0, atol=1e-7)
    assert not all(torch.allclose(scratch_state[k], v, atol=1e-3) for k, v in source.items())
    record = tuned.init
    assert record is not None
    assert record == {
        "source": "checkpoint",
        "path": str(out),
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "by_order": False,
        "arch": "vgg_tiny",
        "input_size": SIZE,
        "epoch": load_classifier(out)[1].epoch,
    }
    assert load_classifier(tuned.checkpoint)[1].init == record
    assert torch.load(tuned.last_checkpoint, weights_only=True)["init"] == record
    assert scratch.init is None and load_classifier(scratch.checkpoint)[1].init is None


def test_init_errors(tmp_path: Path, trained: tuple[Path, object]) -> None:
    out, _ = trained
    with pytest.raises(FileNotFoundError, match=r"checkpoint `path` not found: .*none\.pt"):
        InitWeights("checkpoint", tmp_path / "none.pt")
    with pytest.raises(ValueError, match="`source`"):
        InitWeights("hub", out)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`by_order`"):
        InitWeights("checkpoint", out, by_order=True)
    init = InitWeights("checkpoint", out)
    with pytest.raises(ValueError, match=r"'vgg_tiny' model, `arch` is 'vgg_small'"):
        init.build("vgg_small", {"num_outputs": 1})
    with pytest.raises(ValueError, match="`create_kwargs`"):
        _train(tmp_path / "m.pt", epochs=1, init=init, create_kwargs={"dropout": 0.2})
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    with pytest.raises(ValueError, match=r"notes\.pt: it is not a torch\.save file"):
        InitWeights("checkpoint", text).describe()


def test_resume_keeps_the_init_record(tmp_path: Path, trained: tuple[Path, object]) -> None:
    out, _ = trained
    init = InitWeights("checkpoint", out)
    first = _train(tmp_path / "m.pt", epochs=1, init=init)
    resumed = _train(tmp_path / "m.pt", epochs=2, init=init, resume=True)
    assert resumed.init == first.init is not None
    again = _train(tmp_path / "m.pt", epochs=3, resume=True)
    assert again.init == first.init
    other = tmp_path / "other.pt"
    ckpt = torch.load(out, weights_only=True)
    ckpt["epoch"] = 99
    torch.save(ckpt, other)
    with pytest.raises(ValueError, match="started from"):
        _train(tmp_path / "m.pt", epochs=4, init=InitWeights("checkpoint", other), resume=True)
    _train(tmp_path / "scratch.pt", epochs=1)
    with pytest.raises(ValueError, match="started from random weights"):
        _train(tmp_path / "scratch.pt", epochs=2, init=init, resume=True)


def test_channels_last_trains_the_same_model(tmp_path: Path) -> None:
    plain = _train(tmp_path / "a" / "m.pt", epochs=1)
    fast = _train(tmp_path / "b" / "m.pt", epochs=1, channels_last=True)
    # The same steps in another memory layout: convolutions sum in another order, so losses
    # agree to float rounding (relative 1e-7 here; another seed: 0.9).
    assert fast.history[0]["train_loss"] == pytest.approx(plain.history[0]["train_loss"], rel=1e-4)
    last = torch.load(fast.last_checkpoint, weights_only=True)
    assert last["train_config"]["channels_last"] is True
    model, _ = load_classifier(fast.checkpoint)
    reference, _ = load_classifier(plain.checkpoint)
    x = _val_images().float() / 255
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=1e-3, atol=1e-3)


def test_load_other_architecture_raises(tmp_path: Path, trained: tuple[Path, object]) -> None:
    out, _ = trained
    with pytest.raises(ValueError, match=r"'vgg_tiny'.*'test_resnet'"):
        load_classifier(out, arch="test_resnet")
    ckpt = torch.load(out, weights_only=True)
    ckpt["arch"] = "test_resnet"
    forged = tmp_path / "forged.pt"
    torch.save(ckpt, forged)
    with pytest.raises(ValueError, match="do not fit"):
        load_classifier(forged)
    torch.save({"state_dict": {}}, tmp_path / "plain.pt")
    with pytest.raises(ValueError, match="not a captum_iterative"):
        load_classifier(tmp_path / "plain.pt")


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="uint8 \\(32, 32, 3\\)"):
        _train(tmp_path / "m.pt", epochs=1, input_size=32)
    with pytest.raises(ValueError, match="val_ds"):
        train_classifier(
            DotsDataset(TRAIN_GRADES, 0),
            DotsDataset([0, 1, 0], 1),
            "vgg_tiny",
            epochs=1,
            batch_size=4,
            input_size=SIZE,
            out=tmp_path / "m.pt",
            progress=False,
        )
    with pytest.raises(ValueError, match="epochs"):
        _train(tmp_path / "m.pt", epochs=0)


def test_transform_is_applied(tmp_path: Path) -> None:
    def shrink(sample: FundusSample) -> FundusSample:
        return sample._replace(image=np.ascontiguousarray(sample.image[::2, ::2]))

    result = train_classifier(
        DotsDataset(TRAIN_GRADES, 0, size=128),
        DotsDataset(VAL_GRADES, 1, size=128),
        "vgg_tiny",
        epochs=1,
        batch_size=4,
        input_size=SIZE,
        out=tmp_path / "m.pt",
        transform=shrink,
        preprocessing={"name": "shrink"},
        progress=False,
    )
    _, info = load_classifier(result.checkpoint)
    assert info.preprocessing == {"name": "shrink"}


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=40))
def test_balanced_weights_are_inverse_class_frequency(grades: list[int]) -> None:
    weights = balanced_sample_weights(grades).numpy()
    counts = {g: grades.count(g) for g in set(grades)}
    np.testing.assert_allclose(weights, [1 / counts[g] for g in grades])
    for g in counts:
        assert weights[np.asarray(grades) == g].sum() == pytest.approx(1.0)


def test_balanced_sampler_draws_grades_equally() -> None:
    grades = [0] * 80 + [1] * 10 + [2] * 5 + [3] * 4 + [4] * 1
    sampler = WeightedRandomSampler(
        balanced_sample_weights(grades), 20_000, generator=torch.Generator().manual_seed(0)
    )
    drawn = np.bincount(np.asarray(grades)[list(sampler)], minlength=5) / 20_000
    np.testing.assert_allclose(drawn, 0.2, atol=0.015)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_augmentation_keeps_shape_and_range(seed: int) -> None:
    torch.manual_seed(seed)
    x = torch.rand(4, 3, 48, 48)
    before = x.clone()
    y = default_augmentation()(x)
    assert y.shape == x.shape and y.dtype == torch.float32
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    assert torch.equal(x, before)
    grey = torch.full((4, 3, 48, 48), 128 / 255)
    out = default_augmentation()(grey)
    flat = out.flatten(1)
    assert torch.allclose(flat, flat[:, :1].expand_as(flat), atol=1e-5)


def test_referable_metrics_known_answer() -> None:
    grades = np.array([0, 0, 1, 1, 2, 3, 4, 4])
    metrics = referable_metrics(grades.astype(float), grades)
    assert metrics == {
        "auc": 1.0,
        "th_pred": 2.0,
        "sensitivity": 1.0,
        "specificity": 1.0,
        "kappa": 1.0,
    }
    with pytest.raises(ValueError, match="one class"):
        referable_metrics([0.1, 0.2], [0, 1])
    with pytest.raises(ValueError, match="entries"):
        referable_metrics([0.1, 0.2], [0, 1, 2])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 4), st.floats(-1, 5)), min_size=2, max_size=30).filter(
        lambda pairs: len({g >= 2 for g, _ in pairs}) == 2
    )
)
@example(
    [(0, 0.0), (0, 0.0), (0, 1.0), (2, 1.0), (2, 2.0), (2, 2.0)]
)  # a tie, (1/3, 0) vs (0, 1/3)
def test_referable_metrics_match_sklearn(pairs: list[tuple[int, float]]) -> None:
    grades = np.array([g for g, _ in pairs])
    scores = np.array([s for _, s in pairs])
    metrics = referable_metrics(scores, grades)
    labels = grades >= 2
    fpr, tpr, thr = roc_curve(labels, scores, drop_intermediate=False)

    def squared_distance(i: int) -> Fraction:  # exact: counts, not rounded rates
        positive = scores >= thr[i]
        fp, fn = int((positive & ~labels).sum()), int((~positive & labels).sum())
        return Fraction(fp, int((~labels).sum())) ** 2 + Fraction(fn, int(labels.sum())) ** 2

    finite = [i for i in range(len(thr)) if np.isfinite(thr[i])]
    closest = min(squared_distance(i) for i in finite)
    best = next(i for i in finite if squared_distance(i) == closest)  # thresholds decrease
    assert metrics["auc"] == pytest.approx(roc_auc_score(labels, scores))
    assert metrics["th_pred"] == thr[best]
    assert metrics["sensitivity"] == pytest.approx(tpr[best])
    assert metrics["specificity"] == pytest.approx(1 - fpr[best])
    stages = np.clip(np.floor(scores + 0.5), 0, 4)
    kappa = cohen_kappa_score(grades, stages, weights="quadratic", labels=range(5))
    assert metrics["kappa"] == pytest.approx(kappa, nan_ok=True)


def test_cli_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--dataset", "--root", "--arch", "--epochs", "--input-size", "--n-train"):
        assert option in text
    for option in ("--n-val", "--out", "--resume", "--device", "--seed", "--batch-size", "--lr"):
        assert option in text
    assert "--workers" in text
    assert "--evaluate-classifier" in text
    assert "--data " not in text and "--evaluate " not in text  # deprecated: hidden


def test_cli_old_option_names_still_work(capsys: pytest.CaptureFixture[str]) -> None:
    from captum_iterative.fundus._train_cli import _parser

    args = _parser().parse_args(["--data", "dr600", "--evaluate", "model.pt"])
    assert (args.dataset, args.evaluate_classifier) == ("dr600", "model.pt")
    err = capsys.readouterr().err
    assert "--data is deprecated, use --dataset" in err
    assert "--evaluate is deprecated, use --evaluate-classifier" in err
    error = usage_error_of(main, ["--data", "diaretdb1"], capsys)
    assert error == (
        "python -m captum_iterative.fundus.train: error: cannot train on --dataset 'diaretdb1'; "
        "use one of ['aptos2019', 'dr600', 'synthetic']"
    )


def test_cli_synthetic_run_and_evaluate(tmp_path: Path) -> None:
    out = tmp_path / "cli.pt"
    common = ["--dataset", "synthetic", "--image-size", "64", "--input-size", "64"]
    sizes = ["--n-train", "10", "--n-val", "24", "--epochs", "1", "--batch-size", "5"]
    files = ["--out", str(out), "--summary", str(tmp_path / "s.json")]
    summary = main([*common, *sizes, "--lr", "1e-3", *files])
    assert out.is_file() and summary["n_train"] == 10 and summary["n_val"] == 24
    assert json.loads((tmp_path / "s.json").read_text())["best_epoch"] == 1
    assert summary["command"].startswith(
        "python -m captum_iterative.fundus.train --dataset synthetic"
    )
    _, info = load_classifier(out)
    assert info.preprocessing["transform"] == "FundusTransform" and info.input_size == 64
    evaluated = main([*common, *sizes, "--evaluate-classifier", str(out)])
    assert evaluated["metrics"]["n_images"] == 24
    assert evaluated["metrics"]["auc"] == pytest.approx(info.metrics["auc"])
    assert evaluated["metrics"]["th_pred"] == info.th_pred


def test_load_default_classifier() -> None:
    model, info = load_default_classifier()
    assert isinstance(model, FundusClassifier) and not model.training
    assert info.arch == "vgg_tiny" and info.input_size == 512 and info.referable_grade == 2
    assert info.metrics["auc"] >= 0.95
    assert info.preprocessing["transform"] == "FundusTransform"
    with torch.no_grad():
        assert model(torch.rand(1, 3, 512, 512)).shape == (1, 1)
    sidecar = json.loads(
        (
            resources.files("captum_iterative") / "checkpoints" / "synthetic_dr_vgg_tiny.json"
        ).read_text()
    )
    assert sidecar["metrics"]["auc"] == pytest.approx(info.metrics["auc"])
    assert sidecar["th_pred"] == pytest.approx(info.th_pred)


def test_evaluate_labels_lesions_at_native_resolution(trained: tuple[Path, object]) -> None:
    out, _ = trained
    model, info = load_classifier(out)
    base = DotsDataset([0] * 6, seed=4, size=2 * SIZE)

    class Lesions(Dataset[FundusSample]):
        def __len__(self) -> int:
            return len(base)

        def __getitem__(self, index: int) -> FundusSample:
            sample = base[index]
            mask = np.zeros(sample.image.shape[:2], bool)
            if index % 2:
                mask[1, 1] = True  # one odd pixel: gone after 2x nearest downsampling
            return sample._replace(grade=None, masks={"microaneurysms": mask})

    def halve(sample: FundusSample) -> FundusSample:
        masks = {k: m[::2, ::2] for k, m in sample.masks.items()}
        return sample._replace(image=np.ascontiguousarray(sample.image[::2, ::2]), masks=masks)

    metrics = evaluate_classifier(model, info, Lesions(), transform=halve, progress=False)
    assert metrics["n_images"] == 6 and metrics["n_positive"] == 3
    images = torch.stack(
        [torch.from_numpy(halve(base[i]).image.transpose(2, 0, 1).copy()) for i in range(6)]
    )
    scores = predict(model, images)
    labels = np.arange(6) % 2 == 1
    assert metrics["auc"] == pytest.approx(roc_auc_score(labels, scores))
    assert metrics["n_predicted_positive"] == int((scores >= info.th_pred).sum())
    assert metrics["sensitivity"] == pytest.approx((scores[labels] >= info.th_pred).mean())


def test_shipped_checkpoints_by_name() -> None:
    from captum_iterative.fundus.train import SHIPPED_CHECKPOINTS, load_shipped_classifier

    _, synthetic = load_shipped_classifier()
    assert synthetic == load_default_classifier()[1]
    _, aptos = load_shipped_classifier("aptos2019")
    assert (aptos.arch, aptos.input_size) == ("vgg_small", 224)
    with pytest.raises(ValueError, match="unknown shipped checkpoint `name` 'nope'"):
        load_shipped_classifier("nope")
    assert set(SHIPPED_CHECKPOINTS) == {"synthetic", "aptos2019", "dr600"}

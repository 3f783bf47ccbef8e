"""Tests of classifier training: the loop over epochs, resume, sampling and augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from _helpers.train import SIZE, TRAIN_GRADES, VAL_GRADES, DotsDataset, train_run, val_images
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import WeightedRandomSampler

from captum_iterative.fundus.checkpoint import load_classifier
from captum_iterative.fundus.init_weights import InitWeights
from captum_iterative.fundus.train import (
    TrainConfig,
    balanced_sample_weights,
    default_data_augmentation,
    train_classifier,
)
from captum_iterative.fundus.types import FundusSample


def test_resume_continues_the_epoch_count(tmp_path: Path) -> None:
    straight = train_run(tmp_path / "a" / "m.pt", epochs=2)
    train_run(tmp_path / "b" / "m.pt", epochs=1)
    resumed = train_run(tmp_path / "b" / "m.pt", epochs=2, resume=True)
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
        train_run(tmp_path / "none.pt", epochs=1, resume=True)
    out, _ = trained
    with pytest.raises(ValueError, match="vgg_tiny"):
        train_classifier(
            DotsDataset(TRAIN_GRADES, 0),
            DotsDataset(VAL_GRADES, 1),
            TrainConfig(
                arch="test_resnet",
                epochs=3,
                batch_size=4,
                input_size=SIZE,
                out=out,
                resume=True,
                progress=False,
            ),
        )


def test_resume_keeps_the_init_record(tmp_path: Path, trained: tuple[Path, object]) -> None:
    out, _ = trained
    init = InitWeights("checkpoint", out)
    first = train_run(tmp_path / "m.pt", epochs=1, init=init)
    resumed = train_run(tmp_path / "m.pt", epochs=2, init=init, resume=True)
    assert resumed.init == first.init is not None
    again = train_run(tmp_path / "m.pt", epochs=3, resume=True)
    assert again.init == first.init
    other = tmp_path / "other.pt"
    ckpt = torch.load(out, weights_only=True)
    ckpt["epoch"] = 99
    torch.save(ckpt, other)
    with pytest.raises(ValueError, match="started from"):
        train_run(tmp_path / "m.pt", epochs=4, init=InitWeights("checkpoint", other), resume=True)
    train_run(tmp_path / "scratch.pt", epochs=1)
    with pytest.raises(ValueError, match="started from random weights"):
        train_run(tmp_path / "scratch.pt", epochs=2, init=init, resume=True)


def test_channels_last_trains_the_same_model(tmp_path: Path) -> None:
    plain = train_run(tmp_path / "a" / "m.pt", epochs=1)
    fast = train_run(tmp_path / "b" / "m.pt", epochs=1, channels_last=True)
    # The same steps in another memory layout: convolutions sum in another order, so losses
    # agree to float rounding (relative 1e-7 here; another seed: 0.9).
    assert fast.history[0]["train_loss"] == pytest.approx(plain.history[0]["train_loss"], rel=1e-4)
    last = torch.load(fast.last_checkpoint, weights_only=True)
    assert last["train_config"]["channels_last"] is True
    model, _ = load_classifier(fast.checkpoint)
    reference, _ = load_classifier(plain.checkpoint)
    x = val_images().float() / 255
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=1e-3, atol=1e-3)


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="uint8 \\(32, 32, 3\\)"):
        train_run(tmp_path / "m.pt", epochs=1, input_size=32)
    with pytest.raises(ValueError, match="val_ds"):
        train_classifier(
            DotsDataset(TRAIN_GRADES, 0),
            DotsDataset([0, 1, 0], 1),
            TrainConfig(
                arch="vgg_tiny",
                epochs=1,
                batch_size=4,
                input_size=SIZE,
                out=tmp_path / "m.pt",
                progress=False,
            ),
        )
    with pytest.raises(ValueError, match="epochs"):
        train_run(tmp_path / "m.pt", epochs=0)


def test_the_config_checks_its_numbers_and_names_its_files(tmp_path: Path) -> None:
    config = TrainConfig(arch="vgg_tiny", epochs=2, batch_size=4, out=tmp_path / "run" / "m.pt")
    assert config.out_path == tmp_path / "run" / "m.pt"
    assert config.last_path == tmp_path / "run" / "m.last.pt"
    assert config.model_kwargs() == {"num_outputs": 1}
    assert list(config.checkpoint_record()) == [
        "lr",
        "batch_size",
        "seed",
        "epochs",
        "channels_last",
        "loss",
    ]
    for bad in ({"epochs": 0}, {"batch_size": 1.5}, {"input_size": -1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            TrainConfig(**{"arch": "vgg_tiny", "epochs": 1, "batch_size": 4, **bad})
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(arch="vgg_tiny", epochs=1, batch_size=4, lr=0.0)
    with pytest.raises(TypeError):
        TrainConfig("vgg_tiny", 1, 4)  # type: ignore[misc]


def test_transform_is_applied(tmp_path: Path) -> None:
    def shrink(sample: FundusSample) -> FundusSample:
        return sample._replace(image=np.ascontiguousarray(sample.image[::2, ::2]))

    config = TrainConfig(
        arch="vgg_tiny",
        epochs=1,
        batch_size=4,
        input_size=SIZE,
        out=tmp_path / "m.pt",
        transform=shrink,
        preprocessing={"name": "shrink"},
        progress=False,
    )
    result = train_classifier(
        DotsDataset(TRAIN_GRADES, 0, size=128), DotsDataset(VAL_GRADES, 1, size=128), config
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
    y = default_data_augmentation()(x)
    assert y.shape == x.shape and y.dtype == torch.float32
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    assert torch.equal(x, before)
    grey = torch.full((4, 3, 48, 48), 128 / 255)
    out = default_data_augmentation()(grey)
    flat = out.flatten(1)
    assert torch.allclose(flat, flat[:, :1].expand_as(flat), atol=1e-5)

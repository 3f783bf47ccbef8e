"""The training command line on dr600: patient-grouped split, initialisation options, joint
training and the JSON summary, on the tiny replica of conftest.write_dr600 at 64 px."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import pytest
import timm
import torch
from _helpers.core import usage_error_of
from torch import nn

from captum_iterative.fundus._train_cli import main
from captum_iterative.fundus.checkpoint import load_classifier
from captum_iterative.fundus.datasets import DR600, grouped_split
from captum_iterative.fundus.models import create_classifier

DR600Factory = Callable[..., dict[str, np.ndarray]]
APTOS_CHECKPOINT = Path(
    str(resources.files("captum_iterative") / "checkpoints" / "aptos_vgg_small.pt")
)


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory, make_dr600: DR600Factory) -> Path:
    root = tmp_path_factory.mktemp("dr600")
    make_dr600(root)
    return root


@pytest.fixture(scope="module")
def lite0_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A seeded timm efficientnet_lite0 state dict saved under other names (t0, t1, ...)."""
    torch.manual_seed(0)
    state = timm.create_model("efficientnet_lite0").state_dict()
    path = tmp_path_factory.mktemp("weights") / "lite0.pth"
    torch.save({f"t{i}": value for i, value in enumerate(state.values())}, path)
    return path, state


def _argv(root: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--dataset",
        "dr600",
        "--root",
        str(root),
        "--input-size",
        "64",
        "--batch-size",
        "4",
        "--val-fraction",
        "0.3",
        "--seed",
        "1",
        "--out",
        str(out),
        *extra,
    ]


def _relu_count(model: nn.Module) -> int:
    return sum(isinstance(m, nn.ReLU) for m in model.modules())


def test_fine_tune_from_the_aptos_checkpoint(tmp_path: Path, replica: Path) -> None:
    out, path = tmp_path / "ft.pt", tmp_path / "ft.json"
    extra = ["--epochs", "2", "--lr", "1e-3", "--summary", str(path)]
    summary = main(_argv(replica, out, *extra, "--init-checkpoint", str(APTOS_CHECKPOINT)))
    assert json.loads(path.read_text()) == json.loads(json.dumps(summary))
    assert summary["arch"] == "vgg_small" and summary["data"] == "dr600"
    assert summary["input_size"] == 64 and summary["preprocessing"]["size"] == 64

    data = DR600(replica)
    train, val = grouped_split(data, val_fraction=0.3, seed=1)
    assert summary["split"] == {
        "by": "patient",
        "val_fraction": 0.3,
        "seed": 1,
        "n_train": len(train),
        "n_val": len(val),
        "patients_train": len({data.patients[i] for i in train}),
        "patients_val": len({data.patients[i] for i in val}),
        "aded": "drop",
        "drop_conflicts": True,
    }
    assert (summary["n_train"], summary["n_val"]) == (len(train), len(val))
    assert summary["extra_train"] is None

    init = summary["init"]
    assert init["source"] == "checkpoint" and init["path"] == str(APTOS_CHECKPOINT)
    assert init["sha256"] == hashlib.sha256(APTOS_CHECKPOINT.read_bytes()).hexdigest()
    assert (init["arch"], init["input_size"], init["by_order"]) == ("vgg_small", 224, False)
    vgg_small_relus = _relu_count(create_classifier("vgg_small"))
    assert init["activation"] == {"act_layer": None, "modules": {"ReLU": vgg_small_relus}}

    assert len(summary["history"]) == 2 and summary["best_epoch"] in (1, 2)
    best = summary["history"][summary["best_epoch"] - 1]
    for key in ("auc", "sensitivity", "specificity", "kappa", "th_pred"):
        assert summary["metrics"][key] == best[key], key
    assert summary["th_pred"] == summary["metrics"]["th_pred"]
    assert summary["train_config"] == {
        "epochs": 2,
        "batch_size": 4,
        "lr": 1e-3,
        "data_augmentation": True,
        "balance": True,
        "seed": 1,
        "channels_last": False,
        "loss": "mse",
    }
    assert summary["command"].startswith(
        "python -m captum_iterative.fundus.train --dataset dr600 --root "
    )
    assert "--init-checkpoint" in summary["command"]
    assert summary["seconds"] <= summary["wall_seconds"] + 0.1
    assert summary["machine"]["cpu_cores"] >= 1

    _, info = load_classifier(out)
    assert info.arch == "vgg_small" and info.input_size == 64
    assert info.init == {k: v for k, v in init.items() if k != "activation"}
    evaluated = main(_argv(replica, out, "--evaluate-classifier", str(out)))
    assert evaluated["split"] == summary["split"]
    assert evaluated["metrics"]["n_images"] == len(val)
    assert evaluated["metrics"]["auc"] == pytest.approx(info.metrics["auc"])
    assert evaluated["metrics"]["th_pred"] == info.th_pred


def test_imagenet_weights_by_order_with_relu(
    tmp_path: Path, replica: Path, lite0_file: tuple[Path, dict[str, torch.Tensor]]
) -> None:
    weights, source = lite0_file
    out = tmp_path / "lite0.pt"
    arch = ["--arch", "efficientnet_lite0", "--act", "relu", "--epochs", "1", "--lr", "1e-6"]
    arch.append("--channels-last")
    init = ["--imagenet-weights", str(weights), "--weights-by-order"]
    summary = main(_argv(replica, out, *arch, *init))
    assert summary["init"] == {
        "source": "imagenet",
        "path": str(weights),
        "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "by_order": True,
        "activation": {"act_layer": "relu", "modules": {"ReLU": 33}},
    }
    assert summary["train_config"]["channels_last"] is True
    model, info = load_classifier(out)
    assert info.create_kwargs == {"num_outputs": 1, "act_layer": "relu"}
    assert _relu_count(model) == 33
    assert not any(isinstance(m, nn.ReLU6) for m in model.modules())
    # The weights started from the file: at lr = 1e-6, the 3 Adam steps of one epoch move each
    # parameter by a few 1e-6 (batch-norm running statistics, buffers, do move: not compared).
    params = dict(model.backbone.named_parameters())
    compared = [k for k in params if not k.startswith("classifier.")]
    assert len(compared) > 100
    for key in compared:
        torch.testing.assert_close(params[key].detach(), source[key], rtol=0, atol=1e-4)


def _aptos(root: Path, make_fundus: Callable[..., np.ndarray]) -> Path:
    (root / "train_images").mkdir(parents=True)
    rows = ["id_code,diagnosis"]
    for index, grade in enumerate((0, 2, 4, 1)):
        image = make_fundus(48, 48, radius=22, seed=100 + index)
        cv2.imwrite(str(root / "train_images" / f"ap{index}.png"), image[..., ::-1])
        rows.append(f"ap{index},{grade}")
    (root / "train.csv").write_text("\n".join(rows) + "\n")
    return root


def test_extra_training_set_leaves_validation_alone(
    tmp_path: Path,
    replica: Path,
    make_fundus: Callable[..., np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    aptos = _aptos(tmp_path / "aptos", make_fundus)
    base = main(_argv(replica, tmp_path / "base.pt", "--epochs", "1"))
    extra = ["--extra-train", "aptos2019", "--extra-root", str(aptos)]
    joint = main(_argv(replica, tmp_path / "joint.pt", "--epochs", "1", *extra))
    assert joint["extra_train"] == {"data": "aptos2019", "n": 4}
    assert joint["n_train"] == base["n_train"] + 4
    assert joint["n_val"] == base["n_val"] and joint["split"] == base["split"]
    monkeypatch.setenv("APTOS_ROOT", str(aptos))
    from_env = main(
        _argv(replica, tmp_path / "env.pt", "--epochs", "1", "--extra-train", "aptos2019")
    )
    assert from_env["extra_train"] == joint["extra_train"]
    monkeypatch.delenv("APTOS_ROOT")
    error = usage_error_of(
        main, _argv(replica, tmp_path / "x.pt", "--extra-train", "aptos2019"), capsys
    )
    assert "--extra-train aptos2019 needs --extra-root PATH or the APTOS_ROOT" in error


def test_aded_option_and_root_from_the_environment(
    tmp_path: Path,
    replica: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DR600_ROOT", str(replica))
    argv = _argv(replica, tmp_path / "m.pt", "--epochs", "1", "--aded", "referable")
    argv.remove("--root")
    argv.remove(str(replica))
    summary = main(argv)
    data = DR600(replica, aded="referable")
    train, val = grouped_split(data, val_fraction=0.3, seed=1)
    assert summary["split"]["aded"] == "referable"
    assert (summary["n_train"], summary["n_val"]) == (len(train), len(val))
    monkeypatch.delenv("DR600_ROOT")
    error = usage_error_of(main, argv, capsys)
    assert error.startswith("python -m captum_iterative.fundus.train: error: ")
    assert "--dataset dr600 needs --root PATH or the DR600_ROOT environment variable" in error


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (
            ["--arch", "vgg_tiny", "--init-checkpoint", "{aptos}"],
            r"--arch vgg_tiny disagrees with --init-checkpoint .*'vgg_small'",
        ),
        (["--act", "relu", "--init-checkpoint", "{aptos}"], "--act relu disagrees"),
        (["--init-checkpoint", "{tmp}/none.pt"], r"--init-checkpoint: .*not found"),
        (
            ["--init-checkpoint", "{tmp}/notes.txt"],
            "--init-checkpoint: .*notes.txt: it is not a torch.save file",
        ),
        (["--weights-by-order"], "--weights-by-order needs --imagenet-weights"),
        (
            ["--arch", "efficientnet_lite0", "--imagenet-weights", "{tmp}/none.pth"],
            "--imagenet-weights: .*not found",
        ),
        (
            ["--arch", "vgg_tiny", "--imagenet-weights", "{lite0}", "--weights-by-order"],
            "--arch / --imagenet-weights: 'vgg_tiny' has no pretrained weights",
        ),
        (
            ["--arch", "test_resnet", "--imagenet-weights", "{lite0}", "--weights-by-order"],
            "--arch / --imagenet-weights: loading by order needs as many tensors",
        ),
        (
            ["--arch", "efficientnet_lite0", "--imagenet-weights", "{lite0}"],
            "--arch / --imagenet-weights: no tensor name .*weights_by_order",
        ),
        (["--arch", "vgg_tiny", "--act", "nonesuch"], "--arch / --act: unknown `act_layer`"),
        (["--aded", "referable", "--dataset", "synthetic"], "--aded applies to dr600"),
        (["--extra-train", "dr600"], "--extra-train dr600 is the --dataset itself"),
        (["--extra-root", "{tmp}"], "--extra-root needs --extra-train"),
        (
            ["--extra-train", "aptos2019", "--evaluate-classifier", "{aptos}"],
            "--extra-train applies to",
        ),
        (["--dataset", "diaretdb1"], "cannot train on --dataset 'diaretdb1'"),
    ],
)
def test_bad_options_name_the_argument(
    tmp_path: Path,
    replica: Path,
    lite0_file: tuple[Path, dict[str, torch.Tensor]],
    options: list[str],
    match: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    fill = {"aptos": str(APTOS_CHECKPOINT), "tmp": str(tmp_path), "lite0": str(lite0_file[0])}
    argv = _argv(replica, tmp_path / "m.pt", "--epochs", "1")
    argv += [option.format(**fill) for option in options]
    error = usage_error_of(main, argv, capsys)
    assert re.search(match, error), error
    assert not (tmp_path / "m.pt").exists()


def test_one_initialisation_at_a_time(
    tmp_path: Path, replica: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _argv(replica, tmp_path / "m.pt", "--init-checkpoint", "a.pt")
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--imagenet-weights", "b.pth"])
    assert exit_info.value.code == 2
    assert "--imagenet-weights: not allowed with argument --init-checkpoint" in (
        capsys.readouterr().err
    )

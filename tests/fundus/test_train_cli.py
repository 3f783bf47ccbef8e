"""The training command line (``fundus._train_cli``): options, usage errors, a synthetic run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _helpers.core import usage_error_of

from captum_iterative.fundus._train_cli import main
from captum_iterative.fundus.checkpoint import load_classifier


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


def test_cli_refuses_to_train_on_an_evaluation_only_dataset(
    capsys: pytest.CaptureFixture[str],
) -> None:
    error = usage_error_of(main, ["--dataset", "diaretdb1"], capsys)
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

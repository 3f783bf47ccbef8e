"""The loader registry (``fundus.datasets.base``), on tiny replicas of the layouts."""

from __future__ import annotations

from pathlib import Path

import pytest
from _helpers.dataset_replicas import FundusFactory, write_diaretdb1, write_folder

from captum_iterative.fundus.datasets import (
    DiaretDB1,
    FundusDataset,
    ImageMaskFolder,
    dataset_root,
    list_datasets,
    open_dataset,
    root_variable,
)


def test_open_dataset_registry(tmp_path: Path, make_fundus: FundusFactory) -> None:
    assert {"aptos2019", "diaretdb1", "dr600", "e-ophtha", "eyepacs", "folder", "idrid"} <= set(
        list_datasets()
    )
    root = write_diaretdb1(tmp_path / "ddb1", make_fundus)
    data = open_dataset("DiaretDB1", root, split="train")
    assert isinstance(data, DiaretDB1) and isinstance(data, FundusDataset) and len(data) == 1
    folder = open_dataset("folder", write_folder(tmp_path / "f", make_fundus) / "images")
    assert isinstance(folder, ImageMaskFolder)
    with pytest.raises(ValueError, match="unknown dataset 'messidor'"):
        open_dataset("messidor", root)


def test_dataset_root_from_the_argument_or_the_registered_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert dataset_root("diaretdb1", tmp_path) == tmp_path
    assert [root_variable(name) for name in ("DiaretDB1", "aptos", "dr-image-dataset")] == [
        "DIARETDB1_ROOT",
        "APTOS_ROOT",
        "DR600_ROOT",
    ]
    assert root_variable("kaggle-dr") == "KAGGLE_DR_ROOT"  # no variable registered: <NAME>_ROOT
    monkeypatch.setenv("APTOS_ROOT", str(tmp_path / "aptos"))
    assert dataset_root("aptos2019") == tmp_path / "aptos"
    monkeypatch.delenv("APTOS_ROOT")
    monkeypatch.delenv("DR600_ROOT", raising=False)
    with pytest.raises(
        ValueError, match=r"^--dataset aptos2019 needs --root PATH or the APTOS_ROOT"
    ):
        dataset_root("aptos2019")
    with pytest.raises(
        ValueError, match=r"^--extra-train dr600 needs --extra-root PATH or the DR6"
    ):
        dataset_root("dr600", what="--extra-train dr600", option="--extra-root")

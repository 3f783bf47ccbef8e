"""The loader registry (``fundus.datasets.base``), on tiny replicas of the layouts."""

from __future__ import annotations

from pathlib import Path

import pytest
from _helpers.dataset_replicas import FundusFactory, write_diaretdb1, write_folder

from captum_iterative.fundus.datasets import (
    DiaretDB1,
    FundusDataset,
    ImageMaskFolder,
    base,
    dataset_root,
    get_dataset,
    list_datasets,
    register_dataset,
    root_variable,
)


def test_get_dataset_registry(tmp_path: Path, make_fundus: FundusFactory) -> None:
    assert {"aptos2019", "diaretdb1", "dr600", "e-ophtha", "eyepacs", "folder", "idrid"} <= set(
        list_datasets()
    )
    assert list_datasets() == sorted(list_datasets())
    root = write_diaretdb1(tmp_path / "ddb1", make_fundus)
    data = get_dataset("DiaretDB1", root, split="train")
    assert isinstance(data, DiaretDB1) and isinstance(data, FundusDataset) and len(data) == 1
    folder = get_dataset("folder", write_folder(tmp_path / "f", make_fundus) / "images")
    assert isinstance(folder, ImageMaskFolder)
    with pytest.raises(
        ValueError, match=r"`dataset` must be one of \['aptos', 'aptos2019', .*\], got 'messidor'"
    ):
        get_dataset("messidor", root)


def test_register_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base._DATASETS, "_entries", dict(base._DATASETS._entries))
    monkeypatch.setattr(base, "_ROOT_ENV", dict(base._ROOT_ENV))

    @register_dataset("Messidor", "messidor-2", root_env="MESSIDOR_DIR")
    class Messidor(FundusDataset):
        def __init__(self, root: Path, transform: object = None) -> None:
            super().__init__()
            self.root = root

    assert {"messidor", "messidor-2"} <= set(list_datasets())
    assert list_datasets() == sorted(list_datasets())
    opened = get_dataset("MESSIDOR-2", tmp_path)
    assert isinstance(opened, Messidor) and opened.root == tmp_path
    assert root_variable("messidor") == "MESSIDOR_DIR"
    assert register_dataset("messidor")(Messidor) is Messidor  # the same class again: no change
    with pytest.raises(ValueError, match="dataset name 'DiaretDB1' is already registered"):
        register_dataset("DiaretDB1")(Messidor)


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

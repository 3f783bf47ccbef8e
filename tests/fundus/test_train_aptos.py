"""The APTOS 2019 split of the training command line: conflicting duplicates out, groups kept."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
from torch.utils.data import Subset

from captum_iterative._argparse import UsageError
from captum_iterative.fundus._train_data import _aptos_split

#: (id, grade, duplicate_group, duplicate_label_conflict) of a small copy with duplicates.
ROWS = [
    ("a0", 0, "", 0),
    ("a1", 1, "", 0),
    ("a2", 2, "g1", 0),
    ("a3", 2, "g1", 0),
    ("a4", 3, "g2", 1),
    ("a5", 1, "g2", 1),
    ("a6", 4, "", 0),
    ("a7", 0, "g3", 0),
    ("a8", 0, "g3", 0),
    ("a9", 2, "", 0),
    ("b0", 3, "", 0),
    ("b1", 4, "g4", 1),
    ("b2", 2, "g4", 1),
    ("b3", 0, "", 0),
]


def _write_copy(root: Path, with_duplicate_columns: bool) -> None:
    (root / "images").mkdir(parents=True)
    image = np.zeros((16, 16, 3), np.uint8)
    image[4:12, 4:12] = 120
    fields = ["id_code", "image", "diagnosis"]
    if with_duplicate_columns:
        fields += ["duplicate_group", "duplicate_label_conflict"]
    with (root / "train.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(fields)
        for image_id, grade, group, conflict in ROWS:
            cv2.imwrite(str(root / "images" / f"{image_id}.png"), image)
            row = [image_id, f"images/{image_id}.png", grade]
            writer.writerow([*row, group, conflict] if with_duplicate_columns else row)


def _ids(subset: Subset) -> list[str]:
    return [subset.dataset.ids[i] for i in subset.indices]


def _args(root: Path, seed: int) -> argparse.Namespace:
    return argparse.Namespace(root=str(root), val_fraction=0.3, seed=seed, n_train=None, n_val=None)


@pytest.mark.parametrize("seed", range(6))
def test_conflicting_duplicates_dropped_and_groups_kept_together(tmp_path: Path, seed: int) -> None:
    _write_copy(tmp_path, with_duplicate_columns=True)
    data = _aptos_split(_args(tmp_path, seed))
    train, val = data.train, data.val
    train_ids, val_ids = _ids(train), _ids(val)
    assert data.split["by"] == "duplicate_group" and data.split["drop_conflicts"] is True
    assert (data.split["n_train"], data.split["n_val"]) == (len(train_ids), len(val_ids))
    kept = [r[0] for r in ROWS if r[3] == 0]
    assert sorted(train_ids + val_ids) == sorted(kept)
    assert not set(train_ids) & set(val_ids)
    assert train_ids and val_ids
    for group in {r[2] for r in ROWS if r[2] and r[3] == 0}:
        members = {r[0] for r in ROWS if r[2] == group}
        assert members <= set(train_ids) or members <= set(val_ids)


def test_copy_without_duplicate_columns_keeps_every_row(tmp_path: Path) -> None:
    _write_copy(tmp_path, with_duplicate_columns=False)
    data = _aptos_split(_args(tmp_path, 0))
    train, val = data.train, data.val
    assert sorted(_ids(train) + _ids(val)) == sorted(r[0] for r in ROWS)
    assert data.split["drop_conflicts"] is False


def test_split_needs_a_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APTOS_ROOT", raising=False)
    with pytest.raises(UsageError, match="--dataset aptos2019 needs --root PATH or the APTOS_ROOT"):
        _aptos_split(argparse.Namespace(root=None, val_fraction=0.2, seed=0))

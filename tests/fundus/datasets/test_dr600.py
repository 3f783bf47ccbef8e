"""DR600 (``fundus.datasets.dr600``), on tiny replicas of the layout.

The real copy is used when its environment variable is set (``realdata`` marker).
"""

from __future__ import annotations

import collections
import csv
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from _helpers.dataset_replicas import check_sample
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from captum_iterative.fundus.datasets import (
    DR600,
    get_dataset,
    grouped_split,
)
from captum_iterative.fundus.preprocess import fov_mask

DR600Factory = Callable[..., dict[str, np.ndarray]]


DR600_ORDINARY = [
    name
    for p in range(1, 11)
    for name in (f"Patient{p:03d}_L", "Patient003-R" if p == 3 else f"Patient{p:03d}_R")
]


@pytest.fixture(scope="module")
def dr600_replica(tmp_path_factory: pytest.TempPathFactory, make_dr600: DR600Factory) -> DR600:
    root = tmp_path_factory.mktemp("dr600")
    make_dr600(root)
    return DR600(root)


DR600_REAL = {
    ("drop", True): (589, {0: 276, 1: 99, 2: 166, 3: 32, 4: 16}, 295),
    ("referable", True): (596, {0: 276, 1: 99, 2: 166, 3: 32, 4: 23}, 298),
    ("drop", False): (593, {0: 276, 1: 99, 2: 168, 3: 34, 4: 16}, 297),
    ("referable", False): (600, {0: 276, 1: 99, 2: 168, 3: 34, 4: 23}, 300),
}


def test_dr600_drops_aded_and_conflicts_by_default(
    tmp_path: Path, make_dr600: DR600Factory
) -> None:
    drawn = make_dr600(tmp_path)
    data = DR600(tmp_path)
    assert data.ids == [*DR600_ORDINARY, "Patient011_R"]
    assert data.grades == [g for p in range(1, 11) for g in (p % 2, 2 + p % 3)] + [2]
    assert data.patients == [f"{p:03d}" for p in range(1, 12) for _ in range(2)][:-1]
    assert data.groups == data.patients
    assert data.eyes == ["L", "R"] * 10 + ["R"]
    assert data.maculopathy == [g >= 2 for g in data.grades]
    assert not any(data.aded)
    sample = data[5]
    check_sample(sample, (48, 48))
    assert sample.id == "Patient003-R" and sample.grade == 2 + 3 % 3
    # PIL's decoder gives the same pixels here; JPEG decoders of other builds may round the
    # inverse DCT differently, by a grey level or two. Another file, or BGR order, differs by
    # far more (the drawing's red is 185, its blue 45).
    pil = np.asarray(Image.open(tmp_path / "images" / "Patient003-R.jpg"))
    assert np.abs(sample.image.astype(int) - pil).max() <= 2
    assert np.abs(sample.image.astype(int) - drawn["Patient003-R"]).mean() < 6
    np.testing.assert_array_equal(sample.fov, fov_mask(sample.image))


def test_dr600_aded_and_conflict_options(tmp_path: Path, make_dr600: DR600Factory) -> None:
    make_dr600(tmp_path)
    referable = DR600(tmp_path, aded="referable")
    aded = [i for i, flag in enumerate(referable.aded) if flag]
    assert [referable.ids[i] for i in aded] == ["Patient011_L", "Patient012_L", "Patient012_R"]
    assert {referable.grades[i] for i in aded} == {DR600.ADED_GRADE} == {4}
    assert {referable.maculopathy[i] for i in aded} == {None}
    assert len(referable) == 24
    kept = DR600(tmp_path, drop_conflicts=False)
    assert kept.ids[-4:] == ["Patient013_L", "Patient013_R", "Patient014_L", "Patient014_R"]
    assert kept.grades[-4:] == [2, 2, 3, 3] and len(kept) == 25
    np.testing.assert_array_equal(kept[21].image, kept[23].image)
    assert len(DR600(tmp_path, aded="referable", drop_conflicts=False)) == 28
    assert isinstance(get_dataset("dr-image-dataset", tmp_path), DR600)
    assert len(get_dataset("DR600", tmp_path, aded="referable")) == 24
    with pytest.raises(ValueError, match="aded"):
        DR600(tmp_path, aded="grade4")  # type: ignore[arg-type]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), val_fraction=st.floats(0.01, 0.9))
def test_dr600_split_keeps_both_eyes_of_a_patient_together(
    dr600_replica: DR600, seed: int, val_fraction: float
) -> None:
    data = dr600_replica
    train, val = grouped_split(data, val_fraction=val_fraction, seed=seed)
    assert sorted([*train.tolist(), *val.tolist()]) == list(range(len(data)))
    train_patients = {data.patients[i] for i in train}
    val_patients = {data.patients[i] for i in val}
    assert train_patients and val_patients and not train_patients & val_patients
    # scikit-learn's GroupShuffleSplit sends ceil(fraction * patients) patients to validation.
    assert len(val_patients) == int(np.ceil(val_fraction * 11))


@pytest.mark.parametrize(
    ("edit", "error", "match"),
    [
        (
            lambda t: t.replace("duplicate_label_conflict", "conflict"),
            ValueError,
            "duplicate_label_conflict",
        ),
        (
            lambda t: t.replace(
                "images/Patient001_L.jpg,001,L,1", "images/Patient001_L.jpg,001,L,x"
            ),
            ValueError,
            r"grade 'x' of 'Patient001_L'.*labels\.csv",
        ),
        (
            lambda t: t.replace(
                "images/Patient001_L.jpg,001,L,1", "images/Patient001_L.jpg,001,L,7"
            ),
            ValueError,
            r"grade 7 of 'Patient001_L'",
        ),
        (
            lambda t: t.replace(
                "images/Patient001_L.jpg,001,L,1,0,0", "images/Patient001_L.jpg,001,L,1,0,1"
            ),
            ValueError,
            r"'Patient001_L'.*grade 1 with aded 1",
        ),
        (
            lambda t: t.replace(
                "images/Patient001_L.jpg,001,L,1,0,0", "images/Patient001_L.jpg,001,L,1,0,yes"
            ),
            ValueError,
            r"aded 'yes' of 'Patient001_L'",
        ),
        (
            lambda t: t.replace(
                "images/Patient001_L.jpg,001,L", "images/Patient001_L.jpg,001,left"
            ),
            ValueError,
            r"eye 'left' of 'Patient001_L'",
        ),
        (
            lambda t: t.replace("Patient002_L.jpg", "Patient001_L.jpg"),
            ValueError,
            r"Patient001_L\.jpg.*twice",
        ),
        (
            lambda t: t.replace("Patient002_R.jpg", "Patient099_R.jpg"),
            FileNotFoundError,
            r"image file not found: .*Patient099_R\.jpg",
        ),
        (lambda t: t.splitlines()[0] + "\n", ValueError, r"labels\.csv has no row"),
    ],
)
def test_dr600_bad_labels_name_the_file(
    tmp_path: Path,
    make_dr600: DR600Factory,
    edit: Callable[[str], str],
    error: type[Exception],
    match: str,
) -> None:
    make_dr600(tmp_path)
    labels = tmp_path / "labels.csv"
    text = labels.read_text()
    edited = edit(text)
    assert edited != text
    labels.write_text(edited)
    with pytest.raises(error, match=match):
        DR600(tmp_path)


def test_dr600_missing_labels_and_nothing_left(tmp_path: Path, make_dr600: DR600Factory) -> None:
    with pytest.raises(FileNotFoundError, match=r"labels\.csv"):
        DR600(tmp_path)
    make_dr600(tmp_path)
    labels = tmp_path / "labels.csv"
    lines = labels.read_text().splitlines()
    labels.write_text("\n".join([lines[0], *(line for line in lines if "ADED" in line)]) + "\n")
    with pytest.raises(ValueError, match=r"no image.*aded='drop'"):
        DR600(tmp_path)
    assert len(DR600(tmp_path, aded="referable")) == 3


@pytest.mark.realdata
@pytest.mark.skipif(not os.environ.get("DR600_ROOT"), reason="DR600_ROOT is not set")
def test_real_dr600_counts() -> None:
    root = os.environ["DR600_ROOT"]
    rows = list(csv.DictReader((Path(root) / "labels.csv").open(newline="")))
    assert len(rows) == 600 and len({row["patient"] for row in rows}) == 300
    assert sum(row["aded"] == "1" for row in rows) == 7
    conflicts = sorted(row["image"] for row in rows if row["duplicate_label_conflict"] == "1")
    assert conflicts == [f"images/Patient{p}_{e}.jpg" for p in ("299", "300") for e in "LR"]
    everything = DR600(root, aded="referable", drop_conflicts=False)
    graded = [g for g, flag in zip(everything.grades, everything.aded, strict=True) if not flag]
    assert (sum(g >= 2 for g in graded), sum(g < 2 for g in graded)) == (218, 375)
    for (aded, drop), (count, grades, patients) in DR600_REAL.items():
        data = DR600(root, aded=aded, drop_conflicts=drop)  # type: ignore[arg-type]
        assert (len(data), dict(collections.Counter(data.grades)), len(set(data.patients))) == (
            count,
            grades,
            patients,
        ), (aded, drop)
    data = DR600(root)
    assert sum(g >= 2 for g in data.grades) == 214 and sum(g < 2 for g in data.grades) == 375
    assert "Patient254-R" in data.ids
    train, val = grouped_split(data, val_fraction=0.2, seed=0)
    assert not {data.patients[i] for i in train} & {data.patients[i] for i in val}
    assert len({data.patients[i] for i in val}) == 59
    sample = data[0]
    check_sample(sample, (640, 640))
    assert sample.id == "Patient001_L" and sample.grade == 0

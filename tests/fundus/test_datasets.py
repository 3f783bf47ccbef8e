"""Tests for captum_iterative.fundus.datasets on tiny replicas of each dataset's layout.

The real copies are used when DIARETDB1_ROOT / APTOS_ROOT / DR600_ROOT are set (``realdata``
marker).
"""

from __future__ import annotations

import collections
import csv
import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from captum_iterative.fundus.datasets import (
    APTOS2019,
    DR600,
    DiaretDB1,
    EOphtha,
    EyePACS,
    FundusDataset,
    IDRiD,
    ImageMaskFolder,
    grouped_split,
    list_datasets,
    open_dataset,
)
from captum_iterative.fundus.preprocess import FundusTransform, fov_mask
from captum_iterative.fundus.types import DR_LESIONS, FundusSample

FundusFactory = Callable[..., np.ndarray]
DR600Factory = Callable[..., dict[str, np.ndarray]]
HEIGHT, WIDTH = 40, 48


def _write_rgb(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path


def _write_gray(path: Path, gray: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(gray.astype(np.uint8)).save(path)
    return path


def _write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())
    return path


def _fundus(make_fundus: FundusFactory, seed: int = 0) -> np.ndarray:
    return make_fundus(HEIGHT, WIDTH, radius=17, seed=seed)


def _check_sample(sample: FundusSample, shape: tuple[int, int] = (HEIGHT, WIDTH)) -> None:
    assert isinstance(sample, FundusSample)
    assert sample.image.shape == (*shape, 3) and sample.image.dtype == np.uint8
    assert sample.fov.shape == shape and sample.fov.dtype == np.bool_
    for mask in sample.masks.values():
        assert mask.shape == shape and mask.dtype == np.bool_


# ---------------------------------------------------------------- reading files


# ---------------------------------------------------------------- DiaretDB1


def _diaretdb1(root: Path, make_fundus: FundusFactory) -> Path:
    images = root / "resources" / "images"
    levels = {"image001": 189, "image002": 168, "image003": 252}
    for index, (image_id, level) in enumerate(levels.items()):
        _write_rgb(images / "ddb1_fundusimages" / f"{image_id}.png", _fundus(make_fundus, index))
        for folder in ("hardexudates", "softexudates", "hemorrhages", "redsmalldots"):
            truth = np.zeros((HEIGHT, WIDTH), np.uint8)
            if folder == "hemorrhages":
                truth[10:14, 10:14] = level
                truth[20:22, 30:32] = 21
            _write_gray(images / "ddb1_groundtruth" / folder / f"{image_id}.png", truth)
    fov = np.zeros((HEIGHT, WIDTH), bool)
    fov[2:-2, 3:-3] = True
    (images / "ddb1_fundusmask").mkdir(parents=True)
    Image.fromarray(fov).save(images / "ddb1_fundusmask" / "fmask.tif")
    _write_text(root / "resources" / "traindatasets" / "trainset.txt", "image001.png\r\n\r\n")
    _write_text(root / "resources" / "testdatasets" / "testset.txt", "image002.png\nimage003.png\n")
    return root


def test_diaretdb1_splits_and_samples(tmp_path: Path, make_fundus: FundusFactory) -> None:
    root = _diaretdb1(tmp_path, make_fundus)
    assert DiaretDB1(root).ids == ["image001", "image002", "image003"]
    assert DiaretDB1(root, split="train").ids == ["image001"]
    assert DiaretDB1(root / "resources", split="test").ids == ["image002", "image003"]
    data = DiaretDB1(root)
    sample = data[0]
    _check_sample(sample)
    assert sample.grade is None and data.grades == [None, None, None]
    assert list(sample.masks) == list(DR_LESIONS) == list(data.lesions)
    assert sample.fov.sum() == (HEIGHT - 4) * (WIDTH - 6)
    expected_image = np.asarray(Image.open(data.images_dir / "image001.png"))
    np.testing.assert_array_equal(sample.image, expected_image)


def test_diaretdb1_reference_standard_levels(tmp_path: Path, make_fundus: FundusFactory) -> None:
    root = _diaretdb1(tmp_path, make_fundus)
    data = DiaretDB1(root)
    assert data.min_level == 189
    lesion_pixels = [int(data[i].masks["hemorrhages"].sum()) for i in range(3)]
    assert lesion_pixels == [16, 0, 16]  # 189 kept, 168 dropped, 252 kept, 21 dropped
    assert [data.any_lesion(i) for i in range(3)] == [True, False, True]
    assert [
        int(DiaretDB1(root, reference=1.0).reference_masks(i)["hemorrhages"].sum())
        for i in range(3)
    ] == [0, 0, 16]
    assert DiaretDB1(root, reference=1 / 12).min_level == 21
    assert DiaretDB1(root, reference=0.5).min_level == 126


def test_diaretdb1_transform_is_applied(tmp_path: Path, make_fundus: FundusFactory) -> None:
    data = DiaretDB1(_diaretdb1(tmp_path, make_fundus), transform=FundusTransform(size=32))
    sample = data[2]
    _check_sample(sample, (32, 32))
    assert sample.masks["hemorrhages"].any()


def test_diaretdb1_missing_and_broken_files(tmp_path: Path, make_fundus: FundusFactory) -> None:
    root = _diaretdb1(tmp_path, make_fundus)
    truth = root / "resources/images/ddb1_groundtruth/redsmalldots/image002.png"
    truth.unlink()
    with pytest.raises(FileNotFoundError, match=r"redsmalldots/image002\.png"):
        DiaretDB1(root)
    assert len(DiaretDB1(root, split="train")) == 1
    _write_text(root / "resources/images/ddb1_fundusimages/image001.png", "garbage")
    with pytest.raises(ValueError, match=r"image001\.png"):
        DiaretDB1(root, split="train")[0]
    with pytest.raises(ValueError, match="split"):
        DiaretDB1(root, split="val")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reference"):
        DiaretDB1(root, reference=0)
    with pytest.raises(FileNotFoundError, match="ddb1_fundusimages"):
        DiaretDB1(tmp_path / "elsewhere")


def test_diaretdb1_fov_size_mismatch(tmp_path: Path, make_fundus: FundusFactory) -> None:
    root = _diaretdb1(tmp_path, make_fundus)
    Image.fromarray(np.ones((5, 5), bool)).save(root / "resources/images/ddb1_fundusmask/fmask.tif")
    with pytest.raises(ValueError, match=r"fmask\.tif"):
        DiaretDB1(root)[0]


# Counted on the real copy (docs/data.md): 8-connected components at the 75 % standard.
DIARETDB1_LESIONS_AT_75 = {
    "hemorrhages": 396,
    "microaneurysms": 182,
    "hard_exudates": 133,
    "soft_exudates": 27,
}
DIARETDB1_IMAGES_WITH_LESION = {
    "hemorrhages": 39,
    "microaneurysms": 39,
    "hard_exudates": 38,
    "soft_exudates": 15,
}


@pytest.mark.realdata
@pytest.mark.skipif(not os.environ.get("DIARETDB1_ROOT"), reason="DIARETDB1_ROOT is not set")
def test_real_diaretdb1_counts() -> None:
    root = os.environ["DIARETDB1_ROOT"]
    data = DiaretDB1(root)
    assert len(data) == 89
    assert (len(DiaretDB1(root, split="train")), len(DiaretDB1(root, split="test"))) == (28, 61)
    components: collections.Counter[str] = collections.Counter()
    images: collections.Counter[str] = collections.Counter()
    level_189_seen = False
    for index in range(len(data)):
        masks = data.reference_masks(index)
        for name, mask in masks.items():
            components[name] += (
                cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)[0] - 1
            )
            images[name] += bool(mask.any())
        if not level_189_seen:
            gray = np.asarray(Image.open(data.truth_dir / "hemorrhages" / f"{data.ids[index]}.png"))
            if (gray == 189).any():
                assert masks["hemorrhages"][gray == 189].all()
                level_189_seen = True
    assert level_189_seen
    assert dict(components) == DIARETDB1_LESIONS_AT_75
    assert dict(images) == DIARETDB1_IMAGES_WITH_LESION
    sample = data[0]
    _check_sample(sample, (1152, 1500))
    assert sample.id == "image001"
    assert (sample.fov == data.fov()).all()


# ---------------------------------------------------------------- IDRiD


def _idrid(root: Path, make_fundus: FundusFactory) -> Path:
    seg = root / "A. Segmentation"
    for index, name in enumerate(("IDRiD_01", "IDRiD_02")):
        _write_rgb(
            seg / "1. Original Images/a. Training Set" / f"{name}.jpg", _fundus(make_fundus, index)
        )
    truth = seg / "2. All Segmentation Groundtruths/a. Training Set"
    red = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    red[5:9, 20:30, 0] = 255
    _write_rgb(truth / "1. Microaneurysms/IDRiD_01_MA.tif", red)
    _write_rgb(truth / "2. Haemorrhages/IDRiD_02_HE.tif", red)
    _write_rgb(truth / "5. Optic Disc/IDRiD_01_OD.tif", red)
    (truth / "3. Hard Exudates").mkdir()
    grading = root / "B. Disease Grading"
    for index, name in enumerate(("IDRiD_001", "IDRiD_002", "IDRiD_003")):
        _write_rgb(
            grading / "1. Original Images/b. Testing Set" / f"{name}.jpg",
            _fundus(make_fundus, index),
        )
    _write_text(
        grading / "2. Groundtruths/b. IDRiD_Disease Grading_Testing Labels.csv",
        "Image name,Retinopathy grade,Risk of macular edema ,,\n"
        "IDRiD_001,4,2,,\nIDRiD_002,0,0,,\nIDRiD_003,2,1,,\n,,,,\n",
    )
    return root


def test_idrid_segmentation(tmp_path: Path, make_fundus: FundusFactory) -> None:
    data = IDRiD(_idrid(tmp_path, make_fundus))
    assert data.ids == ["IDRiD_01", "IDRiD_02"] and data.grades == [None, None]
    assert data.lesions == ("microaneurysms", "hemorrhages", "hard_exudates", "soft_exudates")
    first, second = data[0], data[1]
    _check_sample(first)
    assert first.masks["microaneurysms"].sum() == 40
    assert not first.masks["hemorrhages"].any()  # missing file: empty mask
    assert second.masks["hemorrhages"].sum() == 40
    assert "optic_disc" not in first.masks
    with_disc = IDRiD(tmp_path, optic_disc=True)[0]
    assert with_disc.masks["optic_disc"].sum() == 40


def test_idrid_grading_csv_with_trailing_space(tmp_path: Path, make_fundus: FundusFactory) -> None:
    data = IDRiD(_idrid(tmp_path, make_fundus), part="grading", split="test")
    assert data.ids == ["IDRiD_001", "IDRiD_002", "IDRiD_003"]
    assert data.grades == [4, 0, 2] and data.edema == [2, 0, 1]
    sample = data[2]
    _check_sample(sample)
    assert sample.grade == 2 and sample.masks == {}
    with pytest.raises(FileNotFoundError, match="Training"):
        IDRiD(tmp_path, part="grading", split="train")
    with pytest.raises(ValueError, match="part"):
        IDRiD(tmp_path, part="both")  # type: ignore[arg-type]


# ---------------------------------------------------------------- EyePACS


def _eyepacs(root: Path, make_fundus: FundusFactory) -> Path:
    for index, name in enumerate(("10_left", "10_right")):
        _write_rgb(root / "train" / f"{name}.jpeg", _fundus(make_fundus, index))
    for index, name in enumerate(("1_left", "1_right", "2_left")):
        _write_rgb(root / "test" / f"{name}.jpeg", _fundus(make_fundus, index))
    _write_text(root / "trainLabels.csv", "image,level\n10_left,0\n10_right,3\n")
    _write_text(
        root / "retinopathy_solution.csv",
        "image,level,Usage\n1_left,0,Private\n1_right,2,Public\n2_left,4,Private\n",
    )
    return root


def test_eyepacs_train_and_test(tmp_path: Path, make_fundus: FundusFactory) -> None:
    root = _eyepacs(tmp_path, make_fundus)
    train = EyePACS(root)
    assert train.ids == ["10_left", "10_right"] and train.grades == [0, 3]
    _check_sample(train[1])
    assert train[1].grade == 3
    assert EyePACS(root, split="test").grades == [0, 2, 4]
    private = EyePACS(root, split="test", usage="Private")
    assert private.ids == ["1_left", "2_left"]
    (root / "test" / "2_left.jpeg").unlink()
    with pytest.raises(FileNotFoundError, match=r"2_left\.jpeg"):
        EyePACS(root, split="test")
    with pytest.raises(ValueError, match="usage"):
        EyePACS(root, usage="Public")


# ---------------------------------------------------------------- APTOS 2019


def _aptos_copy(root: Path, make_fundus: FundusFactory) -> Path:
    ids = ["a1", "b2", "c3", "d4", "e5", "f6"]
    for index, image_id in enumerate(ids):
        _write_rgb(root / "images" / f"{image_id}.jpg", _fundus(make_fundus, index))
    _write_text(
        root / "train.csv",
        "id_code,image,diagnosis,duplicate_group,duplicate_label_conflict\r\n"
        "a1,images/a1.jpg,2,,0\r\nb2,images/b2.jpg,1,dup001,1\r\nc3,images/c3.jpg,3,dup001,1\r\n"
        "d4,images/d4.jpg,0,dup002,0\r\ne5,images/e5.jpg,0,dup002,0\r\nf6,images/f6.jpg,4,,0\r\n",
    )
    return root


def test_aptos_copy_layout(tmp_path: Path, make_fundus: FundusFactory) -> None:
    root = _aptos_copy(tmp_path, make_fundus)
    data = APTOS2019(root)
    assert data.ids == ["a1", "b2", "c3", "d4", "e5", "f6"]
    assert data.grades == [2, 1, 3, 0, 0, 4]
    assert data.groups == ["a1", "dup001", "dup001", "dup002", "dup002", "f6"]
    _check_sample(data[5])
    assert data[5].grade == 4 and data[5].id == "f6"
    kept = APTOS2019(root, drop_conflicts=True)
    assert kept.ids == ["a1", "d4", "e5", "f6"] and kept.grades == [2, 0, 0, 4]
    assert kept.groups == ["a1", "dup002", "dup002", "f6"]


def test_aptos_official_layout(tmp_path: Path, make_fundus: FundusFactory) -> None:
    for index, image_id in enumerate(("000c1434d8d7", "001639a390f0")):
        _write_rgb(tmp_path / "train_images" / f"{image_id}.png", _fundus(make_fundus, index))
        _write_rgb(tmp_path / "test_images" / f"{image_id}.png", _fundus(make_fundus, index))
    _write_text(tmp_path / "train.csv", "id_code,diagnosis\n000c1434d8d7,2\n001639a390f0,4\n")
    _write_text(tmp_path / "test.csv", "id_code\n000c1434d8d7\n001639a390f0\n")
    data = APTOS2019(tmp_path)
    assert data.grades == [2, 4] and data.groups == data.ids
    np.testing.assert_array_equal(
        data[0].image, np.asarray(Image.open(tmp_path / "train_images/000c1434d8d7.png"))
    )
    assert APTOS2019(tmp_path, csv_name="test.csv").grades == [None, None]
    with pytest.raises(ValueError, match="duplicate_label_conflict"):
        APTOS2019(tmp_path, drop_conflicts=True)
    (tmp_path / "train_images" / "001639a390f0.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"001639a390f0\.png"):
        APTOS2019(tmp_path)


@pytest.mark.parametrize("seed", range(5))
def test_grouped_split_keeps_groups_together(seed: int) -> None:
    groups = [f"g{i // 3}" if i < 30 else f"own{i}" for i in range(100)]
    train, val = grouped_split(list(range(100)), groups, val_fraction=0.25, seed=seed)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(100))
    assert not {groups[i] for i in train} & {groups[i] for i in val}
    assert 10 <= len(val) <= 35


def test_grouped_split_reads_dataset_groups(tmp_path: Path, make_fundus: FundusFactory) -> None:
    data = APTOS2019(_aptos_copy(tmp_path, make_fundus))
    train, val = grouped_split(data, val_fraction=0.5, seed=3)
    assert not {data.groups[i] for i in train} & {data.groups[i] for i in val}
    with pytest.raises(ValueError, match="groups"):
        grouped_split([1, 2, 3])
    with pytest.raises(ValueError, match="groups"):
        grouped_split([1, 2, 3], groups=[1, 2])
    with pytest.raises(ValueError, match="val_fraction"):
        grouped_split([1, 2, 3], groups=[1, 2, 3], val_fraction=1.0)


@pytest.mark.realdata
@pytest.mark.skipif(not os.environ.get("APTOS_ROOT"), reason="APTOS_ROOT is not set")
def test_real_aptos_counts() -> None:
    root = os.environ["APTOS_ROOT"]
    data = APTOS2019(root)
    assert len(data) == 3662
    assert collections.Counter(data.grades) == {0: 1805, 1: 370, 2: 999, 3: 193, 4: 295}
    kept = APTOS2019(root, drop_conflicts=True)
    assert len(kept) == 3600
    assert collections.Counter(kept.grades) == {0: 1801, 1: 360, 2: 976, 3: 180, 4: 283}
    train, val = grouped_split(kept)
    assert len(train) + len(val) == 3600
    assert not {kept.groups[i] for i in train} & {kept.groups[i] for i in val}
    _check_sample(kept[0], (224, 224))


# ---------------------------------------------------------------- DR-image-dataset (dr600)

#: Ids of the replica's images (conftest.DR600_ROWS) that every option keeps.
DR600_ORDINARY = [
    name
    for p in range(1, 11)
    for name in (f"Patient{p:03d}_L", "Patient003-R" if p == 3 else f"Patient{p:03d}_R")
]


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
    _check_sample(sample, (48, 48))
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
    assert isinstance(open_dataset("dr-image-dataset", tmp_path), DR600)
    assert len(open_dataset("DR600", tmp_path, aded="referable")) == 24
    with pytest.raises(ValueError, match="aded"):
        DR600(tmp_path, aded="grade4")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def dr600_replica(tmp_path_factory: pytest.TempPathFactory, make_dr600: DR600Factory) -> DR600:
    root = tmp_path_factory.mktemp("dr600")
    make_dr600(root)
    return DR600(root)


# The replica keeps 11 patients: a fraction above 10/11 would leave none for training.
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


#: What the real copy's labels.csv gives under each option: (images, grade counts, patients).
DR600_REAL = {
    ("drop", True): (589, {0: 276, 1: 99, 2: 166, 3: 32, 4: 16}, 295),
    ("referable", True): (596, {0: 276, 1: 99, 2: 166, 3: 32, 4: 23}, 298),
    ("drop", False): (593, {0: 276, 1: 99, 2: 168, 3: 34, 4: 16}, 297),
    ("referable", False): (600, {0: 276, 1: 99, 2: 168, 3: 34, 4: 23}, 300),
}


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
    _check_sample(sample, (640, 640))
    assert sample.id == "Patient001_L" and sample.grade == 0


# ---------------------------------------------------------------- e-ophtha


@pytest.mark.parametrize(("folder", "kind"), [("e_optha_MA", "MA"), ("e_ophtha_EX", "EX")])
def test_eophtha_layouts(
    tmp_path: Path, make_fundus: FundusFactory, folder: str, kind: str
) -> None:
    base = tmp_path / folder
    _write_rgb(base / kind / "C0001" / "DS000A.jpg", _fundus(make_fundus, 0))
    _write_rgb(base / kind / "C0002" / "DS000B.JPG", _fundus(make_fundus, 1))
    _write_rgb(base / "healthy" / "C0003" / "DS000C.jpg", _fundus(make_fundus, 2))
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[3:6, 4:8] = 255
    _write_gray(base / f"Annotation_{kind}" / "C0001" / f"DS000A_{kind}.png", mask)
    _write_gray(base / f"Annotation_{kind}" / "C0002" / f"DS000B_{kind}.png", mask * 0)
    for where in (base / kind / "C0001", base / f"Annotation_{kind}" / "C0001"):
        _write_text(where / "Thumbs.db", "windows thumbnails")
    data = EOphtha(tmp_path, kind=kind)  # type: ignore[arg-type]
    lesion = "microaneurysms" if kind == "MA" else "hard_exudates"
    assert data.ids == ["DS000A", "DS000B", "DS000C"] and data.lesions == (lesion,)
    assert [int(data[i].masks[lesion].sum()) for i in range(3)] == [12, 0, 0]
    _check_sample(data[0])
    assert len(EOphtha(base, kind=kind, healthy=False)) == 2  # type: ignore[arg-type]
    (base / f"Annotation_{kind}" / "C0002" / f"DS000B_{kind}.png").unlink()
    with pytest.raises(FileNotFoundError, match="DS000B"):
        EOphtha(tmp_path, kind=kind)  # type: ignore[arg-type]


def test_eophtha_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="e_optha_MA"):
        EOphtha(tmp_path)


# ---------------------------------------------------------------- generic folders


def _folder(root: Path, make_fundus: FundusFactory) -> Path:
    for index, name in enumerate(("a", "b")):
        _write_rgb(root / "images" / f"{name}.png", _fundus(make_fundus, index))
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[1:3, 1:4] = 9
    _write_gray(root / "drusen" / "a_drusen.png", mask)
    _write_gray(root / "atrophy" / "b.png", mask)
    _write_text(root / "grades.csv", "image,grade\nb.png,3\na,1\n")
    return root


def test_image_mask_folder(tmp_path: Path, make_fundus: FundusFactory) -> None:
    root = _folder(tmp_path, make_fundus)
    masks = {"drusen": root / "drusen", "atrophy": root / "atrophy"}
    data = ImageMaskFolder(root / "images", masks, root / "grades.csv")
    assert data.ids == ["a", "b"] and data.grades == [1, 3]
    assert data.lesions == ("drusen", "atrophy")
    first, second = data[0], data[1]
    _check_sample(first)
    assert first.masks["drusen"].sum() == 6 and not first.masks["atrophy"].any()
    assert second.masks["atrophy"].sum() == 6 and not second.masks["drusen"].any()
    assert ImageMaskFolder(root / "images").grades == [None, None]
    with pytest.raises(FileNotFoundError, match="'b'"):
        ImageMaskFolder(root / "images", {"drusen": root / "drusen"}, missing_mask="error")
    _write_gray(root / "drusen" / "a_other.png", np.zeros((HEIGHT, WIDTH)))
    with pytest.raises(ValueError, match="several masks"):
        ImageMaskFolder(root / "images", {"drusen": root / "drusen"})
    _write_text(root / "partial.csv", "image,grade\na,1\n")
    with pytest.raises(ValueError, match="no grade"):
        ImageMaskFolder(root / "images", grades_csv=root / "partial.csv")


def test_mask_size_mismatch_names_the_mask(tmp_path: Path, make_fundus: FundusFactory) -> None:
    root = _folder(tmp_path, make_fundus)
    _write_gray(root / "atrophy" / "b.png", np.zeros((3, 3)))
    data = ImageMaskFolder(root / "images", {"atrophy": root / "atrophy"})
    with pytest.raises(ValueError, match=r"atrophy/b.png"):
        data[1]


def test_image_without_field_of_view_names_the_file(tmp_path: Path) -> None:
    _write_rgb(tmp_path / "images" / "dark.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r"dark.png.*field of view"):
        ImageMaskFolder(tmp_path / "images")[0]


def test_fov_is_detected_for_datasets_without_a_mask(
    tmp_path: Path, make_fundus: FundusFactory
) -> None:
    root = _folder(tmp_path, make_fundus)
    sample = ImageMaskFolder(root / "images")[0]
    np.testing.assert_array_equal(sample.fov, fov_mask(sample.image))


# ---------------------------------------------------------------- registry


def test_open_dataset_registry(tmp_path: Path, make_fundus: FundusFactory) -> None:
    assert {"aptos2019", "diaretdb1", "dr600", "e-ophtha", "eyepacs", "folder", "idrid"} <= set(
        list_datasets()
    )
    root = _diaretdb1(tmp_path / "ddb1", make_fundus)
    data = open_dataset("DiaretDB1", root, split="train")
    assert isinstance(data, DiaretDB1) and isinstance(data, FundusDataset) and len(data) == 1
    folder = open_dataset("folder", _folder(tmp_path / "f", make_fundus) / "images")
    assert isinstance(folder, ImageMaskFolder)
    with pytest.raises(ValueError, match="unknown dataset 'messidor'"):
        open_dataset("messidor", root)

"""Tiny replicas of the fundus dataset layouts, shared by the loader tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from captum_iterative.fundus.types import FundusSample

FundusFactory = Callable[..., np.ndarray]


HEIGHT, WIDTH = 40, 48


def write_rgb(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path


def write_gray(path: Path, gray: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(gray.astype(np.uint8)).save(path)
    return path


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())
    return path


def fundus_image(make_fundus: FundusFactory, seed: int = 0) -> np.ndarray:
    return make_fundus(HEIGHT, WIDTH, radius=17, seed=seed)


def check_sample(sample: FundusSample, shape: tuple[int, int] = (HEIGHT, WIDTH)) -> None:
    assert isinstance(sample, FundusSample)
    assert sample.image.shape == (*shape, 3) and sample.image.dtype == np.uint8
    assert sample.fov.shape == shape and sample.fov.dtype == np.bool_
    for mask in sample.masks.values():
        assert mask.shape == shape and mask.dtype == np.bool_


def write_diaretdb1(root: Path, make_fundus: FundusFactory) -> Path:
    images = root / "resources" / "images"
    levels = {"image001": 189, "image002": 168, "image003": 252}
    for index, (image_id, level) in enumerate(levels.items()):
        write_rgb(
            images / "ddb1_fundusimages" / f"{image_id}.png", fundus_image(make_fundus, index)
        )
        for folder in ("hardexudates", "softexudates", "hemorrhages", "redsmalldots"):
            truth = np.zeros((HEIGHT, WIDTH), np.uint8)
            if folder == "hemorrhages":
                truth[10:14, 10:14] = level
                truth[20:22, 30:32] = 21
            write_gray(images / "ddb1_groundtruth" / folder / f"{image_id}.png", truth)
    fov = np.zeros((HEIGHT, WIDTH), bool)
    fov[2:-2, 3:-3] = True
    (images / "ddb1_fundusmask").mkdir(parents=True)
    Image.fromarray(fov).save(images / "ddb1_fundusmask" / "fmask.tif")
    write_text(root / "resources" / "traindatasets" / "trainset.txt", "image001.png\r\n\r\n")
    write_text(root / "resources" / "testdatasets" / "testset.txt", "image002.png\nimage003.png\n")
    return root


def write_aptos_copy(root: Path, make_fundus: FundusFactory) -> Path:
    ids = ["a1", "b2", "c3", "d4", "e5", "f6"]
    for index, image_id in enumerate(ids):
        write_rgb(root / "images" / f"{image_id}.jpg", fundus_image(make_fundus, index))
    write_text(
        root / "train.csv",
        "id_code,image,diagnosis,duplicate_group,duplicate_label_conflict\r\n"
        "a1,images/a1.jpg,2,,0\r\nb2,images/b2.jpg,1,dup001,1\r\nc3,images/c3.jpg,3,dup001,1\r\n"
        "d4,images/d4.jpg,0,dup002,0\r\ne5,images/e5.jpg,0,dup002,0\r\nf6,images/f6.jpg,4,,0\r\n",
    )
    return root


def write_folder(root: Path, make_fundus: FundusFactory) -> Path:
    for index, name in enumerate(("a", "b")):
        write_rgb(root / "images" / f"{name}.png", fundus_image(make_fundus, index))
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[1:3, 1:4] = 9
    write_gray(root / "drusen" / "a_drusen.png", mask)
    write_gray(root / "atrophy" / "b.png", mask)
    write_text(root / "grades.csv", "image,grade\nb.png,3\na,1\n")
    return root

"""Shared fixtures for the fundus tests: drawn fundus images, a real retina photograph and a
tiny replica of the DR-image-dataset (dr600) layout."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
from _helpers.train import train_run

FundusFactory = Callable[..., np.ndarray]


def draw_fundus(
    height: int = 240,
    width: int = 320,
    *,
    centre: tuple[int, int] | None = None,
    radius: int = 100,
    seed: int = 0,
) -> np.ndarray:
    """A fundus-like ``(height, width, 3)`` ``uint8`` RGB image: an orange disc on black.

    The disc (``cv2.circle`` of ``radius`` around ``centre`` = ``(y, x)``, default the image
    centre) has a darker rim, a few dark red vessels, a bright optic disc and mild noise, so
    the Graham enhancement has structure to work on. Everything outside the disc is 0.
    """
    rng = np.random.default_rng(seed)
    cy, cx = centre if centre is not None else (height // 2, width // 2)
    ys, xs = np.mgrid[:height, :width]
    distance = np.sqrt((ys - cy) ** 2 + (xs - cx) ** 2) / radius
    shade = np.clip(1.0 - 0.35 * distance**2, 0.0, 1.0)[..., None]
    image = (np.array([185.0, 95.0, 45.0]) * shade).astype(np.float32)
    for _ in range(4):
        angle = rng.uniform(0, 2 * np.pi)
        end = (int(cx + radius * np.cos(angle)), int(cy + radius * np.sin(angle)))
        cv2.line(image, (cx, cy), end, (120.0, 40.0, 25.0), thickness=max(1, radius // 40))
    disc_x = cx + radius // 3
    cv2.circle(image, (disc_x, cy), max(2, radius // 7), (240.0, 200.0, 140.0), -1)
    image += rng.normal(0.0, 3.0, image.shape).astype(np.float32)
    inside = np.zeros((height, width), np.uint8)
    cv2.circle(inside, (cx, cy), radius, 1, -1)
    image[inside == 0] = 0
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


@pytest.fixture
def make_fundus() -> FundusFactory:
    """Factory for :func:`draw_fundus` images (keyword arguments as :func:`draw_fundus`)."""
    return draw_fundus


@pytest.fixture(scope="session")
def retina() -> np.ndarray:
    """scikit-image's real fundus photograph, shrunk to 480 x 480 ``uint8`` RGB for speed."""
    return cv2.resize(skimage.data.retina(), (480, 480), interpolation=cv2.INTER_AREA)


#: (patient, eye, grade, duplicate_of) of the dr600 replica: ten ordinary patients whose left eye
#: is non-referable (grade 0 or 1) and right eye referable (2-4), so every patient-grouped
#: validation set holds both classes; patient 003's right eye has the real copy's odd name
#: ``Patient003-R.jpg``; patient 011 has one ADED eye (grade -1), patient 012 two; patients
#: 013 and 014 have byte-identical images with different grades (conflicting duplicates).
DR600_ROWS: list[tuple[str, str, int, str]] = [
    *(
        (f"{p:03d}", eye, grade, "")
        for p in range(1, 11)
        for eye, grade in (("L", p % 2), ("R", 2 + p % 3))
    ),
    ("011", "L", -1, ""),
    ("011", "R", 2, ""),
    ("012", "L", -1, ""),
    ("012", "R", -1, ""),
    ("013", "L", 2, "images/Patient014_L.jpg"),
    ("013", "R", 2, "images/Patient014_R.jpg"),
    ("014", "L", 3, "images/Patient013_L.jpg"),
    ("014", "R", 3, "images/Patient013_R.jpg"),
]
DR600_COLUMNS = [
    "image",
    "patient",
    "eye",
    "grade",
    "maculopathy",
    "aded",
    "source_class",
    "sha1",
    "fov_box",
    "duplicate_of",
    "duplicate_label_conflict",
]


def dr600_image_name(patient: str, eye: str) -> str:
    """The replica's file name of one eye (the real copy's one odd name included)."""
    return (
        f"Patient{patient}-R.jpg"
        if (patient, eye) == ("003", "R")
        else f"Patient{patient}_{eye}.jpg"
    )


def write_dr600(root: Path, size: int = 48) -> dict[str, np.ndarray]:
    """Write the :data:`DR600_ROWS` replica below ``root``; returns image id -> drawn RGB image.

    Images are JPEG (quality 95) drawings of ``size`` x ``size``; the conflicting duplicates
    are byte-identical copies, as in the real copy.
    """
    (root / "images").mkdir(parents=True, exist_ok=True)
    drawn: dict[str, np.ndarray] = {}
    with (root / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(DR600_COLUMNS)
        for index, (patient, eye, grade, duplicate_of) in enumerate(DR600_ROWS):
            name = dr600_image_name(patient, eye)
            path = root / "images" / name
            if duplicate_of and patient == "014":
                path.write_bytes((root / duplicate_of).read_bytes())
                drawn[path.stem] = drawn[Path(duplicate_of).stem]
            else:
                image = draw_fundus(size, size, radius=size // 2 - 2, seed=index)
                cv2.imwrite(str(path), image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
                drawn[path.stem] = image
            aded = int(grade == -1)
            writer.writerow(
                [
                    f"images/{name}",
                    patient,
                    eye,
                    grade,
                    -1 if aded else int(grade >= 2),
                    aded,
                    "10 - ADED" if aded else f"class {grade}",
                    f"{index:040x}",
                    "0 0 3872 2592",
                    duplicate_of,
                    int(bool(duplicate_of)),
                ]
            )
    return drawn


@pytest.fixture(scope="session")
def make_dr600() -> Callable[..., dict[str, np.ndarray]]:
    """Factory writing the :func:`write_dr600` replica below a given folder."""
    return write_dr600


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """A vgg_tiny trained for two epochs on the toy set of ``_helpers.train`` (read-only)."""
    out = tmp_path_factory.mktemp("run") / "model.pt"
    return out, train_run(out, epochs=2)

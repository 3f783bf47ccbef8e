"""e-ophtha (``fundus.datasets.eophtha``), on tiny replicas of the layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _helpers.dataset_replicas import (
    HEIGHT,
    WIDTH,
    FundusFactory,
    check_sample,
    fundus_image,
    write_gray,
    write_rgb,
    write_text,
)

from captum_iterative.fundus.datasets import (
    EOphtha,
)


@pytest.mark.parametrize(("folder", "kind"), [("e_optha_MA", "MA"), ("e_ophtha_EX", "EX")])
def test_eophtha_layouts(
    tmp_path: Path, make_fundus: FundusFactory, folder: str, kind: str
) -> None:
    base = tmp_path / folder
    write_rgb(base / kind / "C0001" / "DS000A.jpg", fundus_image(make_fundus, 0))
    write_rgb(base / kind / "C0002" / "DS000B.JPG", fundus_image(make_fundus, 1))
    write_rgb(base / "healthy" / "C0003" / "DS000C.jpg", fundus_image(make_fundus, 2))
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[3:6, 4:8] = 255
    write_gray(base / f"Annotation_{kind}" / "C0001" / f"DS000A_{kind}.png", mask)
    write_gray(base / f"Annotation_{kind}" / "C0002" / f"DS000B_{kind}.png", mask * 0)
    for where in (base / kind / "C0001", base / f"Annotation_{kind}" / "C0001"):
        write_text(where / "Thumbs.db", "windows thumbnails")
    data = EOphtha(tmp_path, kind=kind)  # type: ignore[arg-type]
    lesion = "microaneurysms" if kind == "MA" else "hard_exudates"
    assert data.ids == ["DS000A", "DS000B", "DS000C"] and data.lesions == (lesion,)
    assert [int(data[i].masks[lesion].sum()) for i in range(3)] == [12, 0, 0]
    check_sample(data[0])
    assert len(EOphtha(base, kind=kind, healthy=False)) == 2  # type: ignore[arg-type]
    (base / f"Annotation_{kind}" / "C0002" / f"DS000B_{kind}.png").unlink()
    with pytest.raises(FileNotFoundError, match="DS000B"):
        EOphtha(tmp_path, kind=kind)  # type: ignore[arg-type]


def test_eophtha_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="e_optha_MA"):
        EOphtha(tmp_path)

"""Before/after figure of the fundus preprocessing: original | FOV | crop + resize | Graham.

By default it uses scikit-image's bundled ``retina`` photograph and writes
``docs/figures/preprocess_retina.png`` (the committed figure)::

    .venv/bin/python docs/scripts/make_preprocess_figure.py

With ``--diaretdb1 ROOT --image image001 --out /tmp/x.png`` it makes the same figure from a
DiaretDB1 image, with the dataset's own field-of-view mask. Images derived from DiaretDB1
must not be committed, so ``--out`` is required then and may not point into ``docs/``.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import skimage.data
from PIL import Image

from captum_iterative.fundus.datasets import DiaretDB1
from captum_iterative.fundus.preprocess import fov_mask, preprocess_fundus

DOCS = Path(__file__).resolve().parents[1]
DEFAULT_OUT = DOCS / "figures" / "preprocess_retina.png"
PANEL_PIXELS = 320


def _load(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, str]:
    if args.diaretdb1 is None:
        image = skimage.data.retina()
        return image, fov_mask(image), "scikit-image retina"
    data = DiaretDB1(args.diaretdb1)
    if args.image not in data.ids:
        raise SystemExit(f"--image {args.image!r} is not in DiaretDB1 under {args.diaretdb1}")
    sample = data.load(data.ids.index(args.image))
    return sample.image, sample.fov, f"DiaretDB1 {sample.id}"


def _thumbnail(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    scale = PANEL_PIXELS / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def make_figure(image: np.ndarray, fov: np.ndarray, title: str, size: int) -> plt.Figure:
    """The four-panel figure for one ``(H, W, 3)`` ``uint8`` image and its ``bool`` FOV."""
    plain = preprocess_fundus(image, size, fov=fov, enhance=False)
    enhanced = preprocess_fundus(image, size, fov=fov)
    y0, y1, x0, x1 = plain.bbox
    outline = image.copy()
    thickness = max(2, max(image.shape[:2]) // 200)
    cv2.rectangle(outline, (x0, y0), (x1 - 1, y1 - 1), (80, 200, 255), thickness)
    panels = [
        (outline, f"original {image.shape[1]}x{image.shape[0]}\n(square crop box in blue)"),
        (fov.astype(np.uint8) * 255, "field of view"),
        (plain.image, f"crop + resize to {size}x{size}"),
        (enhanced.image, f"Graham enhancement\n(R = {enhanced.radius:.1f} px, sigma = R/30)"),
    ]
    figure, axes = plt.subplots(1, 4, figsize=(12, 3.5), dpi=90)
    for axis, (panel, label) in zip(axes, panels, strict=True):
        axis.imshow(_thumbnail(panel), cmap="gray" if panel.ndim == 2 else None)
        axis.set_title(label, fontsize=9)
        axis.set_axis_off()
    figure.suptitle(f"Fundus preprocessing: {title}", fontsize=11)
    figure.tight_layout()
    return figure


def save_compact(figure: plt.Figure, out: Path) -> None:
    """Save as a 256-colour PNG (photographs keep well; the file stays small)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    out.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(buffer) as rendered:
        rendered.convert("RGB").quantize(colors=256).save(out, optimize=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--diaretdb1", type=Path, help="DiaretDB1 root (uses a real image)")
    parser.add_argument("--image", default="image001", help="DiaretDB1 image id")
    parser.add_argument("--out", type=Path, help=f"output PNG (default: {DEFAULT_OUT})")
    parser.add_argument("--size", type=int, default=512, help="preprocessed side in pixels")
    args = parser.parse_args(argv)
    if args.diaretdb1 is not None:
        if args.out is None:
            parser.error("--out is required with --diaretdb1 (never commit DiaretDB1 images)")
        if DOCS in args.out.resolve().parents:
            parser.error("--out must not point into docs/: DiaretDB1 images are not committed")
    out = args.out or DEFAULT_OUT
    image, fov, title = _load(args)
    figure = make_figure(image, fov, title, args.size)
    save_compact(figure, out)
    plt.close(figure)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()

"""Render ``docs/figures/synthetic_grid.png``: synthetic fundus images with their lesion masks.

Two rows of DR images (ICDR grades 0-4) and one row of AMD images (stages 0-3, with stage 3
shown once with a neovascular lesion and once with central geographic atrophy). Each lesion
type's mask is outlined in its own colour, with a legend below.

Usage::

    python docs/scripts/make_synthetic_figure.py [--out docs/figures/synthetic_grid.png]
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from PIL import Image

from captum_iterative.fundus.synthetic import SyntheticFundus, generate_fundus
from captum_iterative.viz import LESION_COLOURS as COLOURS

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "figures" / "synthetic_grid.png"
SIZE = 512
#: Short names for the lesion counts under each panel.
ABBREVIATIONS = {
    "microaneurysms": "MA",
    "hemorrhages": "HE",
    "hard_exudates": "EX",
    "soft_exudates": "SE",
    "drusen": "drusen",
    "pigment": "pigment",
    "atrophy": "GA",
    "neovascular": "CNV",
}
#: (mode, grade, seed) per panel, row by row. Seeds are chosen only to show variety.
PANELS = [
    *[("dr", g, 100 + g) for g in range(5)],
    *[("dr", g, 200 + g) for g in range(5)],
    *[("amd", g, 300 + g) for g in range(4)],
]


def _amd_stage3_with(kind: str, start: int) -> SyntheticFundus:
    """The first AMD stage-3 image from seed ``start`` on that shows lesion type ``kind``."""
    seed = start
    while True:
        fundus = generate_fundus(seed, SIZE, mode="amd", grade=3)
        if fundus.counts[kind]:
            return fundus
        seed += 1


def _panel(ax: Axes, fundus: SyntheticFundus, title: str) -> None:
    ax.imshow(fundus.image, interpolation="antialiased")
    for name, mask in {**fundus.masks, **fundus.extra_masks}.items():
        if mask.any():
            ax.contour(mask, levels=[0.5], colors=COLOURS[name], linewidths=0.6)
    counts = ", ".join(f"{ABBREVIATIONS[n]} {c}" for n, c in fundus.counts.items() if c)
    ax.set_title(title, fontsize=9)
    ax.text(
        0.5,
        -0.02,
        counts or "no lesions",
        transform=ax.transAxes,
        ha="center",
        va="top",
        fontsize=7,
    )
    ax.set_axis_off()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    fig = Figure(figsize=(12.5, 8.4), dpi=96)
    axes = fig.subplots(3, 5)
    for ax, (mode, grade, seed) in zip(axes.flat, PANELS, strict=False):
        fundus = generate_fundus(seed, SIZE, mode=mode, grade=grade)
        label = f"DR grade {grade}" if mode == "dr" else f"AMD stage {grade}"
        _panel(ax, fundus, f"{label} (seed {seed})")
    atrophy = _amd_stage3_with("atrophy", 400)
    _panel(axes[2, 4], atrophy, f"AMD stage 3 (seed {atrophy.seed})")

    pairs = [
        ("microaneurysms", "pigment"),
        ("hemorrhages", "drusen"),
        ("hard_exudates", "atrophy"),
        ("soft_exudates", "neovascular"),
    ]
    handles = [
        Line2D([], [], color=COLOURS[dr], lw=2, label=f"{dr.replace('_', ' ')} / AMD: {amd}")
        for dr, amd in pairs
    ]
    handles.append(
        Line2D([], [], color=COLOURS["neovascularization"], lw=2, label="neovascularization (DR)")
    )
    fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=8, frameon=False)
    fig.suptitle("Synthetic fundus images (512 px) with lesion-mask outlines", fontsize=11)
    fig.subplots_adjust(left=0.01, right=0.99, top=0.93, bottom=0.09, wspace=0.03, hspace=0.16)

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", facecolor="white")
    buffer.seek(0)
    image = Image.open(buffer).convert("RGB")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    image.save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()

"""What a localization run measured (:class:`LocalizationReport`) and the files it writes.

:func:`write_report` writes ``table.md``, ``table.csv``, ``per_image.csv``, FROC curves per lesion
type (like the paper's Fig. 3), an overlay grid (like Fig. 2), ``scores.json`` and
``settings.json`` (the exact settings and software versions), each atomically.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from captum_iterative._files import atomic_path
from captum_iterative.evaluation.froc_result import FrocResult
from captum_iterative.experiments.cache import explanation_path, load_explanation
from captum_iterative.experiments.config import ExperimentConfig
from captum_iterative.experiments.methods import get_method
from captum_iterative.experiments.prepare import PreparedImage
from captum_iterative.experiments.tables import format_tables

__all__ = ["LocalizationReport", "write_report"]


@dataclass
class LocalizationReport:
    """What :func:`run_localization` measured.

    Attributes:
        table: rows of ``{lesion_type, method, initial, augmented, relative_increase, n_images,
            n_lesions}`` (SE at ``fps`` false positives per image).
        curves: ``(lesion_type, method, kind)`` -> :class:`FrocResult`.
        scores: image id -> classifier score, for every image of the dataset.
        referable: ids of the images explained.
        per_image: rows of per-image detections at the pooled operating point.
        iterations: method -> mean number of maps per explained image.
        settings: everything recorded in ``settings.json``.
    """

    table: list[dict[str, Any]]
    curves: dict[tuple[str, str, str], FrocResult]
    scores: dict[str, float]
    referable: list[str]
    per_image: list[dict[str, Any]]
    iterations: dict[str, float]
    settings: dict[str, Any]

    def value(self, lesion_type: str, method: str, kind: str) -> float:
        """SE at the configured FPs for one cell of the table."""
        for row in self.table:
            if row["lesion_type"] == lesion_type and row["method"] == method:
                return float(row[kind])
        raise KeyError((lesion_type, method))


def _atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    with atomic_path(path) as tmp:
        write(tmp)


def write_report(
    report: LocalizationReport,
    images: Sequence[PreparedImage],
    out: str | os.PathLike[str],
    config: ExperimentConfig,
    *,
    overlay_rows: int = 3,
) -> None:
    """Write ``table.md``, ``table.csv``, ``per_image.csv``, ``froc_<type>.png``,
    ``overlays_<method>.png``, ``scores.json`` and ``settings.json`` under ``out``.

    ``overlays_<method>.png`` shows, for the ``overlay_rows`` explained images with the most
    lesion types, the image with its lesions outlined, the initial and augmented maps and the
    later maps' share (:func:`~captum_iterative.viz.plot_augmented_evidence`).
    """
    import matplotlib.pyplot as plt

    from captum_iterative.viz import plot_augmented_evidence

    out = Path(out)
    title = f"{report.settings['dataset']}: SE/{config.fps:g}FPs, initial vs augmented"
    _atomic_write(out / "table.md", lambda p: p.write_text(format_tables(report, title)))

    def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    _atomic_write(out / "table.csv", lambda p: write_csv(report.table, p))
    if report.per_image:
        _atomic_write(out / "per_image.csv", lambda p: write_csv(report.per_image, p))
    _atomic_write(out / "scores.json", lambda p: p.write_text(json.dumps(report.scores, indent=1)))
    _atomic_write(
        out / "settings.json",
        lambda p: p.write_text(json.dumps(report.settings, indent=2, default=str)),
    )
    types = list(dict.fromkeys(t for t, _, _ in report.curves))
    colours = plt.get_cmap("tab10")
    for lesion_type in types:
        fig, ax = plt.subplots(figsize=(5.5, 4.2))
        for m, method in enumerate(config.methods):
            for kind, style in (("initial", "--"), ("augmented", "-")):
                curve = report.curves[(lesion_type, method, kind)]
                curve.plot(
                    ax=ax,
                    label=f"{get_method(method).label} ({kind})",
                    color=colours(m),
                    linestyle=style,
                )
        ax.set_title(f"{report.settings['dataset']}: {lesion_type.replace('_', ' ')}", fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
        fig.tight_layout()
        _save_figure(fig, out / f"froc_{lesion_type}.png", dpi=110)
    chosen = _overlay_choice(images, overlay_rows)
    if not chosen:
        return
    for method in config.methods:
        exps = [load_explanation(explanation_path(out / "cache", method, p.id)) for p in chosen]
        fig = plot_augmented_evidence(
            [p.image for p in chosen],
            [e.initial for e in exps],
            [e.augmented for e in exps],
            alpha=config.alpha,
            method=get_method(method).label,
            titles=[p.id for p in chosen],
            outlines=[p.masks for p in chosen],
            iterations=[e.iterations for e in exps],
        )
        _save_figure(fig, out / f"overlays_{method}.png", dpi=100)


def _save_figure(fig: Any, path: Path, dpi: int) -> None:
    import matplotlib.pyplot as plt

    _atomic_write(path, lambda p: fig.savefig(p, dpi=dpi, format="png"))
    plt.close(fig)


def _overlay_choice(images: Sequence[PreparedImage], rows: int) -> list[PreparedImage]:
    """The images with the most lesions (ties by id), at most ``rows``."""
    ranked = sorted(images, key=lambda p: (-sum(int(m.any()) for m in p.masks.values()), p.id))
    return ranked[:rows]

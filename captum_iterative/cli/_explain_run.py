"""The work of one ``explain`` process: its settings, and each batch of images it explains.

:class:`ExplainRun` holds the run's settings and explainers, knows the output files of an image,
loads images into the model's frame and explains a batch through
:func:`~captum_iterative.experiments.explain_batch`; :func:`process_batch` records per-image
failures instead of raising them.
"""

from __future__ import annotations

import argparse
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from captum_iterative._argparse import UsageError
from captum_iterative._files import atomic_write_bytes, file_stamp, matches_stamp
from captum_iterative.cli._classifier import Classifier
from captum_iterative.cli._inputs import MANIFEST, Item
from captum_iterative.cli._manifest import Tally
from captum_iterative.cli._options import PROG, config_of
from captum_iterative.cli._outputs import header_height, overlay_image, png_bytes
from captum_iterative.experiments.cache import (
    Explanation,
    explanation_path,
    load_explanation,
    load_meta,
    map_keys,
    model_fingerprint,
    save_explanation,
)
from captum_iterative.experiments.maps import config_explainer, explain_batch
from captum_iterative.fundus.datasets import FundusDataset
from captum_iterative.fundus.preprocess import fov_bbox, fov_mask, preprocess_fundus, to_tensor
from captum_iterative.io import read_image
from captum_iterative.result import AugmentationWarning

__all__ = ["ASPECT_WARNING", "UPSCALE_WARNING", "ExplainRun", "Loaded", "process_batch"]

#: An image whose field of view is enlarged more than this many times on its way to the model
#: input is reported with a warning (the model then sees mostly interpolation).
UPSCALE_WARNING = 4.0
#: A field of view longer than this many times its width (or the reverse) is reported with a
#: warning: squared to the model input it becomes a thin strip (stretched, without squaring).
ASPECT_WARNING = 8.0
#: Bytes allowed for the records beside the maps: an ``.npz``'s meta and zip headers, the
#: manifest.
_RECORD_BYTES = 64 * 1024


@dataclass
class Loaded:
    """One image in the model's frame: ``(S, S, 3)`` uint8, ``(S, S)`` bool FOV, metadata."""

    image: np.ndarray
    fov: np.ndarray | None
    meta: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


class ExplainRun:
    """The settings of an ``explain`` run and the per-image work of one process."""

    def __init__(
        self,
        args: argparse.Namespace,
        classifier: Classifier,
        dataset: FundusDataset | None,
        device: torch.device,
    ) -> None:
        self.out: Path = args.out
        self.classifier = classifier
        self.dataset = dataset
        self.device = device
        self.preprocess: bool = args.preprocess
        self.overwrite: bool = args.overwrite
        self.config = config_of(args, device)
        self.explainers = {}
        for name in self.config.methods:
            try:
                self.explainers[name] = config_explainer(
                    self.config, name, classifier.model, classifier.threshold
                )
            except (ValueError, TypeError) as error:
                raise UsageError(f"--methods {name}: {error}") from error
        self.settings = self._map_settings()
        # the keys the runner checks before reusing a map (``evaluate`` on this folder), and the
        # settings ``--resume`` checks before keeping a file
        self.common_meta = {
            **map_keys(self.config, classifier.model, classifier.threshold),
            "explain_settings": self.settings,
        }

    def _map_settings(self) -> dict[str, Any]:
        """Every setting that changes an image's maps, by name (recorded in each ``.npz``).

        Batch size and device type are among them: they change the floats at rounding level.
        """
        config = self.config
        settings = {
            "max_iter": config.max_iter,
            "alpha": config.alpha,
            "inpainter": config.inpainter,
            "inpaint_radius": config.inpaint_radius,
            "fov": config.use_fov,
            "method_kwargs": config.method_kwargs,
            "classifier weights": model_fingerprint(self.classifier.model),
            "threshold": float(self.classifier.threshold),
            "size": self.classifier.size,
            "preprocess": self.preprocess,
            "enhance": self.classifier.enhance,
            "square": self.classifier.square,
            "batch_size": config.batch_size,
            "device type": self.device.type,
        }
        # as a file's meta record reads back (tuples become lists), so the two compare equal
        return dict(json.loads(json.dumps(settings, default=str)))

    def conflicts(self, items: Sequence[Item]) -> tuple[list[Path], list[str]]:
        """Existing ``.npz`` outputs made with other settings, and how those settings differ.

        Returns:
            tuple[list[Path], list[str]]: the files, and one ``"name: old -> new"`` entry per
            differing setting (an unreadable file or one without a settings record counts too).
        """
        files: list[Path] = []
        differences: dict[str, None] = {}
        for item in items:
            for method in self.config.methods:
                npz = self.paths(item, method)[0]
                if not npz.exists():
                    continue
                try:
                    old = load_meta(npz).get("explain_settings")
                except ValueError:
                    files.append(npz)
                    differences["unreadable file"] = None
                    continue
                if old == self.settings:
                    continue
                files.append(npz)
                if not isinstance(old, dict):
                    differences["no settings record (an earlier version's file)"] = None
                    continue
                for name, new in self.settings.items():
                    if old.get(name) != new:
                        differences[f"{name}: {old.get(name)!r} -> {new!r}"] = None
        return files, list(differences)

    # -- outputs ---------------------------------------------------------------------------

    def paths(self, item: Item, method: str) -> tuple[Path, Path]:
        """``(npz, png)`` output files of ``item`` by ``method``."""
        npz = explanation_path(self.out, method, item.id)
        return npz, npz.with_suffix(".png")

    def image_bytes(self) -> int:
        """About the most bytes one image's outputs take: per method an ``.npz`` of two
        ``(S, S)`` float32 maps (compressed: at most their size) and an ``(L + S) x (3 S + 8)``
        RGB overlay (PNG: at most its raw size), with their records; and the manifest."""
        side = self.classifier.size
        rows = header_height(side) + side
        per_method = 2 * 4 * side * side + 3 * rows * (3 * side + 8) + _RECORD_BYTES
        return len(self.config.methods) * per_method + _RECORD_BYTES

    def existing(self, items: Sequence[Item]) -> list[Path]:
        found = [
            path
            for item in items
            for method in self.config.methods
            for path in self.paths(item, method)
            if path.exists()
        ]
        manifest = self.out / MANIFEST
        return [manifest, *found] if manifest.exists() else found

    def todo(self, item: Item) -> dict[str, tuple[bool, bool]]:
        """Method -> (compute the maps, render the overlay) for ``item``; done methods left out.

        Maps are computed when missing, with ``--overwrite``, and when the input file is no
        longer the one they were made from (its ``meta.input_file`` record).
        """
        work = {}
        for method in self.config.methods:
            npz, png = self.paths(item, method)
            compute = self.overwrite or not npz.exists() or self._input_changed(item, npz)
            render = compute or not png.exists()
            if compute or render:
                work[method] = (compute, render)
        return work

    @staticmethod
    def _input_changed(item: Item, npz: Path) -> bool:
        """Whether ``item``'s image file differs from the one ``npz`` was made from (a
        dataset's images are taken as fixed: they carry no record)."""
        recorded = load_meta(npz).get("input_file")
        return isinstance(recorded, dict) and not matches_stamp(item.source, recorded)

    # -- images ----------------------------------------------------------------------------

    def load(self, item: Item) -> Loaded:
        size = self.classifier.size
        meta: dict[str, Any] = {"source": item.source, "preprocessed": self.preprocess}
        if item.index is not None:
            assert self.dataset is not None
            sample = self.dataset.load(item.index)
            image, fov = sample.image, sample.fov
        else:
            # stamped before reading: a change while it is read makes --resume redo the image
            meta["input_file"] = file_stamp(item.source)
            image, fov = read_image(item.source), None
        if not self.preprocess:
            if image.shape != (size, size, 3):
                raise ValueError(
                    f"the image is {image.shape[1]}x{image.shape[0]}, but --no-preprocess "
                    f"needs {size}x{size} model inputs"
                )
            if self.config.use_fov and fov is None:
                fov = fov_mask(image)
            return Loaded(image, fov if self.config.use_fov else None, meta)
        if fov is None:
            fov = fov_mask(image)  # as preprocess_fundus would, kept for the aspect ratio below
        pre = preprocess_fundus(
            image, size, fov=fov, enhance=self.classifier.enhance, square=self.classifier.square
        )
        meta.update(
            bbox=list(pre.bbox),
            original_shape=list(pre.original_shape),
            scale=list(pre.scale),
            radius=pre.radius,
        )
        notes = self._shape_notes(image, fov, pre.bbox, max(pre.scale))
        return Loaded(pre.image, pre.fov if self.config.use_fov else None, meta, notes)

    def _shape_notes(
        self, image: np.ndarray, fov: np.ndarray, box: tuple[int, int, int, int], scale: float
    ) -> list[str]:
        """Warnings about what preprocessing does to an odd image: its field of view enlarged
        more than :data:`UPSCALE_WARNING` times (squared crop ``box``, ``scale``), or longer than
        :data:`ASPECT_WARNING` times its width (or the reverse)."""
        size = self.classifier.size
        notes = []
        if scale > UPSCALE_WARNING:
            y0, y1, x0, x1 = box
            notes.append(
                f"the image is {image.shape[1]}x{image.shape[0]} (field of view "
                f"{x1 - x0}x{y1 - y0}), upscaled {scale:.1f} times to the "
                f"{size}x{size} model input"
            )
        y0, y1, x0, x1 = fov_bbox(fov)
        height, width = y1 - y0, x1 - x0
        ratio = max(height, width) / min(height, width)
        if ratio > ASPECT_WARNING:
            fills = (
                f"squared, it fills a strip {size / ratio:.2g} px "
                f"{'tall' if width > height else 'wide'} of the {size}x{size} model input"
                if self.classifier.square
                else f"it is stretched {ratio:.0f} times more along one axis to the "
                f"{size}x{size} model input"
            )
            notes.append(
                f"the field of view is {width}x{height} (aspect ratio {ratio:.0f}:1, beyond "
                f"{ASPECT_WARNING:.0f}:1): {fills}"
            )
        return notes

    # -- work ------------------------------------------------------------------------------

    def compute(
        self, method: str, items: Sequence[Item], loaded: Sequence[Loaded]
    ) -> list[Explanation]:
        """Run the loop of ``method`` on one batch; one :class:`Explanation` per image.

        The loop's :class:`AugmentationWarning` (per call, i.e. per batch) is left out: the
        summary and the manifest count the stop reasons of the whole run instead.
        """
        explainer, kwargs = self.explainers[method]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AugmentationWarning)
            return explain_batch(
                explainer,
                inner_kwargs=kwargs,
                method=method,
                ids=[item.id for item in items],
                images=[to_tensor(image.image) for image in loaded],
                # load() gives every image a field of view when the run uses one
                fovs=[i.fov for i in loaded if i.fov is not None] if self.config.use_fov else None,
                device=self.device,
                meta=[{**image.meta, **self.common_meta} for image in loaded],
            )

    def write(
        self,
        item: Item,
        method: str,
        loaded: Loaded,
        explanation: Explanation | None,
        render: bool,
    ) -> None:
        """Save ``explanation`` (when computed) and render the overlay (when ``render``).

        With ``explanation=None`` the maps are read back from the existing ``.npz``.
        """
        npz, png = self.paths(item, method)
        if explanation is not None:
            save_explanation(npz, explanation)
        if render:
            shown = explanation if explanation is not None else load_explanation(npz)
            maps = f"{shown.iterations} map{'' if shown.iterations == 1 else 's'}"
            labels = (
                f"{method}: {item.id}",
                "initial map M1",
                f"augmented ({maps}, {shown.stop_reason})",
            )
            panel = overlay_image(loaded.image, shown.initial, shown.augmented, labels)
            atomic_write_bytes(png, png_bytes(panel))


_FailFn = Callable[[Item, "str | None", str, Exception], None]


def _compute_group(
    run: ExplainRun,
    method: str,
    items: Sequence[Item],
    loaded: dict[str, Loaded],
    fail: _FailFn,
) -> dict[str, Explanation]:
    """Explain ``items`` together; if that fails, one by one so that a bad image fails alone."""
    try:
        explained = run.compute(method, items, [loaded[item.id] for item in items])
        return {item.id: e for item, e in zip(items, explained, strict=True)}
    except Exception as error:  # per-image problems are recorded, not raised
        if len(items) == 1:
            fail(items[0], method, "explain", error)
            return {}
    results = {}
    for item in items:
        try:
            results[item.id] = run.compute(method, [item], [loaded[item.id]])[0]
        except Exception as error:
            fail(item, method, "explain", error)
    return results


def process_batch(
    run: ExplainRun, batch: Sequence[Item], tally: Tally, say: Callable[[str], None]
) -> None:
    """Explain one batch; per-image problems are recorded in ``tally`` and reported, not raised."""

    def fail(item: Item, method: str | None, stage: str, error: Exception) -> None:
        record = {
            "image_id": item.id,
            "source": item.source,
            "method": method,
            "stage": stage,
            "error": f"{type(error).__name__}: {error}",
            "rank": tally.rank,
        }
        tally.failures.append(record)
        tally.failed.add(item.id)
        where = f" ({method})" if method else ""
        say(f"{PROG}: warning: {item.id}{where}: {record['error']}")

    work = {item.id: run.todo(item) for item in batch}
    tally.skipped.update(item.id for item in batch if not work[item.id])
    loaded: dict[str, Loaded] = {}
    for item in batch:
        if work[item.id]:
            try:
                loaded[item.id] = run.load(item)
            except Exception as error:  # one bad image must not stop the others
                fail(item, None, "read", error)
                continue
            for note in loaded[item.id].warnings:
                tally.warnings.append({"image_id": item.id, "source": item.source, "warning": note})
                say(f"{PROG}: warning: {item.id}: {note}")
    for method in run.config.methods:
        group = [item for item in batch if item.id in loaded and method in work[item.id]]
        compute = [item for item in group if work[item.id][method][0]]
        results = _compute_group(run, method, compute, loaded, fail) if compute else {}
        for item in group:
            needs_maps, render = work[item.id][method]
            if needs_maps and item.id not in results:
                continue
            try:
                run.write(item, method, loaded[item.id], results.get(item.id), render)
                tally.done.add(item.id)
                if item.id in results:
                    tally.stop_reasons[results[item.id].stop_reason] += 1
            except Exception as error:
                fail(item, method, "write", error)

"""What ``explain`` explains: image files, folders (leaving this program's outputs out) or a
dataset."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from captum_iterative._argparse import UsageError
from captum_iterative.experiments.cache import explanation_path
from captum_iterative.experiments.methods import list_methods
from captum_iterative.fundus.datasets import FundusDataset, dataset_root, get_dataset
from captum_iterative.io import IMAGE_SUFFIXES, check_image_suffix, image_id, list_images

__all__ = [
    "MANIFEST",
    "MANIFEST_FORMAT",
    "OUTPUT_MARKER",
    "Item",
    "collect_items",
    "file_items",
    "open_dataset_option",
]

#: Name of the run manifest written under ``--out``.
MANIFEST = "manifest.json"
#: Format tag of the manifest.
MANIFEST_FORMAT = "captum_iterative.explain-manifest/1"
#: The (empty) file that marks a folder as ``explain``'s ``--out`` from the moment the folder is
#: used (before the manifest, which only a run that ends writes); also the folder's lock file.
OUTPUT_MARKER = ".captum-iterative-output"


@dataclass(frozen=True)
class Item:
    """One image to explain: its identifier, where it comes from, and its dataset index."""

    id: str
    source: str
    index: int | None = None


def open_dataset_option(args: argparse.Namespace) -> FundusDataset:
    try:
        root = dataset_root(args.dataset, args.root)
    except ValueError as error:
        raise UsageError(str(error)) from error
    try:
        return get_dataset(args.dataset, root, **dict(args.dataset_option))
    except TypeError as error:
        raise UsageError(f"--dataset-option: {error}") from error
    except (ValueError, OSError) as error:
        raise UsageError(f"--dataset {args.dataset}: {error}") from error


def _is_explain_output(folder: Path) -> bool:
    """Whether ``folder`` is the output folder of an ``explain`` run: it holds the run's marker
    (from the start of the run, so also after a SIGKILL) or its manifest."""
    if (folder / OUTPUT_MARKER).is_file():
        return True
    try:
        record = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and record.get("format") == MANIFEST_FORMAT


def _outputs_below(root: Path, out: Path) -> list[Path]:
    """Folders below ``root`` that hold this program's outputs rather than input images.

    They are ``out`` itself when it lies strictly inside ``root``; the method folders
    (``<folder>/<method>/``) of ``out`` and of every earlier ``explain`` run (a folder holding
    its marker or its manifest); and the report folders of ``evaluate`` (``settings.json`` with
    ``table.md``).
    """
    root, out = root.resolve(), out.resolve()
    found = [out] if out != root and out.is_relative_to(root) else []
    runs = [out, *(mark.parent for name in (OUTPUT_MARKER, MANIFEST) for mark in root.rglob(name))]
    found += [
        run / method
        for run in runs
        if _is_explain_output(run) or run == out
        for method in list_methods()
    ]
    found += [
        report.parent
        for report in root.rglob("settings.json")
        if (report.parent / "table.md").is_file() and report.parent != root
    ]
    return found


def file_items(inputs: Sequence[Path], recursive: bool, out: Path) -> list[Item]:
    """The images of the input files and folders; with ``recursive``, the outputs of this
    program found in the folders (``--out`` among them) are left out."""
    items: list[Item] = []
    for path in inputs:
        if path.is_dir():
            files = list_images(path, recursive=recursive)
            if recursive:
                skip = _outputs_below(path, out)
                files = [
                    file
                    for file in files
                    if not any(file.resolve().is_relative_to(folder) for folder in skip)
                ]
            if not files:
                raise UsageError(
                    f"no image file in folder {path} (extensions: "
                    f"{' '.join(sorted(IMAGE_SUFFIXES))}{'' if recursive else '; --recursive'})"
                )
            items += [Item(image_id(file, path), str(file.resolve())) for file in files]
        elif path.is_file():
            try:
                check_image_suffix(path)
            except ValueError as error:
                raise UsageError(str(error)) from None
            items.append(Item(path.stem, str(path.resolve())))
        else:
            raise UsageError(f"input not found: {path}")
    return items


def collect_items(args: argparse.Namespace) -> tuple[list[Item], FundusDataset | None]:
    """The images of the run, sorted by identifier, and the dataset they come from, if any."""
    dataset = None
    if args.dataset is not None:
        dataset = open_dataset_option(args)
        items = [Item(i, f"{args.dataset}:{i}", k) for k, i in enumerate(dataset.ids)]
    elif args.inputs:
        items = file_items(args.inputs, args.recursive, args.out)
    else:
        raise UsageError("nothing to explain: give image files or folders, or --dataset NAME")
    if not items:
        raise UsageError(f"dataset {args.dataset} has no image")
    by_name: dict[str, Item] = {}
    for item in items:
        name = explanation_path(".", "m", item.id).name
        if name in by_name:
            raise UsageError(
                f"two images would share the output {name}: {by_name[name].source} and "
                f"{item.source}"
            )
        by_name[name] = item
    return sorted(items, key=lambda item: item.id), dataset
